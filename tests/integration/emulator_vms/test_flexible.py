"""Flexible scale sets through the real SDK: members are VMs (filter, names, fault domains and zones), manualupgrade
by name, latest model per member, scale out and in, Uniform-only endpoints refused, rolling by fault domain."""
from __future__ import annotations

import hashlib
import time

import pytest
from azure.core.exceptions import HttpResponseError
from emu_sdk import HEALTH_EXT, IMAGE
from vm_helpers import RG, vm_row
from vmss_emulator.vms.flexible import member_name


def members(compute, ss_id):
    return list(compute.virtual_machines.list(RG, filter=f"'virtualMachineScaleSet/id' eq '{ss_id}'"))


def latest(compute, name):
    return compute.virtual_machines.get(RG, name).as_dict()["properties"]["latestModelApplied"]


def flexible_body(capacity=4, mode="Manual", zones=None, fd_count=2):
    body = {"location": "westeurope", "sku": {"name": "Standard_D2s_v3", "capacity": capacity},
            "properties": {"orchestrationMode": "Flexible", "platformFaultDomainCount": fd_count,
                           "upgradePolicy": {"mode": mode},
                           "virtualMachineProfile": {"storageProfile": {"imageReference": dict(IMAGE)},
                                                     "extensionProfile": {"extensions": [HEALTH_EXT]}}}}
    if zones:
        body["zones"] = zones
    return body


def test_flexible_set_created_through_the_sdk_has_vm_members(emu, compute):
    created = compute.virtual_machine_scale_sets.begin_create_or_update(
        RG, "batch", flexible_body(capacity=4, zones=["1", "2"])).result()
    assert created.properties.orchestration_mode == "Flexible"
    assert created.properties.platform_fault_domain_count == 2
    found = members(compute, created.id)
    # names as Azure forms them, {set}_{8 hex}; the emulator's hex is reproducible (sha256 of rg/set/index)
    expected = {"batch_" + hashlib.sha256(f"{RG}/batch/{i}".encode()).hexdigest()[:8] for i in range(4)}
    assert {m.name for m in found} == expected
    assert {m.properties.virtual_machine_scale_set.id for m in found} == {created.id}
    placement = sorted((m.zones[0], m.properties.platform_fault_domain) for m in found)
    assert placement == [("1", 0), ("1", 1), ("2", 0), ("2", 1)]
    # the filter keeps one set's members; the id is compared ignoring case, quotes around the property optional
    assert len(list(compute.virtual_machines.list(
        RG, filter=f"virtualMachineScaleSet/id eq '{created.id.upper()}'"))) == 4
    assert len(members(compute, created.id.replace("batch", "api"))) == 6

    # one paged list with the instance views, as a collection reads a Flexible set (page size 2 -> 2 pages)
    emu.config(page_size=2)
    emu.reset_requests()
    expanded = list(compute.virtual_machines.list(
        RG, filter=f"'virtualMachineScaleSet/id' eq '{created.id}'", expand="instanceView"))
    assert [m.name for m in expanded] == [m.name for m in found]
    assert all(m.properties.instance_view.vm_health.status.code.startswith("HealthState/") for m in expanded)
    assert emu.requests()["by_operation"] == {"VirtualMachines_List": 2}
    emu.config(page_size=100)
    name = found[0].name
    view = compute.virtual_machines.instance_view(RG, name)
    assert view.platform_update_domain is None and view.platform_fault_domain == found[0].properties.platform_fault_domain
    assert [s.code for s in view.statuses] == ["ProvisioningState/succeeded", "PowerState/running"]
    rows = {r["instance_id"]: r for r in emu.instances(RG, "batch")}
    assert set(rows) == {m.name for m in found}
    assert all(r["update_domain"] is None and r["running"] for r in rows.values())
    assert vm_row(emu, name)["kind"] == "flexible_member" and vm_row(emu, name)["scale_set"] == f"{RG}/batch"

    # scale out adds named members, scale in removes members
    compute.virtual_machine_scale_sets.begin_update(RG, "batch", {"sku": {"capacity": 6}}).result()
    assert len(members(compute, created.id)) == 6
    compute.virtual_machine_scale_sets.begin_update(RG, "batch", {"sku": {"capacity": 3}}).result()
    assert len(members(compute, created.id)) == 3
    # deleting a member VM removes it from the set
    gone = members(compute, created.id)[0].name
    compute.virtual_machines.begin_delete(RG, gone).result()
    assert gone not in {m.name for m in members(compute, created.id)}
    assert compute.virtual_machine_scale_sets.get(RG, "batch").sku.capacity == 2


