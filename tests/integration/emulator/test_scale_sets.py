"""Scale sets: create, get, patch with etag, 412, defaults, secrets, capacity, 409, bad input."""
from __future__ import annotations

import copy
import json

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.core.rest import HttpRequest
from emu_sdk import HEALTH_EXT, IMAGE, SCRIPT_EXT, web_scenario

NEW_SET = {
    "location": "westeurope",
    "sku": {"name": "Standard_D2s_v3", "capacity": 4},
    "zones": ["1", "2"],
    "properties": {
        "upgradePolicy": {"mode": "Rolling", "rollingUpgradePolicy": {"maxUnhealthyInstancePercent": 100,
                                                                      "maxUnhealthyUpgradedInstancePercent": 100}},
        "virtualMachineProfile": {
            "osProfile": {"computerNamePrefix": "api", "adminUsername": "azureuser",
                          "adminPassword": "P@ssw0rd-SECRET", "customData": "Y3VzdG9tLVNFQ1JFVA=="},
            "storageProfile": {"imageReference": dict(IMAGE)},
            "extensionProfile": {"extensions": [copy.deepcopy(HEALTH_EXT), copy.deepcopy(SCRIPT_EXT)]},
        },
    },
}


def _create(emu, compute, name="api"):
    emu.load_scenario({"resource_groups": [{"name": "rg-api", "location": "westeurope"}],
                       "config": {"upgrade_seconds": 0.1, "lro_retry_after": 0.05}})
    return compute.virtual_machine_scale_sets.begin_create_or_update("rg-api", name, copy.deepcopy(NEW_SET)).result()


def test_create_fills_service_defaults_and_hides_secrets(emu, compute):
    created = _create(emu, compute)
    assert created.provisioning_state == "Succeeded"
    assert created.etag == '"1"'
    policy = created.upgrade_policy.rolling_upgrade_policy
    assert policy.max_batch_instance_percent == 20          # filled by the service
    assert policy.pause_time_between_batches == "PT0S"
    assert policy.max_unhealthy_instance_percent == 100     # kept from the request
    assert created.virtual_machine_profile.os_profile.admin_password is None
    assert created.virtual_machine_profile.os_profile.custom_data is None
    script = created.virtual_machine_profile.extension_profile.extensions[1]
    assert script.protected_settings is None
    vms = list(compute.virtual_machine_scale_set_vms.list("rg-api", "api"))
    assert sorted(v.instance_id for v in vms) == ["0", "1", "2", "3"]
    assert {v.zones[0] for v in vms} == {"1", "2"}
    assert all(v.provisioning_state == "Succeeded" and v.latest_model_applied for v in vms)
    ops = emu.requests()["by_operation"]
    assert ops["VirtualMachineScaleSets_CreateOrUpdate"] == 1
    assert ops["Operations_Get"] >= 1
    text = emu.log_path.read_text() + str(emu.events())
    for secret in ("P@ssw0rd-SECRET", "Y3VzdG9tLVNFQ1JFVA==", "TOPSECRET-42"):
        assert secret not in text


def test_get_missing_scale_set_and_resource_group(web, compute):
    with pytest.raises(ResourceNotFoundError) as err:
        compute.virtual_machine_scale_sets.get("rg-demo", "nope")
    assert err.value.error.code == "ResourceNotFound"
    with pytest.raises(ResourceNotFoundError) as err:
        compute.virtual_machine_scale_sets.get("rg-missing", "web")
    assert err.value.error.code == "ResourceGroupNotFound"


