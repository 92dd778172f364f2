"""Plain VMs through the real azure-mgmt-compute client: reads, instance views, NICs, extensions as one LRO per
change, write-only secrets, the admin fleet view, events."""
from __future__ import annotations

import json
import ssl
import urllib.request

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from emu_sdk import ARM_SCOPE, credential_for
from reliability_helpers import wait_for
from vm_helpers import RG, ext_body, vm_row


def test_vms_are_listed_and_read_with_instance_views(emu, compute):
    names = [vm.name for vm in compute.virtual_machines.list(RG)]
    assert [n for n in names if not n.startswith("api_")] == ["db-1", "db-2", "db-3", "jump"]
    assert len([n for n in names if n.startswith("api_")]) == 6          # the Flexible members are VMs too
    assert {vm.name for vm in compute.virtual_machines.list_all()} == set(names)

    db2 = compute.virtual_machines.get(RG, "db-2", expand="instanceView")
    assert db2.type == "Microsoft.Compute/virtualMachines"
    assert db2.properties.availability_set.id.endswith("/availabilitySets/db")
    assert db2.properties.storage_profile.image_reference.exact_version == "1.0.0"
    assert db2.properties.virtual_machine_scale_set is None
    view = compute.virtual_machines.instance_view(RG, "db-2")
    # the second VM of availability set "db": update domain 1 of 5, fault domain 1 of 2
    assert (view.platform_update_domain, view.platform_fault_domain) == (1, 1)
    assert [s.code for s in view.statuses] == ["ProvisioningState/succeeded", "PowerState/running"]
    assert view.vm_health.status.code in ("HealthState/healthy", "HealthState/initializing")
    assert [e.name for e in view.extensions] == ["health"]
    db3 = compute.virtual_machines.instance_view(RG, "db-3")
    assert (db3.platform_update_domain, db3.platform_fault_domain) == (2, 0)

    jump = compute.virtual_machines.instance_view(RG, "jump")
    assert jump.platform_update_domain is None and jump.platform_fault_domain is None   # not in an availability set
    assert jump.vm_health is None                                                    # no App Health extension
    assert compute.virtual_machines.get(RG, "jump").zones == ["1"]

    avset = compute.availability_sets.get(RG, "db")
    assert (avset.properties.platform_fault_domain_count, avset.properties.platform_update_domain_count) == (2, 5)
    assert [v.id.rsplit("/", 1)[-1] for v in avset.properties.virtual_machines] == ["db-1", "db-2", "db-3"]
    assert [a.name for a in compute.availability_sets.list(RG)] == ["db"]
    with pytest.raises(ResourceNotFoundError) as missing:
        compute.virtual_machines.get(RG, "nope")
    assert missing.value.error.code == "ResourceNotFound"
    with pytest.raises(HttpResponseError) as bad_filter:
        list(compute.virtual_machines.list(RG, filter="name eq 'db-1'"))
    assert bad_filter.value.status_code == 400 and bad_filter.value.error.code == "InvalidParameter"


def test_the_vm_list_takes_expand_instance_view_only_with_a_filter(emu, compute):
    """As the REST spec says of VirtualMachines_List/_ListAll: $expand=instanceView "can only be specified if a
    valid $filter option is specified"; without one Azure answers 400 (statusOnly=true is the way to list status)."""
    emu.reset_requests()
    for listing in (lambda: compute.virtual_machines.list(RG, expand="instanceView"),
                    lambda: compute.virtual_machines.list_all(expand="instanceView")):
        with pytest.raises(HttpResponseError) as refused:
            list(listing())
        assert refused.value.status_code == 400
        assert (refused.value.error.code, refused.value.error.target) == ("InvalidParameter", "$expand")
        assert "can only be specified if a valid $filter option is specified" in refused.value.error.message
    counted = emu.requests()["by_operation"]
    assert (counted["VirtualMachines_List"], counted["VirtualMachines_ListAll"]) == (1, 1)   # refused at once
    # with the filter, the members come with their views; statusOnly lists every VM's status
    api = compute.virtual_machine_scale_sets.get(RG, "api").id
    members = list(compute.virtual_machines.list(RG, filter=f"'virtualMachineScaleSet/id' eq '{api}'",
                                                 expand="instanceView"))
    assert len(members) == 6 and all(vm.properties.instance_view.statuses for vm in members)
    status = list(compute.virtual_machines.list_all(status_only="true"))
    assert {vm.name for vm in status} >= {"db-1", "jump"}
    assert all(vm.properties.instance_view.statuses for vm in status)


