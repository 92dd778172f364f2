"""Where the emulator answered more kindly than Azure (issue 13), through the real SDK or raw HTTPS."""
from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.compute.models import Sku, VirtualMachineScaleSet
from emu_sdk import ARM_SCOPE, HEALTH_EXT, compute_for, credential_for, web_scenario

OTHER_SUB = "11111111-2222-3333-4444-555555555555"


def arm(emu, method, path, body=None, credential=None):
    """(status, parsed JSON) of one ARM call over HTTPS with a real token."""
    token = (credential or credential_for(emu)).get_token(ARM_SCOPE).token
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{emu.url}{path}", data=data, method=method,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    context = ssl.create_default_context(cafile=str(emu.ca_path))
    try:
        with urllib.request.urlopen(req, context=context) as resp:
            text = resp.read()
            return resp.status, json.loads(text) if text else None
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def _etag(compute):
    return compute.virtual_machine_scale_sets.get("rg-demo", "web").etag


# ---------------------------------------------------------------- PUT of an existing set


def test_put_of_only_location_and_sku_keeps_the_model(web, compute):
    """What `az vmss scale` sends: Azure keeps extensions, image and policy; only the capacity moves."""
    before = compute.virtual_machine_scale_sets.get("rg-demo", "web")
    body = VirtualMachineScaleSet(location=before.location, sku=Sku(name=before.sku.name, tier=before.sku.tier,
                                                                    capacity=3))
    after = compute.virtual_machine_scale_sets.begin_create_or_update("rg-demo", "web", body).result()
    assert after.sku.capacity == 3
    assert after.virtual_machine_profile.storage_profile.image_reference.version == "1.0.0"
    assert [e.name for e in after.virtual_machine_profile.extension_profile.extensions] == ["health", "script"]
    assert after.upgrade_policy.mode == before.upgrade_policy.mode
    assert len(list(compute.virtual_machine_scale_set_vms.list("rg-demo", "web"))) == 3
    assert all(i["latest_model_applied"] for i in web.instances("rg-demo", "web"))


def test_put_keeps_members_the_body_leaves_out_of_an_object(web):
    """What `az vmss update --set virtualMachineProfile.storageProfile.imageReference.version=2.0.0` sends: the
    image with only its version (and a list given, here the extensions, replaces the stored one)."""
    path = ("/subscriptions/{}/resourceGroups/rg-demo/providers/Microsoft.Compute/virtualMachineScaleSets/web"
            "?api-version=2024-07-01".format(web.env["AZURE_SUBSCRIPTION_ID"]))
    status, answer = arm(web, "PUT", path, {"location": "westeurope", "properties": {"virtualMachineProfile": {
        "storageProfile": {"imageReference": {"version": "2.0.0"}},
        "extensionProfile": {"extensions": [HEALTH_EXT]}}}})
    assert status == 200, answer
    profile = arm(web, "GET", path)[1]["properties"]["virtualMachineProfile"]
    assert profile["storageProfile"]["imageReference"] == {"publisher": "Canonical", "offer": "ubuntu-24_04-lts",
                                                           "sku": "server", "version": "2.0.0"}
    assert [e["name"] for e in profile["extensionProfile"]["extensions"]] == ["health"]
    assert profile["osProfile"]["linuxConfiguration"]["provisionVMAgent"] is True


# ---------------------------------------------------------------- create-time properties


def _refused(err, name):
    assert err.value.status_code == 409
    assert err.value.error.code == "PropertyChangeNotAllowed"
    assert err.value.error.message == f"Changing property '{name}' is not allowed."


@pytest.mark.parametrize("name, value", [("platformFaultDomainCount", 3), ("orchestrationMode", "Flexible")])
def test_create_time_properties_are_refused_in_a_put(web, compute, name, value):
    etag = _etag(compute)
    stored = arm(web, "GET", "/subscriptions/{}/resourceGroups/rg-demo/providers/Microsoft.Compute/"
                 "virtualMachineScaleSets/web?api-version=2024-07-01".format(web.env["AZURE_SUBSCRIPTION_ID"]))[1]
    body = {"location": stored["location"], "sku": stored["sku"], "properties": {**stored["properties"], name: value}}
    status, answer = arm(web, "PUT", "/subscriptions/{}/resourceGroups/rg-demo/providers/Microsoft.Compute/"
                         "virtualMachineScaleSets/web?api-version=2024-07-01".format(web.env["AZURE_SUBSCRIPTION_ID"]),
                         body)
    assert status == 409, answer
    assert answer["error"] == {"code": "PropertyChangeNotAllowed", "target": name,
                               "message": f"Changing property '{name}' is not allowed."}
    assert _etag(compute) == etag