def test_patch_with_etag_then_stale_etag_is_412(web, compute):
    ss = compute.virtual_machine_scale_sets.get("RG-DEMO", "WEB")  # paths are case-insensitive
    patch = {"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"version": "2.0.0"}}}}}
    updated = compute.virtual_machine_scale_sets.begin_update(
        "rg-demo", "web", patch, etag=ss.etag, match_condition=MatchConditions.IfNotModified).result()
    assert int(updated.etag.strip('"')) == int(ss.etag.strip('"')) + 1
    assert updated.virtual_machine_profile.storage_profile.image_reference.version == "2.0.0"
    assert updated.virtual_machine_profile.storage_profile.image_reference.offer == IMAGE["offer"]  # merged
    stale = {"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"version": "3.0.0"}}}}}
    with pytest.raises(ResourceModifiedError) as err:
        compute.virtual_machine_scale_sets.begin_update(
            "rg-demo", "web", stale, etag=ss.etag, match_condition=MatchConditions.IfNotModified)
    assert err.value.status_code == 412
    assert err.value.error.code == "PreconditionFailed"
    after = compute.virtual_machine_scale_sets.get("rg-demo", "web")
    assert after.etag == updated.etag
    assert after.virtual_machine_profile.storage_profile.image_reference.version == "2.0.0"
    writes = [e for e in web.events(type="model_write") if e["operation"] != "scenario"]
    assert [e["etag"] for e in writes] == [2]
    vms = list(compute.virtual_machine_scale_set_vms.list("rg-demo", "web"))
    assert not any(v.latest_model_applied for v in vms)  # Manual: nothing moves by itself


def test_create_only_if_none_match_on_existing_is_412(web, compute):
    # azure-core maps a 412 under IfMissing to ResourceExistsError
    with pytest.raises(ResourceExistsError) as err:
        compute.virtual_machine_scale_sets.begin_create_or_update(
            "rg-demo", "web", copy.deepcopy(NEW_SET), match_condition=MatchConditions.IfMissing)
    assert err.value.status_code == 412
    assert err.value.error.code == "PreconditionFailed"
    assert compute.virtual_machine_scale_sets.get("rg-demo", "web").etag == '"1"'


def test_capacity_changes_add_on_latest_model_and_remove_highest_ids(web, compute):
    patch = {"sku": {"capacity": 17},
             "properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"version": "2.0.0"}}}}}
    compute.virtual_machine_scale_sets.begin_update("rg-demo", "web", patch).result()
    vms = {v.instance_id: v for v in compute.virtual_machine_scale_set_vms.list(
        "rg-demo", "web", expand="instanceView")}
    assert len(vms) == 17
    assert vms["15"].latest_model_applied and vms["16"].latest_model_applied
    assert not vms["14"].latest_model_applied
    assert vms["15"].instance_view.platform_update_domain == 0
    assert vms["16"].instance_view.platform_update_domain == 1
    compute.virtual_machine_scale_sets.begin_update("rg-demo", "web", {"sku": {"capacity": 12}}).result()
    ids = sorted(int(v.instance_id) for v in compute.virtual_machine_scale_set_vms.list("rg-demo", "web"))
    assert ids == list(range(12))
    assert compute.virtual_machine_scale_sets.get("rg-demo", "web").sku.capacity == 12


def test_second_write_while_one_is_in_flight_is_409(web, compute):
    web.set_faults([{"kind": "upgrade_hangs", "instance_ids": ["0"]}])  # keeps the first write in flight
    poller = compute.virtual_machine_scale_sets.begin_update_instances("rg-demo", "web", {"instanceIds": ["0"]})
    with pytest.raises(ResourceExistsError) as err:
        compute.virtual_machine_scale_sets.begin_update("rg-demo", "web", {"tags": {"a": "b"}})
    assert err.value.status_code == 409
    assert err.value.error.code == "Conflict"
    with pytest.raises(ResourceExistsError):
        compute.virtual_machine_scale_sets.begin_update_instances("rg-demo", "web", {"instanceIds": ["1"]})
    web.clear_faults()
    poller.result()
    compute.virtual_machine_scale_sets.begin_update("rg-demo", "web", {"tags": {"a": "b"}}).result()
    assert compute.virtual_machine_scale_sets.get("rg-demo", "web").tags == {"a": "b"}


def test_delete_scale_set(web, compute):
    compute.virtual_machine_scale_sets.begin_delete("rg-demo", "web").result()
    with pytest.raises(ResourceNotFoundError):
        compute.virtual_machine_scale_sets.get("rg-demo", "web")
    assert [s.name for s in compute.virtual_machine_scale_sets.list_all()] == []


def test_list_and_list_all(web, compute):
    assert [s.name for s in compute.virtual_machine_scale_sets.list("rg-demo")] == ["web"]
    assert [s.name for s in compute.virtual_machine_scale_sets.list_all()] == ["web"]


def _profile(**fields):
    return {"properties": {"virtualMachineProfile": fields}}


def _script_ext(**props):
    return _profile(extensionProfile={"extensions": [
        copy.deepcopy(HEALTH_EXT), {"name": "script", "properties": {**SCRIPT_EXT["properties"], **props}}]})


def _ip_configs(value):
    return _profile(networkProfile={"networkInterfaceConfigurations": [
        {"name": "nic", "properties": {"ipConfigurations": value}}]})


BOTH = ("PATCH", "PUT")
BAD_BODIES = [
    # (methods, body, text in the message)
    (BOTH, b"{not json", "could not be deserialized"),
    (BOTH, {"sku": {"capacity": "ten"}}, "sku.capacity"),
    (BOTH, {"sku": {"capacity": None}}, "sku.capacity"),       # PATCH used to scale the set to 0
    (BOTH, {"sku": {"capacity": -1}}, "sku.capacity"),
    (BOTH, {"sku": {"capacity": True}}, "sku.capacity"),
    (BOTH, {"properties": {"upgradePolicy": {"mode": "Sometimes"}}}, "upgradePolicy.mode"),
    (BOTH, {"properties": {"upgradePolicy": {"rollingUpgradePolicy": {"maxBatchInstancePercent": 500}}}},
     "maxBatchInstancePercent"),
    (BOTH, _profile(storageProfile={"osDisk": "x"}), "storageProfile.osDisk"),
    (BOTH, _profile(networkProfile="x"), "virtualMachineProfile.networkProfile"),
    (BOTH, _profile(networkProfile={"networkInterfaceConfigurations": "x"}),
     "networkProfile.networkInterfaceConfigurations"),
    (BOTH, _profile(networkProfile={"networkInterfaceConfigurations": [None]}),
     "networkInterfaceConfigurations[0]"),
    (BOTH, _ip_configs(["x"]), "ipConfigurations[0]"),
    (BOTH, _ip_configs([{"name": "ip", "properties": {"subnet": "x"}}]), "ipConfigurations[0].properties.subnet"),
    # a list replaces the stored one whole, so its items are never null, even in a PATCH
    (BOTH, _script_ext(provisionAfterExtensions=[None]), "provisionAfterExtensions"),
    (BOTH, _profile(extensionProfile={"extensions": [{"name": "script", "properties": None}]}),
     "extensions[0].properties"),
    # a null where an object is expected: 400 on PUT (a PATCH leaves the property as is, see below)
    (("PUT",), {"properties": {"upgradePolicy": None}}, "properties.upgradePolicy"),
    (("PUT",), _profile(osProfile=None), "virtualMachineProfile.osProfile"),
    (("PUT",), _profile(storageProfile={"imageReference": None}), "storageProfile.imageReference"),
]


@pytest.mark.parametrize("method, body, message", [
    pytest.param(method, body, message, id=f"{method}-{message}-{index}")
    for index, (methods, body, message) in enumerate(BAD_BODIES) for method in methods])
def test_malformed_or_wrongly_typed_body_is_400(web, compute, method, body, message):
    base = (f"{web.url}/subscriptions/{web.env['AZURE_SUBSCRIPTION_ID']}/resourceGroups/rg-demo/providers/"
            "Microsoft.Compute/virtualMachineScaleSets")
    names = ["web"]
    if method == "PUT" and isinstance(body, dict):
        body = {"location": "westeurope", **body}
        names.append("fresh")  # the same body creating a set
    for name in names:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        request = HttpRequest(method, f"{base}/{name}?api-version=2026-04-01", content=content,
                              headers={"Content-Type": "application/json"})
        response = compute.send_request(request)
        assert response.status_code == 400, (name, response.text())
        error = response.json()["error"]
        assert error["code"] in ("InvalidParameter", "InvalidRequestContent")
        assert message in error["message"]
        assert response.headers["x-ms-request-id"]
    assert [s.name for s in compute.virtual_machine_scale_sets.list("rg-demo")] == ["web"]
    assert compute.virtual_machine_scale_sets.get("rg-demo", "web").etag == '"1"'
    # nothing half-written: the instances and their NICs still render
    assert len(list(compute.virtual_machine_scale_set_vms.list("rg-demo", "web"))) == 15
    assert compute.virtual_machine_scale_set_vms.get("rg-demo", "web", "0").instance_id == "0"
    nics = compute.send_request(HttpRequest("GET", f"{base}/web/networkInterfaces?api-version=2018-10-01"))
    assert nics.status_code == 200 and len(nics.json()["value"]) == 15


def test_patch_null_leaves_an_object_as_it_is(web, compute):
    before = compute.virtual_machine_scale_sets.get("rg-demo", "web").as_dict()
    base = (f"{web.url}/subscriptions/{web.env['AZURE_SUBSCRIPTION_ID']}/resourceGroups/rg-demo/providers/"
            "Microsoft.Compute/virtualMachineScaleSets/web")
    body = {"tags": None,
            "properties": {"upgradePolicy": None, "virtualMachineProfile": {
                "osProfile": None, "networkProfile": None,
                "storageProfile": {"imageReference": None, "osDisk": None}}}}
    response = compute.send_request(HttpRequest("PATCH", f"{base}?api-version=2026-04-01", json=body))
    assert response.status_code == 200, response.text()
    after = compute.virtual_machine_scale_sets.get("rg-demo", "web").as_dict()
    for ss in (before, after):
        del ss["etag"], ss["properties"]["provisioningState"]  # the write is an LRO; it may still be Updating
    assert after == before
    assert len(list(compute.virtual_machine_scale_set_vms.list("rg-demo", "web"))) == 15
    nics = compute.send_request(HttpRequest("GET", f"{base}/networkInterfaces?api-version=2018-10-01"))
    assert nics.status_code == 200 and len(nics.json()["value"]) == 15


@pytest.mark.parametrize("target", ["scale_set", "extension"])
def test_protected_settings_of_the_wrong_type_are_never_echoed(web, compute, target):
    secret = "TOPSECRET-wrong-type-7f3a"
    base = (f"{web.url}/subscriptions/{web.env['AZURE_SUBSCRIPTION_ID']}/resourceGroups/rg-demo/providers/"
            "Microsoft.Compute/virtualMachineScaleSets/web")
    if target == "scale_set":
        url, body = f"{base}?api-version=2026-04-01", _script_ext(protectedSettings=secret)
    else:
        url, body = f"{base}/extensions/script?api-version=2026-04-01", {"properties": {"protectedSettings": secret}}
    response = compute.send_request(HttpRequest("PATCH", url, json=body))
    assert response.status_code == 400
    error = response.json()["error"]
    assert "protectedSettings" in error["message"] and "a string" in error["message"]
    text = response.text() + web.log_path.read_text() + json.dumps(web.events())
    assert secret not in text


def test_automatic_policy_upgrades_every_instance_within_the_write(emu, compute):
    emu.load_scenario(web_scenario(upgrade_policy="Automatic", capacity=6))
    patch = {"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"version": "2.0.0"}}}}}
    compute.virtual_machine_scale_sets.begin_update("rg-demo", "web", patch).result()
    vms = list(compute.virtual_machine_scale_set_vms.list("rg-demo", "web"))
    assert all(v.latest_model_applied and v.provisioning_state == "Succeeded" for v in vms)
    assert len(emu.events(type="instance_upgrade_end")) == 6


def test_bad_skiptoken_is_400(web, compute):
    url = (f"{web.url}/subscriptions/{web.env['AZURE_SUBSCRIPTION_ID']}/resourceGroups/rg-demo/providers/"
           "Microsoft.Compute/virtualMachineScaleSets/web/virtualMachines?api-version=2026-04-01&$skiptoken=%%%")
    response = compute.send_request(HttpRequest("GET", url))
    assert response.status_code == 400
    assert response.json()["error"]["target"] == "$skiptoken"