def test_manualupgrade_takes_member_names_and_latest_model_is_per_member(emu, compute):
    ss = compute.virtual_machine_scale_sets.get(RG, "api")
    names = sorted(m.name for m in members(compute, ss.id))
    compute.virtual_machine_scale_sets.begin_update(RG, "api", {"properties": {"virtualMachineProfile": {
        "storageProfile": {"imageReference": {"version": "2.0.0"}}}}}).result()
    assert [latest(compute, n) for n in names] == [False] * 6

    emu.clear_events()
    compute.virtual_machine_scale_sets.begin_update_instances(RG, "api", {"instanceIds": names[:2]}).result()
    assert [latest(compute, n) for n in names] == [True, True, False, False, False, False]
    ends = emu.events(type="instance_upgrade_end")
    assert sorted(e["instance_id"] for e in ends) == names[:2] and {e["operation"] for e in ends} == {"manualupgrade"}
    assert vm_row(emu, names[0])["image_version"] == "2.0.0" and vm_row(emu, names[0])["latest_model_applied"]
    assert compute.virtual_machines.get(RG, names[0]).properties.storage_profile.image_reference.exact_version == \
        "2.0.0"

    with pytest.raises(HttpResponseError) as by_id:
        compute.virtual_machine_scale_sets.begin_update_instances(RG, "api", {"instanceIds": ["0"]})
    assert by_id.value.status_code == 400 and by_id.value.error.code == "InvalidParameter"
    assert by_id.value.error.target == "instanceIds"
    # the Uniform-only reads and batch actions are refused, naming the Flexible mode
    for call in (lambda: list(compute.virtual_machine_scale_set_vms.list(RG, "api")),
                 lambda: compute.virtual_machine_scale_set_vms.get(RG, "api", "0"),
                 lambda: compute.virtual_machine_scale_sets.begin_restart(RG, "api"),
                 lambda: compute.virtual_machine_scale_set_vms.begin_restart(RG, "api", names[0]),
                 lambda: compute.virtual_machine_scale_set_vms.begin_delete(RG, "api", names[0])):
        with pytest.raises(HttpResponseError) as refused:
            call()
        assert refused.value.status_code == 400 and "Flexible" in refused.value.error.message
    # the Uniform set next to it still answers its own API
    assert len(list(compute.virtual_machine_scale_set_vms.list(RG, "web"))) == 6
    # single-VM actions work on members
    emu.clear_events()
    compute.virtual_machines.begin_restart(RG, names[3]).result()
    assert [(e["instance_id"], e["operation"]) for e in emu.events(type="instance_upgrade_end")] == \
        [(names[3], "restart")]
    assert latest(compute, names[3]) is False


def test_rolling_flexible_set_upgrades_by_fault_domain(emu, compute):
    body = flexible_body(capacity=4, mode="Rolling", fd_count=2)
    body["properties"]["upgradePolicy"]["rollingUpgradePolicy"] = {"maxBatchInstancePercent": 50}
    compute.virtual_machine_scale_sets.begin_create_or_update(RG, "roll", body).result()
    domain = {r["instance_id"]: r["fault_domain"] for r in emu.instances(RG, "roll")}
    emu.clear_events()
    compute.virtual_machine_scale_sets.begin_update(RG, "roll", {"properties": {"virtualMachineProfile": {
        "storageProfile": {"imageReference": {"version": "2.0.0"}}}}}).result()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if compute.virtual_machine_scale_set_rolling_upgrades.get_latest(RG, "roll").properties.running_status.code \
                == "Completed":
            break
        time.sleep(0.1)
    batches = [e["instance_ids"] for e in emu.events(type="rolling_batch")]
    assert sorted(n for b in batches for n in b) == sorted(domain)
    assert all(len({domain[n] for n in batch}) == 1 for batch in batches)   # each batch inside one fault domain
    assert all(r["latest_model_applied"] for r in emu.instances(RG, "roll"))


def test_automatic_flexible_set_upgrades_every_member_and_a_named_member_can_fail(emu, compute):
    failing = member_name(RG, "auto", 1)
    emu.load_scenario({"scale_sets": [{
        "name": "auto", "resource_group": RG, "orchestration_mode": "Flexible", "capacity": 3,
        "upgrade_policy": "Automatic", "image": dict(IMAGE), "fail_upgrade_instances": [failing]}]})
    ss = compute.virtual_machine_scale_sets.get(RG, "auto")
    assert ss.properties.platform_fault_domain_count == 1 and ss.properties.upgrade_policy.mode == "Automatic"
    names = sorted(m.name for m in members(compute, ss.id))
    assert names == sorted(member_name(RG, "auto", i) for i in range(3))
    with pytest.raises(HttpResponseError) as failed:
        compute.virtual_machine_scale_sets.begin_update(RG, "auto", {"properties": {"virtualMachineProfile": {
            "storageProfile": {"imageReference": {"version": "2.0.0"}}}}}).result()
    assert failing in str(failed.value)
    assert {n: latest(compute, n) for n in names} == {n: n != failing for n in names}
    view = compute.virtual_machines.instance_view(RG, failing)
    assert view.statuses[0].code == "ProvisioningState/failed/VMExtensionProvisioningError"