def test_fault_domain_count_is_refused_in_a_get_then_put(web, compute):
    """`az vmss update --set platformFaultDomainCount=2` (a GET, a change, a PUT of the whole model)."""
    ss = compute.virtual_machine_scale_sets.get("rg-demo", "web")
    ss.platform_fault_domain_count = 2
    with pytest.raises(HttpResponseError) as err:
        compute.virtual_machine_scale_sets.begin_create_or_update("rg-demo", "web", ss).result()
    _refused(err, "platformFaultDomainCount")
    assert _etag(compute) == ss.etag


def test_single_placement_group_may_go_false_but_not_back_to_true(web, compute):
    compute.virtual_machine_scale_sets.begin_update("rg-demo", "web",
                                                    {"properties": {"singlePlacementGroup": False}}).result()
    etag = _etag(compute)
    with pytest.raises(HttpResponseError) as err:
        compute.virtual_machine_scale_sets.begin_update("rg-demo", "web",
                                                        {"properties": {"singlePlacementGroup": True}}).result()
    _refused(err, "singlePlacementGroup")
    assert _etag(compute) == etag


@pytest.mark.parametrize("key, value", [("type", "ApplicationHealthWindows"), ("publisher", "Contoso.Health")])
def test_extension_publisher_and_type_are_create_time(web, compute, key, value):
    """azcollection's extension module rewrote an extension's type and the emulator accepted it."""
    etag = _etag(compute)
    props = {**HEALTH_EXT["properties"], key: value}
    with pytest.raises(HttpResponseError) as err:
        compute.virtual_machine_scale_set_extensions.begin_create_or_update(
            "rg-demo", "web", "health", {"name": "health", "properties": props}).result()
    _refused(err, key)
    assert _etag(compute) == etag
    ext = compute.virtual_machine_scale_set_extensions.get("rg-demo", "web", "health")
    assert ext.properties.type == "ApplicationHealthLinux" and ext.properties.publisher == "Microsoft.ManagedServices"


def _image_patch(**image):
    return {"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": image}}}}


@pytest.mark.parametrize("patch, name", [
    (_image_patch(offer="0001-com-ubuntu-server-jammy"), "imageReference"),
    (_image_patch(publisher="Contoso"), "imageReference"),
    ({"properties": {"virtualMachineProfile": {"storageProfile": {"osDisk": {
        "managedDisk": {"storageAccountType": "Standard_LRS"}}}}}}, "osDisk.managedDisk.storageAccountType"),
    ({"zones": ["1", "2"]}, "zones"),
])
def test_image_offer_disk_type_and_zones_are_create_time(web, compute, patch, name):
    """Azure fixes the marketplace image's publisher and offer, the OS disk's storage type and the zones at
    creation; a PATCH changing one is refused whole and the instances keep their model."""
    etag = _etag(compute)
    with pytest.raises(HttpResponseError) as err:
        compute.virtual_machine_scale_sets.begin_update("rg-demo", "web", patch).result()
    _refused(err, name)
    assert err.value.error.target == name
    after = compute.virtual_machine_scale_sets.get("rg-demo", "web")
    assert after.etag == etag and after.zones is None
    image = after.virtual_machine_profile.storage_profile.image_reference
    assert (image.publisher, image.offer) == ("Canonical", "ubuntu-24_04-lts")
    assert after.virtual_machine_profile.storage_profile.os_disk.managed_disk.storage_account_type == "Premium_LRS"
    assert all(i["latest_model_applied"] for i in web.instances("rg-demo", "web"))


