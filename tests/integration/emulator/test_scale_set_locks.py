"""Management locks on a scale set and its resource group, through the real SDK: ARM judges them from the request
path, so a ReadOnly lock refuses every write to the scale set (its model: PUT, PATCH, extension writes; its actions)
with 409 ScopeLocked and nothing changes, while reads still answer; a CanNotDelete lock refuses only deletes (the
set, its instances)."""
from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest
from emu_sdk import IMAGE, SCRIPT_EXT, web_scenario

RG = "rg-demo"
LOCKS = "/providers/Microsoft.Authorization/locks"


def _rg(emu):
    return f"/subscriptions/{emu.env['AZURE_SUBSCRIPTION_ID']}/resourceGroups/{RG}"


def _vmss(emu):
    return _rg(emu) + "/providers/Microsoft.Compute/virtualMachineScaleSets/web"


def _lock(compute, scope, name, level, method="PUT"):
    body = {"properties": {"level": level}} if method == "PUT" else None
    response = compute.send_request(HttpRequest(method, f"{scope}{LOCKS}/{name}?api-version=2016-09-01", json=body))
    return response.status_code, (response.json() if response.text() else None)


def _refused(call):
    with pytest.raises(HttpResponseError) as refused:
        call()
    return refused.value


@pytest.fixture
def web(emu):
    emu.load_scenario(web_scenario(capacity=3))
    return emu


def test_a_read_only_lock_on_the_scale_set_refuses_writes_to_its_model_and_its_actions(web, compute):
    sets = compute.virtual_machine_scale_sets
    assert _lock(compute, _vmss(web), "frozen", "ReadOnly")[0] == 201
    before = sets.get(RG, "web")
    web.clear_events()
    web.reset_requests()

    refused = [
        _refused(lambda: sets.begin_update(RG, "web", {"tags": {"x": "y"}})),
        _refused(lambda: sets.begin_create_or_update(RG, "web", {"location": "westeurope", "sku": {"capacity": 5}})),
        _refused(lambda: compute.virtual_machine_scale_set_extensions.begin_create_or_update(
            RG, "web", "script", {"properties": dict(SCRIPT_EXT["properties"], settings={"release": "2"})})),
        _refused(lambda: compute.virtual_machine_scale_set_extensions.begin_delete(RG, "web", "script")),
        _refused(lambda: sets.begin_update_instances(RG, "web", {"instanceIds": ["0"]})),
        _refused(lambda: compute.virtual_machine_scale_set_vms.begin_restart(RG, "web", "1")),
    ]

    for error in refused:
        assert error.status_code == 409 and error.error.code == "ScopeLocked", error.message
    assert (f"The scope '{_vmss(web)}' cannot perform write operation because following scope(s) are locked: "
            f"'{_vmss(web)}'. Please remove the lock and try again.") == refused[0].error.message
    # nothing started or stored; the writes reached no handler
    assert not [e for e in web.events() if e["type"] in ("model_write", "lro_start", "instance_upgrade_start")]
    after = sets.get(RG, "web")
    assert (after.etag, after.sku.capacity, after.tags) == (before.etag, 3, before.tags)
    # reads still answer
    assert len(list(compute.virtual_machine_scale_set_vms.list(RG, "web", expand="instanceView"))) == 3
    assert sets.get_instance_view(RG, "web").virtual_machine.statuses_summary
    assert compute.virtual_machine_scale_set_extensions.get(RG, "web", "script").name == "script"
    # the lock is listed at the set's scope and in its resource group; once removed, the write goes through
    listed = compute.send_request(HttpRequest("GET", f"{_rg(web)}{LOCKS}?api-version=2016-09-01")).json()["value"]
    assert [(item["id"], item["properties"]["level"]) for item in listed] == [
        (f"{_vmss(web)}{LOCKS}/frozen", "ReadOnly")]
    assert _lock(compute, _vmss(web), "frozen", None, method="DELETE")[0] == 200
    assert sets.begin_update(RG, "web", {"tags": {"x": "y"}}).result().tags == {"x": "y"}


def test_a_read_only_lock_on_the_resource_group_refuses_creating_and_changing_scale_sets(web, compute):
    _lock(compute, _rg(web), "audit", "ReadOnly")
    patch = _refused(lambda: compute.virtual_machine_scale_sets.begin_update(RG, "web", {"sku": {"capacity": 4}}))
    create = _refused(lambda: compute.virtual_machine_scale_sets.begin_create_or_update(RG, "api", {
        "location": "westeurope", "sku": {"name": "Standard_D2s_v3", "capacity": 1},
        "properties": {"upgradePolicy": {"mode": "Manual"}, "virtualMachineProfile": {
            "storageProfile": {"imageReference": dict(IMAGE)}}}}))
    for error in (patch, create):
        assert error.status_code == 409 and error.error.code == "ScopeLocked"
        assert f"following scope(s) are locked: '{_rg(web)}'." in error.error.message
    assert [s.name for s in compute.virtual_machine_scale_sets.list(RG)] == ["web"]
    assert len(web.instances(RG, "web")) == 3


def test_a_can_not_delete_lock_refuses_only_deletes_of_the_set_and_its_instances(web, compute):
    sets = compute.virtual_machine_scale_sets
    _lock(compute, _vmss(web), "keep", "CanNotDelete")
    assert sets.begin_update(RG, "web", {"tags": {"owner": "ops"}}).result().tags == {"owner": "ops"}
    sets.begin_restart(RG, "web", {"instanceIds": ["0"]}).result()   # an action is no delete

    refused = [_refused(lambda: sets.begin_delete(RG, "web")),
               _refused(lambda: sets.begin_delete_instances(RG, "web", {"instanceIds": ["2"]})),
               _refused(lambda: compute.virtual_machine_scale_set_vms.begin_delete(RG, "web", "1"))]

    for error in refused:
        assert error.status_code == 409 and error.error.code == "ScopeLocked"
        assert "cannot perform delete operation" in error.error.message
    assert sorted(row["instance_id"] for row in web.instances(RG, "web")) == ["0", "1", "2"]
    assert sets.get(RG, "web").sku.capacity == 3
