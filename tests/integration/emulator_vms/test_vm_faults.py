"""Faults on VMs and their extensions, through the real SDK: the same rule schema as scale sets, VM operation names,
VM names in instance_ids; a failed or hung change keeps the VM on what it ran."""
from __future__ import annotations

import json
import threading

import pytest
from azure.core.exceptions import HttpResponseError
from reliability_helpers import wait_for
from vm_helpers import RG, ext_body, vm_row


def test_failed_extension_change_fails_its_lro_and_leaves_the_vm_on_its_old_extensions(emu, compute):
    emu.set_faults([{"kind": "upgrade_fails", "instance_ids": ["db-2"], "count": 1,
                     "message": "script exited with 1"}])
    with pytest.raises(HttpResponseError) as failed:
        compute.virtual_machine_extensions.begin_create_or_update(RG, "db-2", "script", ext_body()).result()
    assert "script exited with 1" in str(failed.value)
    view = compute.virtual_machines.instance_view(RG, "db-2")
    assert view.statuses[0].code.startswith("ProvisioningState/failed/")
    row = vm_row(emu, "db-2")
    assert row["provisioning_state"] == "Failed" and row["latest_model_applied"] is False
    assert row["extension_order"] == ["health"]                     # the new extension did not land
    assert [e.name for e in compute.virtual_machine_extensions.list(RG, "db-2").value] == ["health", "script"]
    script = compute.virtual_machine_extensions.get(RG, "db-2", "script", expand="instanceView")
    assert script.properties.provisioning_state == "Failed"
    assert script.properties.instance_view.statuses[0].code == "ProvisioningState/failed"
    assert compute.virtual_machine_extensions.get(RG, "db-2", "health").properties.provisioning_state == "Succeeded"
    fired = emu.events(type="fault_fired")
    assert [(e["kind"], e["instance_id"], e["operation"]) for e in fired] == [("upgrade_fails", "db-2", "vm_extension")]
    end = [e for e in emu.events(type="lro_end") if e["operation"] == "VirtualMachineExtensions_CreateOrUpdate"]
    assert [e["status"] for e in end] == ["Failed"]
    # the rule fired once: the same change again succeeds and the VM runs it
    compute.virtual_machine_extensions.begin_create_or_update(RG, "db-2", "script",
                                                              ext_body(forceUpdateTag="retry")).result()
    row = vm_row(emu, "db-2")
    assert row["provisioning_state"] == "Succeeded" and row["extension_order"] == ["health", "script"]
    assert compute.virtual_machine_extensions.get(RG, "db-2", "script").properties.provisioning_state == "Succeeded"
    assert row["latest_model_applied"] is True


def test_throttled_vm_reads_and_a_hung_extension_change(emu, compute):
    emu.set_faults([{"kind": "throttle", "match": {"operation": "VirtualMachines_Get"}, "count": 1, "retry_after": 1}])
    with pytest.raises(HttpResponseError) as throttled:
        compute.virtual_machines.get(RG, "db-1")
    assert throttled.value.status_code == 429
    assert compute.virtual_machines.get(RG, "db-1").name == "db-1"
    assert emu.requests()["by_operation"]["VirtualMachines_Get"] == 2
    emu.clear_faults()

    emu.set_faults([{"kind": "upgrade_hangs", "instance_ids": ["db-3"]}])
    poller = compute.virtual_machine_extensions.begin_create_or_update(RG, "db-3", "script", ext_body())
    wait_for(lambda: vm_row(emu, "db-3")["provisioning_state"] == "Updating")
    assert compute.virtual_machine_extensions.get(RG, "db-3", "script").properties.provisioning_state == "Creating"
    assert vm_row(emu, "db-3")["running"] is False
    with pytest.raises(HttpResponseError) as busy:   # one change at a time on a VM
        compute.virtual_machines.begin_update(RG, "db-3", {"tags": {"x": "y"}})
    assert busy.value.status_code == 409 and busy.value.error.code == "Conflict"
    # other VMs are not held by it
    compute.virtual_machine_extensions.begin_create_or_update(RG, "db-1", "script", ext_body()).result()
    result = {}
    waiter = threading.Thread(target=lambda: result.setdefault("ext", poller.result()))
    waiter.start()
    emu.clear_faults()                               # releases the hung change
    waiter.join(timeout=15)
    assert result["ext"].name == "script" and vm_row(emu, "db-3")["running"] is True


def test_unhealthy_after_an_extension_change_takes_the_vm_out_of_its_load_balancer(emu, compute):
    emu.set_faults([{"kind": "unhealthy_after_upgrade",
                     "extension_setting": {"extension": "script", "name": "release", "value": "bad"}}])
    compute.virtual_machine_extensions.begin_create_or_update(RG, "db-1", "script",
                                                              ext_body(settings={"release": "bad"})).result()
    compute.virtual_machine_extensions.begin_create_or_update(RG, "db-2", "script",
                                                              ext_body(settings={"release": "good"})).result()
    probe = f"/_emulator/load_balancers/{RG}/db/probe"
    wait_for(lambda: emu.admin("POST", probe)["in_rotation"] == ["db-2", "db-3"])
    assert wait_for(lambda: compute.virtual_machines.instance_view(RG, "db-1").vm_health.status.code ==
                    "HealthState/unhealthy")
    assert vm_row(emu, "db-2")["health"] == "healthy" and vm_row(emu, "db-1")["in_rotation"] is False
    assert json.dumps(emu.events(type="lb_rotation")).count('"db-1"') >= 1


def test_fail_upgrade_hook_and_per_vm_timing(emu, compute):
    config = f"/_emulator/virtual_machines/{RG}/jump/config"
    assert emu.admin("POST", config, {"fail_upgrade": True, "upgrade_seconds": 0})["fail_upgrade"] is True
    with pytest.raises(HttpResponseError) as failed:
        compute.virtual_machines.begin_update(RG, "jump", {"properties": {"storageProfile": {
            "imageReference": {"version": "2.0.0"}}}}).result()
    assert "VMExtensionProvisioningError" in str(failed.value)
    row = vm_row(emu, "jump")
    assert row["image_version"] == "1.0.0" and row["provisioning_state"] == "Failed"
    assert row["latest_model_applied"] is False
    emu.admin("POST", config, {"fail_upgrade": False})
    compute.virtual_machines.begin_restart(RG, "jump").result()          # a restart keeps what it runs
    assert vm_row(emu, "jump")["image_version"] == "1.0.0"
    compute.virtual_machines.begin_reimage(RG, "jump").result()          # a reimage lands the VM's own model
    assert vm_row(emu, "jump")["image_version"] == "2.0.0" and vm_row(emu, "jump")["latest_model_applied"]
    ops = [(e["operation"], e["result"]) for e in emu.events(type="instance_upgrade_end") if e.get("vm") == "jump"]
    assert ops == [("vm_update", "failed"), ("restart", "succeeded"), ("reimage", "succeeded")]
    with pytest.raises(Exception) as not_plain:
        emu.admin("POST", f"/_emulator/virtual_machines/{RG}/nope/config", {"upgrade_seconds": 1})
    assert "404" in str(not_plain.value)