def test_image_sku_version_and_a_switch_to_an_image_id_are_allowed(web, compute):
    """What may change: the image's sku and version (an OS upgrade), and a switch to a gallery image id (the
    marketplace members cleared with nulls); the zones given as stored (a GET-then-PUT) are no change."""
    ss = compute.virtual_machine_scale_sets.begin_update(
        "rg-demo", "web", _image_patch(sku="server-gen1", version="2.0.0")).result()
    assert ss.virtual_machine_profile.storage_profile.image_reference.sku == "server-gen1"
    gallery = ("/subscriptions/{}/resourceGroups/rg-demo/providers/Microsoft.Compute/galleries/g/images/web/"
               "versions/3.0.0".format(web.env["AZURE_SUBSCRIPTION_ID"]))
    ss = compute.virtual_machine_scale_sets.begin_update("rg-demo", "web", _image_patch(
        id=gallery, publisher=None, offer=None, sku=None, version=None)).result()
    assert ss.virtual_machine_profile.storage_profile.image_reference.id == gallery
    assert ss.virtual_machine_profile.storage_profile.image_reference.offer is None
    again = compute.virtual_machine_scale_sets.begin_create_or_update("rg-demo", "web", ss).result()
    assert int(again.etag.strip('"')) == int(ss.etag.strip('"')) + 1


def test_zones_of_a_zonal_set_are_kept_and_cannot_change(emu, compute):
    emu.load_scenario(web_scenario(capacity=2, zones=["1", "2"]))
    ss = compute.virtual_machine_scale_sets.get("rg-demo", "web")
    assert ss.zones == ["1", "2"]
    ss.zones = ["2", "1"]  # the same zones: not a change
    ss = compute.virtual_machine_scale_sets.begin_create_or_update("rg-demo", "web", ss).result()
    ss.zones = ["1"]
    with pytest.raises(HttpResponseError) as err:
        compute.virtual_machine_scale_sets.begin_create_or_update("rg-demo", "web", ss).result()
    _refused(err, "zones")
    assert compute.virtual_machine_scale_sets.get("rg-demo", "web").zones == ["1", "2"]


# ---------------------------------------------------------------- the model as Azure fills it


def test_os_profile_has_linux_configuration(web, compute):
    ss = compute.virtual_machine_scale_sets.get("rg-demo", "web")
    linux = ss.virtual_machine_profile.os_profile.linux_configuration
    assert linux is not None and linux.provision_vm_agent is True
    assert ss.virtual_machine_profile.os_profile.windows_configuration is None
    vm = compute.virtual_machine_scale_set_vms.get("rg-demo", "web", "0")
    assert vm.os_profile.linux_configuration is not None


def test_ip_configuration_names_a_subnet_and_the_load_balancer_pool(web, compute):
    sub = web.env["AZURE_SUBSCRIPTION_ID"]
    ss = compute.virtual_machine_scale_sets.get("rg-demo", "web")
    ipconfig = ss.virtual_machine_profile.network_profile.network_interface_configurations[0].ip_configurations[0]
    net = f"/subscriptions/{sub}/resourceGroups/rg-demo/providers/Microsoft.Network"
    assert ipconfig.subnet.id == f"{net}/virtualNetworks/webVNET/subnets/webSubnet"
    assert [p.id for p in ipconfig.load_balancer_backend_address_pools] == [
        f"{net}/loadBalancers/webLB/backendAddressPools/webLBBEPool"]


def test_a_new_set_gets_the_same_network_and_os_defaults(emu, compute):
    arm(emu, "PUT", f"/subscriptions/{emu.env['AZURE_SUBSCRIPTION_ID']}/resourceGroups/rg-new?api-version=2024-03-01",
        {"location": "westeurope"})
    emu.config(upgrade_seconds=0, lro_retry_after=0.05)
    ss = compute.virtual_machine_scale_sets.begin_create_or_update(
        "rg-new", "api", VirtualMachineScaleSet(location="westeurope", sku=Sku(name="Standard_B1s", capacity=1))
    ).result()
    ipconfig = ss.virtual_machine_profile.network_profile.network_interface_configurations[0].ip_configurations[0]
    assert ipconfig.subnet.id.endswith("/virtualNetworks/apiVNET/subnets/apiSubnet")
    assert ss.virtual_machine_profile.os_profile.linux_configuration is not None