def test_standalone_nics_carry_the_vm_loopback_ip(emu):
    token = credential_for(emu).get_token(ARM_SCOPE).token
    sub = emu.env["AZURE_SUBSCRIPTION_ID"]
    url = (f"{emu.url}/subscriptions/{sub}/resourceGroups/{RG}/providers/Microsoft.Network/networkInterfaces/db-1-nic"
           "?api-version=2024-05-01")
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    context = ssl.create_default_context(cafile=str(emu.ca_path))
    with urllib.request.urlopen(request, context=context) as answer:
        nic = json.load(answer)
    ip = nic["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"]
    row = vm_row(emu, "db-1")
    assert ip == row["ip"] and ip.startswith("127.")
    assert nic["properties"]["virtualMachine"]["id"].endswith("/virtualMachines/db-1")
    with urllib.request.urlopen(urllib.request.Request(url.replace("/db-1-nic", ""), headers={
            "Authorization": f"Bearer {token}"}), context=context) as answer:
        listed = json.load(answer)["value"]
    assert len(listed) == 10 and len({n["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"]
                                      for n in listed}) == 10


def test_extension_change_is_one_lro_that_reprovisions_the_vm_and_keeps_secrets_out(emu, compute):
    emu.clear_events()
    poller = compute.virtual_machine_extensions.begin_create_or_update(
        RG, "db-1", "script", ext_body(protected={"commandToExecute": "echo TOPSECRET-42"},
                                       enableAutomaticUpgrade=True, forceUpdateTag="1"))
    created = poller.result()
    assert created.properties.enable_automatic_upgrade is True
    assert created.properties.protected_settings is None
    assert created.properties.type_handler_version == "2.1"

    ends = [e for e in emu.events(type="instance_upgrade_end") if e.get("vm") == "db-1"]
    assert [(e["operation"], e["result"]) for e in ends] == [("vm_extension", "succeeded")]
    assert not [e for e in emu.events(type="instance_upgrade_end") if e.get("vm") in ("db-2", "db-3")]
    lros = [e for e in emu.events(type="lro_end") if e["operation"] == "VirtualMachineExtensions_CreateOrUpdate"]
    assert [(e["status"], e["vm"]) for e in lros] == [("Succeeded", "db-1")]
    writes = [e for e in emu.events(type="model_write") if e.get("vm") == "db-1"]
    assert [e["operation"] for e in writes] == ["VirtualMachineExtensions_CreateOrUpdate"]

    got = compute.virtual_machine_extensions.get(RG, "db-1", "script")
    assert got.properties.force_update_tag == "1" and got.properties.protected_settings is None
    assert [e.name for e in compute.virtual_machine_extensions.list(RG, "db-1").value] == ["health", "script"]
    row = vm_row(emu, "db-1")
    assert row["extension_order"] == ["health", "script"] and row["latest_model_applied"] is True
    vm_json = json.dumps(compute.virtual_machines.get(RG, "db-1").as_dict())
    assert "TOPSECRET" not in vm_json and "TOPSECRET" not in json.dumps(emu.events())
    assert "TOPSECRET" not in emu.log_path.read_text()

    # the same PUT without secrets changes nothing on the VM: the LRO ends without re-provisioning it
    emu.clear_events()
    compute.virtual_machine_extensions.begin_create_or_update(
        RG, "db-1", "script", ext_body(enableAutomaticUpgrade=True, forceUpdateTag="1")).result()
    assert not emu.events(type="instance_upgrade_start")
    # a new forceUpdateTag re-runs it; a version change too; each is its own LRO
    for body in (ext_body(enableAutomaticUpgrade=True, forceUpdateTag="2"),
                 ext_body("2.2", enableAutomaticUpgrade=True, forceUpdateTag="2")):
        compute.virtual_machine_extensions.begin_create_or_update(RG, "db-1", "script", body).result()
    starts = emu.events(type="instance_upgrade_start")
    assert [e["operation"] for e in starts] == ["vm_extension", "vm_extension"]
    assert len({e["operation_id"] for e in emu.events(type="lro_start")}) == 3

    with pytest.raises(HttpResponseError) as changed_type:
        compute.virtual_machine_extensions.begin_create_or_update(
            RG, "db-1", "script", {"location": "westeurope", "properties": {
                "publisher": "Microsoft.Azure.Extensions", "type": "Other", "typeHandlerVersion": "1.0"}})
    assert changed_type.value.status_code == 409 and changed_type.value.error.code == "PropertyChangeNotAllowed"

    compute.virtual_machine_extensions.begin_delete(RG, "db-1", "script").result()
    assert [e.name for e in compute.virtual_machine_extensions.list(RG, "db-1").value] == ["health"]
    with pytest.raises(ResourceNotFoundError):
        compute.virtual_machine_extensions.get(RG, "db-1", "script")


