"""Strict request bodies (issue 13): a member the request type does not have is refused as Azure's deserializer
refuses it, 400 InvalidRequestFormat with an InvalidJson detail naming member, type and path; nothing is stored and
the etag does not move. Read-only members the request type has (id, etag, provisioningState, uniqueId,
exactVersion...) are ignored and never stored, as Azure ignores them."""
from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError
from emu_sdk import HEALTH_EXT
from test_fidelity import arm

VMSS = "/subscriptions/{sub}/resourceGroups/rg-demo/providers/Microsoft.Compute/virtualMachineScaleSets/web"
API = "?api-version=2024-07-01"


def _path(emu, suffix=""):
    return VMSS.format(sub=emu.env["AZURE_SUBSCRIPTION_ID"]) + suffix + API


def _not_parsed(answer, member, type_name, path):
    assert answer["error"]["code"] == "InvalidRequestFormat"
    assert answer["error"]["message"] == "Cannot parse the request."
    assert answer["error"]["details"] == [{"code": "InvalidJson", "message": f"Could not find member '{member}' on "
                                           f"object of type '{type_name}'. Path '{path}'."}]


def _unchanged(web, compute, etag, events):
    assert compute.virtual_machine_scale_sets.get("rg-demo", "web").etag == etag
    assert len(web.events(type="model_write")) == events


def test_patch_without_properties_is_refused(web, compute):
    """The body that returned 200 and bumped the etag: virtualMachineProfile at the top of a PATCH."""
    etag, events = compute.virtual_machine_scale_sets.get("rg-demo", "web").etag, len(web.events(type="model_write"))
    status, answer = arm(web, "PATCH", _path(web), {"virtualMachineProfile": {"storageProfile": {
        "imageReference": {"version": "2.0.0"}}}})
    assert status == 400
    _not_parsed(answer, "virtualMachineProfile", "VirtualMachineScaleSetUpdate", "virtualMachineProfile")
    _unchanged(web, compute, etag, events)


@pytest.mark.parametrize("method, suffix, body, member, type_name, path", [
    ("PATCH", "", {"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {
        "version": "2.0.0", "exact_version": "2.0.0"}}}}}, "exact_version", "ImageReference",
     "properties.virtualMachineProfile.storageProfile.imageReference.exact_version"),
    ("PATCH", "", {"properties": {"provisioningState": "Succeeded"}}, "provisioningState",
     "VirtualMachineScaleSetUpdateProperties", "properties.provisioningState"),
    ("PATCH", "", {"location": "westeurope", "properties": {}}, "location", "VirtualMachineScaleSetUpdate",
     "location"),
    ("PUT", "", {"location": "westeurope", "properties": {"virtualMachineProfile": {"extensionProfile": {
        "extensions": [{"name": "health", "properties": {**HEALTH_EXT["properties"], "setting": {}}}]}}}},
     "setting", "VirtualMachineScaleSetExtensionProperties",
     "properties.virtualMachineProfile.extensionProfile.extensions[0].properties.setting"),
    ("PUT", "/extensions/health", {"properties": {**HEALTH_EXT["properties"], "typeHandler": "2.0"}}, "typeHandler",
     "VirtualMachineScaleSetExtensionProperties", "properties.typeHandler"),
    ("PATCH", "/extensions/health", {"properties": {"settings": {}, "provisionAfter": []}}, "provisionAfter",
     "VirtualMachineScaleSetExtensionProperties",
     "properties.provisionAfter"),
    ("POST", "/manualupgrade", {"instanceIds": ["0"], "force": True}, "force",
     "VirtualMachineScaleSetVMInstanceRequiredIDs", "force"),
])
def test_unknown_and_read_only_members_are_refused(web, compute, method, suffix, body, member, type_name, path):
    etag, events = compute.virtual_machine_scale_sets.get("rg-demo", "web").etag, len(web.events(type="model_write"))
    status, answer = arm(web, method, _path(web, suffix), body)
    assert status == 400, answer
    _not_parsed(answer, member, type_name, path)
    _unchanged(web, compute, etag, events)
    assert all(i["latest_model_applied"] for i in web.instances("rg-demo", "web"))


def test_sdk_patch_of_an_unknown_member_raises_with_the_code(web, compute):
    with pytest.raises(HttpResponseError) as err:
        compute.virtual_machine_scale_sets.begin_update(
            "rg-demo", "web", {"properties": {"platformFaultDomainCount": 2}}).result()
    assert err.value.status_code == 400 and err.value.error.code == "InvalidRequestFormat"


def test_read_only_members_of_a_put_are_ignored_not_stored(web, compute):
    """A client that PUTs back what it read (id, etag, provisioningState, uniqueId...) is served."""
    stored = arm(web, "GET", _path(web))[1]
    stored["properties"]["uniqueId"] = "forged"
    stored["properties"]["provisioningState"] = "Failed"
    status, answer = arm(web, "PUT", _path(web), stored)
    assert status == 200, answer
    again = compute.virtual_machine_scale_sets.get("rg-demo", "web")
    assert again.unique_id != "forged" and again.provisioning_state == "Succeeded"
    status, answer = arm(web, "PATCH", _path(web), {"properties": {"virtualMachineProfile": {"storageProfile": {
        "imageReference": {"version": "2.0.0", "exactVersion": "9.9.9"}}}}})
    assert status == 200, answer
    assert "exactVersion" not in answer["properties"]["virtualMachineProfile"]["storageProfile"]["imageReference"]


def test_scenario_with_an_unknown_member_is_refused(emu):
    from emu_sdk import web_scenario
    scenario = web_scenario(properties={"upgradePolicy": {"mode": "Manual"}, "overProvision": True})
    with pytest.raises(Exception) as err:
        emu.load_scenario(scenario)
    assert "Could not find member 'overProvision'" in str(err.value)