# ---------------------------------------------------------------- what ARM serves around the sets


def test_subscriptions_are_listed_and_read(emu):
    sub = emu.env["AZURE_SUBSCRIPTION_ID"]
    status, listed = arm(emu, "GET", "/subscriptions?api-version=2022-12-01")
    assert status == 200
    assert [s["subscriptionId"] for s in listed["value"]] == [sub]
    assert listed["value"][0]["state"] == "Enabled" and listed["value"][0]["tenantId"] == emu.env["AZURE_TENANT"]
    status, one = arm(emu, "GET", f"/subscriptions/{sub}?api-version=2022-12-01")
    assert status == 200 and one["id"] == f"/subscriptions/{sub}"


def test_unknown_subscription_is_subscription_not_found(web):
    client = compute_for(web, subscription="99999999-8888-7777-6666-555555555555")
    with pytest.raises(ResourceNotFoundError) as err:
        client.virtual_machine_scale_sets.get("rg-demo", "web")
    assert err.value.status_code == 404
    assert err.value.error.code == "SubscriptionNotFound"
    assert err.value.error.message == ("The subscription '99999999-8888-7777-6666-555555555555' could not be "
                                       "found.")


def test_principal_without_rights_on_an_existing_subscription_is_403(emu):
    scenario = web_scenario()
    scenario["principals"] = [{"tenant": emu.env["AZURE_TENANT"], "client_id": "limited-app",
                               "secret": "limited-secret", "subscriptions": [OTHER_SUB]}]
    emu.load_scenario(scenario)
    cred = credential_for(emu, client_id="limited-app", secret="limited-secret")
    with pytest.raises(HttpResponseError) as err:
        compute_for(emu, credential=cred).virtual_machine_scale_sets.get("rg-demo", "web")
    assert err.value.status_code == 403 and err.value.error.code == "AuthorizationFailed"
    status, listed = arm(emu, "GET", "/subscriptions?api-version=2022-12-01", credential=cred)
    assert status == 200 and [s["subscriptionId"] for s in listed["value"]] == [OTHER_SUB]


def test_vm_sizes_are_listed(emu, compute):
    sizes = {s.name: s for s in compute.virtual_machine_sizes.list("westeurope")}
    assert sizes["Standard_D2s_v3"].number_of_cores == 2 and sizes["Standard_D2s_v3"].memory_in_mb == 8192


def test_marketplace_image_lists(web, compute):
    images = compute.virtual_machine_images
    assert "Canonical" in [p.name for p in images.list_publishers("westeurope")]
    assert "ubuntu-24_04-lts" in [o.name for o in images.list_offers("westeurope", "Canonical")]
    assert [s.name for s in images.list_skus("westeurope", "Canonical", "ubuntu-24_04-lts")] == ["server"]
    versions = [v.name for v in images.list("westeurope", "Canonical", "ubuntu-24_04-lts", "server")]
    assert versions == sorted(versions, key=lambda v: tuple(int(p) for p in v.split("."))) and "1.0.0" in versions
    image = images.get("westeurope", "Canonical", "ubuntu-24_04-lts", "server", versions[-1])
    assert image.name == versions[-1] and image.os_disk_image.operating_system == "Linux"
    with pytest.raises(ResourceNotFoundError):
        images.list_offers("westeurope", "NoSuchPublisher")


def test_batch_answers_each_request_in_order(web):
    sub = web.env["AZURE_SUBSCRIPTION_ID"]
    vmss = f"/subscriptions/{sub}/resourceGroups/rg-demo/providers/Microsoft.Compute/virtualMachineScaleSets"
    status, answer = arm(web, "POST", "/batch?api-version=2020-06-01", {"requests": [
        {"httpMethod": "GET", "name": "one", "url": f"{vmss}/web?api-version=2024-07-01"},
        {"httpMethod": "GET", "name": "two", "url": f"{web.url}{vmss}/missing?api-version=2024-07-01"}]})
    assert status == 200
    one, two = answer["responses"]
    assert (one["name"], one["httpStatusCode"], one["content"]["name"]) == ("one", 200, "web")
    assert (two["name"], two["httpStatusCode"], two["content"]["error"]["code"]) == ("two", 404, "ResourceNotFound")
