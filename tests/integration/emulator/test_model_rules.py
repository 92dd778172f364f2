"""The emulator's pure rules, tested directly: extension graph, durations, placement, merge, settings."""
from __future__ import annotations

import pytest
from vmss_emulator.exceptions import ArmError
from vmss_emulator.lifecycle import placement
from vmss_emulator.model import deep_merge, find_cycle, parse_duration, provisioning_order, \
    validate_extension_order
from vmss_emulator.state import Instance, ScaleSet, Settings


def ext(name, after=(), settings=True):
    props = {"provisionAfterExtensions": list(after)}
    if settings:
        props["settings"] = {}
    return {"name": name, "properties": props}


def test_provisioning_order_honours_dependencies_and_keeps_model_order_among_equals():
    exts = [ext("c", after=["b"]), ext("a"), ext("b", after=["a"]), ext("z")]
    assert provisioning_order(exts) == ["a", "z", "b", "c"]


def test_cycle_is_found_and_named():
    assert find_cycle([ext("a", after=["c"]), ext("b", after=["a"]), ext("c", after=["b"])]) == ["a", "c", "b", "a"]
    assert find_cycle([ext("a"), ext("b", after=["a"])]) is None


@pytest.mark.parametrize("exts, previous, text", [
    ([ext("a", after=["ghost"])], None, "'ghost' is not configured"),
    ([ext("a", after=["b"])], [ext("a"), ext("b")], "will no longer exist"),
    ([ext("a", after=["b"]), ext("b", settings=False)], None, "does not have a 'settings'"),
    ([ext("a", after=["a"])], None, "circular"),
    ([ext("a"), ext("A")], None, "more than once"),
])
def test_ordering_breaches_are_bad_request(exts, previous, text):
    with pytest.raises(ArmError) as err:
        validate_extension_order("web", exts, previous)
    assert err.value.status == 400 and err.value.code == "BadRequest"
    assert text in err.value.message


@pytest.mark.parametrize("text, seconds", [("PT0S", 0), ("PT1.5S", 1.5), ("PT2M", 120), ("P1DT1H", 90000)])
def test_iso_durations(text, seconds):
    assert parse_duration(text, "x") == seconds


@pytest.mark.parametrize("text", ["5s", "PT", "P", "", "PTXS"])
def test_bad_durations_name_the_parameter(text):
    with pytest.raises(ArmError) as err:
        parse_duration(text, "rollingUpgradePolicy.pauseTimeBetweenBatches")
    assert err.value.target == "rollingUpgradePolicy.pauseTimeBetweenBatches"


def test_placement_spreads_domains_and_zones():
    flat = ScaleSet("s", "rg", "n", "loc", {}, [], {"virtualMachineProfile": {}})
    assert [placement(flat, i)[:2] for i in range(6)] == [(0, 0), (1, 1), (2, 2), (3, 3), (4, 4), (0, 0)]
    zonal = ScaleSet("s", "rg", "n", "loc", {}, ["1", "2", "3"], {"virtualMachineProfile": {}})
    placed = []
    for index in range(4):
        # a zonal placement depends on the instances already there (zone balancing), as lifecycle.new_instance adds them
        placed.append(placement(zonal, index))
        zonal.instances[str(index)] = Instance(str(index), *placed[-1], applied_model={})
    assert placed == [(0, 0, "1"), (0, 0, "2"), (0, 0, "3"), (1, 1, "1")]


def test_deep_merge_merges_objects_and_replaces_lists():
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    merged = deep_merge(base, {"a": {"c": [3]}, "e": 2})
    assert merged == {"a": {"b": 1, "c": [3]}, "d": 1, "e": 2}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 1}


def test_settings_merge_checks_keys_and_types():
    settings = Settings()
    settings.merge({"upgrade_seconds": 0.1, "page_size": 5})
    assert (settings.upgrade_seconds, settings.page_size) == (0.1, 5)
    with pytest.raises(ValueError, match="unknown config key 'nope'"):
        settings.merge({"nope": 1})
    with pytest.raises(ValueError, match="page_size"):
        settings.merge({"page_size": 0})
    with pytest.raises(ValueError, match="non-negative"):
        settings.merge({"lro_retry_after": True})
