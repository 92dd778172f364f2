"""Pure rules of the VM / Flexible emulation (placement, names, the member filter) and the scenario checks."""
from __future__ import annotations

import hashlib
from types import SimpleNamespace

import pytest
from vmss_emulator.testing import EmulatorError
from vmss_emulator.vms.flexible import flexible_placement, member_name
from vmss_emulator.vms.models import scale_set_id_parts
from vmss_emulator.vms.responses import _FILTER


def _set(fd_count, zones):
    return SimpleNamespace(model={"platformFaultDomainCount": fd_count}, zones=zones)


def test_flexible_placement_goes_round_robin_over_zones_then_fault_domains():
    assert [flexible_placement(_set(3, []), i) for i in range(4)] == [(0, None), (1, None), (2, None), (0, None)]
    zonal = [flexible_placement(_set(2, ["1", "2", "3"]), i) for i in range(7)]
    assert zonal == [(0, "1"), (0, "2"), (0, "3"), (1, "1"), (1, "2"), (1, "3"), (0, "1")]
    assert {flexible_placement(_set(1, []), i) for i in range(5)} == {(0, None)}


def test_member_names_are_azure_shaped_and_reproducible():
    name = member_name("RG-Mixed", "api", 3)
    assert name == "api_" + hashlib.sha256(b"rg-mixed/api/3").hexdigest()[:8]
    assert member_name("rg-mixed", "api", 3) == name and member_name("rg-mixed", "api", 4) != name


@pytest.mark.parametrize("text, wanted", [
    ("'virtualMachineScaleSet/id' eq '/subscriptions/s/resourceGroups/r/providers/x/y'",
     "/subscriptions/s/resourceGroups/r/providers/x/y"),
    ("virtualMachineScaleSet/id eq 'ID'", "ID"),
    ("'VIRTUALMACHINESCALESET/ID'  EQ  'ID'", "ID"),
    ("name eq 'x'", None),
    ("'virtualMachineScaleSet/id' ne 'ID'", None),
])
def test_the_member_filter(text, wanted):
    match = _FILTER.match(text)
    assert (match.group(1) if match else None) == wanted


def test_scale_set_ids_are_split():
    assert scale_set_id_parts("/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/"
                              "virtualMachineScaleSets/web") == ("s", "r", "web")
    assert scale_set_id_parts("/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/virtualMachines/a") is None


@pytest.mark.parametrize("vm, message", [
    ({"name": "a", "resource_group": "rg", "colour": "red"}, "unknown key(s) ['colour']"),
    ({"name": "a", "resource_group": "rg", "availability_set": "s", "zones": ["1"]}, "not both"),
    ({"name": "a", "resource_group": "rg", "zones": ["1", "2"]}, "zones must be a list of one zone"),
    ({"name": "a", "resource_group": "rg", "extensions": [{"name": "x", "properties": {"settings": 3}}]},
     "extensions[0].properties.settings"),
    ({"name": "a", "resource_group": "rg", "load_balancer_group": "web"}, "has the name of a scale set"),
    ({"name": "a", "resource_group": "rg", "fail_upgrade": "yes"}, "fail_upgrade must be true or false"),
])
def test_bad_vm_scenarios_are_refused_whole(fresh_emulator, vm, message):
    scenario = {"scale_sets": [{"name": "web", "resource_group": "rg", "capacity": 1}],
                "virtual_machines": [{"name": "ok", "resource_group": "rg"}, vm]}
    with pytest.raises(EmulatorError) as refused:
        fresh_emulator.load_scenario(scenario)
    assert "400" in str(refused.value) and message in str(refused.value)
    assert fresh_emulator.admin("GET", "/_emulator/virtual_machines/rg")["virtual_machines"] == []
    with pytest.raises(EmulatorError):
        fresh_emulator.instances("rg", "web")        # nothing of the scenario was added


def test_duplicate_vm_and_bad_orchestration_mode_are_refused(fresh_emulator):
    fresh_emulator.load_scenario({"virtual_machines": [{"name": "a", "resource_group": "rg"}]})
    with pytest.raises(EmulatorError) as again:
        fresh_emulator.load_scenario({"virtual_machines": [{"name": "A", "resource_group": "RG"}]})
    assert "already exists" in str(again.value)
    with pytest.raises(EmulatorError) as mode:
        fresh_emulator.load_scenario({"scale_sets": [{"name": "s", "resource_group": "rg",
                                                      "orchestration_mode": "Mixed"}]})
    assert "orchestration_mode must be Uniform or Flexible" in str(mode.value)