def test_vm_create_update_and_delete(emu, compute):
    emu.clear_events()
    body = {"location": "westeurope", "tags": {"tier": "batch"}, "properties": {
        "hardwareProfile": {"vmSize": "Standard_B2s"},
        "storageProfile": {"imageReference": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server",
                                              "version": "1.0.0"}},
        "osProfile": {"computerName": "worker", "adminUsername": "ops", "adminPassword": "Sup3r-Secret!"},
        "availabilitySet": {"id": f"/subscriptions/{emu.env['AZURE_SUBSCRIPTION_ID']}/resourceGroups/{RG}/providers/"
                                  "Microsoft.Compute/availabilitySets/db"}}}
    created = compute.virtual_machines.begin_create_or_update(RG, "db-4", body).result()
    assert created.properties.os_profile.admin_password is None
    view = compute.virtual_machines.instance_view(RG, "db-4")
    assert (view.platform_update_domain, view.platform_fault_domain) == (3, 1)   # the 4th VM of the set
    assert vm_row(emu, "db-4")["load_balancer"] == f"{RG}/db" and vm_row(emu, "db-4")["running"] is True
    ops = [(e["operation"], e["result"]) for e in emu.events(type="instance_upgrade_end") if e.get("vm") == "db-4"]
    assert ops == [("create", "succeeded")]

    etag = compute.virtual_machines.get(RG, "db-4").etag
    compute.virtual_machines.begin_update(RG, "db-4", {"tags": {"tier": "web"}}).result()
    assert compute.virtual_machines.get(RG, "db-4").tags == {"tier": "web"}
    assert len([e for e in emu.events(type="instance_upgrade_start") if e.get("vm") == "db-4"]) == 1  # tags only
    compute.virtual_machines.begin_update(RG, "db-4", {"properties": {"storageProfile": {
        "imageReference": {"version": "2.0.0"}}}}).result()
    assert vm_row(emu, "db-4")["image_version"] == "2.0.0"
    assert [e["operation"] for e in emu.events(type="instance_upgrade_start") if e.get("vm") == "db-4"] == \
        ["create", "vm_update"]
    with pytest.raises(HttpResponseError) as unknown:     # strict bodies, as for scale sets
        compute.virtual_machines.begin_update(RG, "db-4", {"properties": {"hardwareProfile": {"vmSise": "x"}}})
    assert unknown.value.error.code == "InvalidRequestFormat"
    assert "Could not find member 'vmSise'" in str(unknown.value)
    with pytest.raises(HttpResponseError) as stale:
        compute.virtual_machines.begin_update(RG, "db-4", {"tags": {}}, headers={"If-Match": etag})
    assert stale.value.status_code == 412

    compute.virtual_machines.begin_delete(RG, "db-4").result()
    with pytest.raises(ResourceNotFoundError):
        compute.virtual_machines.get(RG, "db-4")
    assert "Sup3r-Secret" not in json.dumps(emu.events()) and "Sup3r-Secret" not in emu.log_path.read_text()


def test_vm_app_and_load_balancer(emu):
    rows = emu.admin("GET", f"/_emulator/virtual_machines/{RG}")["virtual_machines"]
    by_name = {r["name"]: r for r in rows}
    assert by_name["db-1"]["kind"] == "vm" and by_name["db-1"]["availability_set"] == "db"
    assert {r["kind"] for r in rows} == {"vm", "flexible_member"}
    balancers = emu.availability()["load_balancers"]
    assert f"{RG}/db" in balancers and f"{RG}/jump" in balancers
    wait_for(lambda: emu.admin("POST", f"/_emulator/load_balancers/{RG}/db/probe")["in_rotation"] ==
             ["db-1", "db-2", "db-3"])
    assert wait_for(lambda: vm_row(emu, "db-1")["health"] == "healthy")
    assert vm_row(emu, "jump")["health"] is None and vm_row(emu, "jump")["update_domain"] is None


def test_fleet_and_fault_events_of_a_vm_name_the_vm_and_its_load_balancer(emu, compute):
    """A plain VM is no scale set: its health_change, lb_rotation and fault_fired events say `vm` (and the load
    balancer it sits behind), never `vmss`; a scale set's instances keep `vmss`."""
    probe = f"/_emulator/load_balancers/{RG}/db/probe"
    wait_for(lambda: emu.admin("POST", probe)["in_rotation"] == ["db-1", "db-2", "db-3"])
    emu.clear_events()
    emu.set_faults([{"kind": "unhealthy_after_upgrade", "instance_ids": ["db-1"], "match": {"operation": "reimage"}}])

    compute.virtual_machines.begin_reimage(RG, "db-1").result()
    compute.virtual_machine_scale_set_vms.begin_restart(RG, "web", "0").result()
    wait_for(lambda: "db-1" not in emu.admin("POST", probe)["in_rotation"])
    wait_for(lambda: compute.virtual_machines.instance_view(RG, "db-1").vm_health.status.code ==
             "HealthState/unhealthy")

    fleet_types = ("health_change", "lb_rotation", "fault_fired")
    vm_events = [e for e in emu.events() if e["type"] in fleet_types and e.get("instance_id") == "db-1"]
    assert {e["type"] for e in vm_events} == set(fleet_types)
    for event in vm_events:
        assert "vmss" not in event, event
        assert (event["resource_group"], event["vm"], event["load_balancer"]) == (RG, "db-1", f"{RG}/db"), event
    web_events = [e for e in emu.events() if e["type"] in fleet_types and e.get("instance_id") == "0"]
    assert web_events and all(e["vmss"] == "web" and "vm" not in e for e in web_events)
