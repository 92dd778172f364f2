"""The fault rule schema and its triggers (pure logic: no emulator, no SDK)."""
from __future__ import annotations

import pytest

from vmss_emulator.events import EventLog
from vmss_emulator.faults import FaultInjector, RuleError, parse_rule
from vmss_emulator.state import Instance, ScaleSet


def fire_pattern(rule_dict, times=12):
    rule = parse_rule(rule_dict, 0, "1")
    return [rule.trigger.fire() for _index in range(times)]


def test_count_fires_the_first_n_matches_only():
    assert fire_pattern({"kind": "http_error", "count": 3}, 6) == [True, True, True, False, False, False]


def test_every_fires_each_nth_match():
    assert fire_pattern({"kind": "http_error", "every": 3}, 7) == [False, False, True, False, False, True, False]


def test_probability_is_repeatable_for_a_seed_and_differs_between_seeds():
    first = fire_pattern({"kind": "throttle", "probability": 0.5, "seed": 7}, 40)
    again = fire_pattern({"kind": "throttle", "probability": 0.5, "seed": 7}, 40)
    other = fire_pattern({"kind": "throttle", "probability": 0.5, "seed": 8}, 40)
    assert first == again
    assert first != other
    assert 5 < sum(first) < 35


def test_no_trigger_means_always():
    assert all(fire_pattern({"kind": "drop_connection"}, 5))


@pytest.mark.parametrize("rule, fragment", [
    ({"kind": "explode"}, "'kind' must be one of throttle, http_error"),
    ({"kind": "throttle", "count": 1, "every": 2}, "at most one of 'count', 'every', 'probability'"),
    ({"kind": "throttle", "count": 0}, "'count' must be an integer >= 1"),
    ({"kind": "throttle", "probability": 1.5}, "'probability' must be a number between 0 and 1"),
    ({"kind": "http_error", "status": 404}, "'status' must be 500 or 503"),
    ({"kind": "throttle", "match": {"path": "("}}, "'match.path' is not a valid regular expression"),
    ({"kind": "throttle", "match": {"verb": "GET"}}, "unknown 'match' key 'verb'"),
    ({"kind": "throttle", "colour": "red"}, "unknown option 'colour'"),
    ({"kind": "token_lifetime"}, "'seconds' is required"),
    ({"kind": "unhealthy_after_upgrade"}, "exactly one of 'instance_ids', 'image_version', 'extension_setting'"),
    ({"kind": "upgrade_fails", "instance_ids": []}, "'instance_ids' must be a non-empty list"),
    ({"kind": "upgrade_fails", "scale_set": "web"}, "'scale_set' must be \"RESOURCE_GROUP/NAME\""),
])
def test_bad_rules_get_one_clear_error_naming_the_option(rule, fragment):
    with pytest.raises(RuleError) as info:
        parse_rule(rule, 0, "1")
    assert fragment in str(info.value)


def test_a_bad_rule_in_a_list_adds_none_of_them():
    faults = FaultInjector(EventLog())
    with pytest.raises(RuleError, match="rule 1"):
        faults.add_rules([{"kind": "throttle"}, {"kind": "nope"}])
    assert faults.rules() == []


def _scale_set(count):
    profile = {"storageProfile": {"imageReference": {"version": "2.0.0"}}}
    ss = ScaleSet("sub", "rg", "web", "westeurope", {"capacity": count}, [], {"virtualMachineProfile": profile})
    for i in range(count):
        ss.instances[str(i)] = Instance(str(i), i % 5, i % 5, None, {})
    return ss


async def _outcomes(faults, ss, operation="manualupgrade"):
    return {i: await faults.instance_upgrade_outcome(ss, inst, operation) for i, inst in ss.instances.items()}


def test_upgrade_fails_by_fraction_picks_the_same_instances_in_any_order():
    import asyncio

    ss = _scale_set(40)
    picks = []
    for order in (list(ss.instances), list(reversed(ss.instances))):
        faults = FaultInjector(EventLog())
        faults.add_rules([{"kind": "upgrade_fails", "fraction": 0.25, "seed": 3}])
        ss.instances = {i: ss.instances[i] for i in order}
        outcomes = asyncio.run(_outcomes(faults, ss))
        picks.append({i for i, error in outcomes.items() if error})
    assert picks[0] == picks[1]
    assert 4 <= len(picks[0]) <= 16


def test_upgrade_kinds_skip_restarts_unless_asked():
    import asyncio

    ss = _scale_set(2)
    faults = FaultInjector(EventLog())
    faults.add_rules([{"kind": "upgrade_fails", "instance_ids": ["1"]}])
    assert asyncio.run(_outcomes(faults, ss, "restart")) == {"0": None, "1": None}
    outcomes = asyncio.run(_outcomes(faults, ss, "manualupgrade"))
    assert outcomes["0"] is None
    assert outcomes["1"]["code"] == "VMExtensionProvisioningError"
