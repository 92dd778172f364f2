"""Management locks (Microsoft.Authorization/locks) on VMs and Flexible members, through the real SDK's pipeline:
PUT/GET/DELETE at VM and resource-group scope, the list at resource-group scope, and 409 ScopeLocked for writes
under a ReadOnly lock (VM PUT/PATCH, extension writes, manualupgrade of a locked member) and deletes under any."""
from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest
from vm_helpers import RG, ext_body

LOCKS = "/providers/Microsoft.Authorization/locks"


def _send(compute, method, path, body=None, api="2016-09-01"):
    url = f"{path}?api-version={api}"
    response = compute.send_request(HttpRequest(method, url, json=body))
    return response.status_code, (response.json() if response.text() else None)


def _rg(emu):
    return f"/subscriptions/{emu.env['AZURE_SUBSCRIPTION_ID']}/resourceGroups/{RG}"


def _member(emu):
    return emu.admin("GET", f"/_emulator/scale_sets/{RG}/api/instances")["instances"][0]["instance_id"]


def test_locks_are_served_at_vm_and_resource_group_scope(emu, compute):
    vm_scope = _rg(emu) + "/providers/Microsoft.Compute/virtualMachines/db-1"
    keep = {"properties": {"level": "CanNotDelete", "notes": "db"}}
    status, lock = _send(compute, "PUT", vm_scope + LOCKS + "/keep", keep)
    assert status == 201
    assert lock == {"id": vm_scope + LOCKS + "/keep", "type": "Microsoft.Authorization/locks", "name": "keep",
                    "properties": {"level": "CanNotDelete", "notes": "db"}}
    assert _send(compute, "PUT", vm_scope + LOCKS + "/keep", {"properties": {"level": "ReadOnly"}},
                 api="2020-05-01")[0] == 200
    assert _send(compute, "PUT", _rg(emu) + LOCKS + "/group", {"properties": {"level": "CanNotDelete"}})[0] == 201

    status, listed = _send(compute, "GET", _rg(emu) + LOCKS)
    assert status == 200
    # the resource group's list holds the group's own lock and those of the resources in it
    assert sorted((item["name"], item["properties"]["level"], item["id"]) for item in listed["value"]) == [
        ("group", "CanNotDelete", _rg(emu) + LOCKS + "/group"), ("keep", "ReadOnly", vm_scope + LOCKS + "/keep")]
    assert _send(compute, "GET", vm_scope + LOCKS + "/keep")[1]["properties"]["level"] == "ReadOnly"

    assert _send(compute, "GET", vm_scope + LOCKS + "/keep", api="2015-01-01")[1]["error"]["code"] == \
        "NoRegisteredProviderFound"
    assert _send(compute, "PUT", vm_scope + LOCKS + "/bad", {"properties": {"level": "Sealed"}})[0] == 400
    assert _send(compute, "PUT", _rg(emu) + "/providers/Microsoft.Compute/virtualMachines/nope" + LOCKS + "/x",
                 {"properties": {"level": "ReadOnly"}})[0] == 404

    assert _send(compute, "DELETE", vm_scope + LOCKS + "/keep")[0] == 200
    assert _send(compute, "DELETE", vm_scope + LOCKS + "/keep")[0] == 204
    assert _send(compute, "GET", vm_scope + LOCKS + "/keep")[1]["error"]["code"] == "LockNotFound"
    assert [item["name"] for item in _send(compute, "GET", _rg(emu) + LOCKS)[1]["value"]] == ["group"]


def test_a_read_only_lock_refuses_writes_to_the_vm_and_its_member_upgrade(emu, compute):
    vm_scope = _rg(emu) + "/providers/Microsoft.Compute/virtualMachines/db-1"
    _send(compute, "PUT", vm_scope + LOCKS + "/frozen", {"properties": {"level": "ReadOnly"}})
    member = _member(emu)
    member_scope = _rg(emu) + "/providers/Microsoft.Compute/virtualMachines/" + member
    _send(compute, "PUT", member_scope + LOCKS + "/frozen", {"properties": {"level": "ReadOnly"}})
    emu.clear_events()

    with pytest.raises(HttpResponseError) as ext_write:
        compute.virtual_machine_extensions.begin_create_or_update(RG, "db-1", "script", ext_body())
    with pytest.raises(HttpResponseError) as vm_patch:
        compute.virtual_machines.begin_update(RG, "db-1", {"tags": {"x": "y"}})
    with pytest.raises(HttpResponseError) as upgrade:
        compute.virtual_machine_scale_sets.begin_update_instances(RG, "api", {"instanceIds": [member]})

    for refused in (ext_write, vm_patch, upgrade):
        assert refused.value.status_code == 409 and refused.value.error.code == "ScopeLocked"
    assert f"'{member_scope}' cannot perform write operation because following scope(s) are locked: " \
           f"'{member_scope}'" in upgrade.value.error.message
    assert not [e for e in emu.events() if e["type"] in ("instance_upgrade_start", "model_write")]
    # reads still answer; a member without a lock upgrades; deleting the lock lets the write through
    assert compute.virtual_machines.get(RG, "db-1").name == "db-1"
    _send(compute, "DELETE", vm_scope + LOCKS + "/frozen")
    compute.virtual_machines.begin_update(RG, "db-1", {"tags": {"x": "y"}}).result()
    assert compute.virtual_machines.get(RG, "db-1").tags == {"x": "y"}


def test_a_can_not_delete_lock_refuses_deletes_only(emu, compute):
    vm_scope = _rg(emu) + "/providers/Microsoft.Compute/virtualMachines/db-1"
    _send(compute, "PUT", _rg(emu) + LOCKS + "/group", {"properties": {"level": "CanNotDelete"}})
    compute.virtual_machines.begin_update(RG, "db-1", {"tags": {"x": "y"}}).result()
    with pytest.raises(HttpResponseError) as delete:
        compute.virtual_machines.begin_delete(RG, "db-1")
    assert delete.value.status_code == 409 and delete.value.error.code == "ScopeLocked"
    assert f"'{vm_scope}' cannot perform delete operation" in delete.value.error.message
    assert compute.virtual_machines.get(RG, "db-1").name == "db-1"


def test_scenario_locks_on_a_vm(fresh_emulator):
    fresh_emulator.load_scenario({"resource_groups": [{"name": RG}], "virtual_machines": [
        {"name": "solo", "resource_group": RG, "locks": [{"name": "keep", "level": "ReadOnly", "notes": "n"}]}]})
    with pytest.raises(Exception, match="locks must be a list"):
        fresh_emulator.load_scenario({"virtual_machines": [
            {"name": "other", "resource_group": RG, "locks": [{"name": "keep", "level": "Frozen"}]}]})
    from emu_sdk import compute_for
    client = compute_for(fresh_emulator)
    try:
        status, listed = _send(client, "GET", _rg(fresh_emulator) + LOCKS)
    finally:
        client.close()
    assert status == 200 and [(i["name"], i["properties"]) for i in listed["value"]] == [
        ("keep", {"level": "ReadOnly", "notes": "n"})]
