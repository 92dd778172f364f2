"""SDK VM dict -> instance summary; grouping; heatmap text."""
from ansible_collections.vmss.rollout.plugins.module_utils._vmss import instances
from ansible_collections.vmss.rollout.plugins.module_utils.azure_client import private_ips_by_instance


def vm(i, ud, latest=True, health="healthy", prov="Succeeded", power="running", zone=None, protected=False,
       tags=None):
    view = {"platformUpdateDomain": ud, "platformFaultDomain": ud,
            "statuses": [{"code": "ProvisioningState/succeeded"}, {"code": "PowerState/%s" % power}]}
    if health:
        view["vmHealth"] = {"status": {"code": "HealthState/%s" % health}}
    body = {"name": "web_%s" % i, "instanceId": str(i), "id": "/x/virtualMachines/%s" % i,
            "properties": {"latestModelApplied": latest, "provisioningState": prov, "instanceView": view,
                           "storageProfile": {"imageReference": {"publisher": "P", "offer": "O", "sku": "S",
                                                                 "version": "1", "exactVersion": "1"}},
                           "protectionPolicy": {"protectFromScaleSetActions": protected}}}
    if zone:
        body["zones"] = [zone]
    if tags:
        body["tags"] = tags
    return body


def test_summary_fields():
    tagged = vm(3, 3, latest=False, zone="2", protected=True, tags={"env": "prod"})
    summary = instances.summarize(tagged, {"3": "10.0.0.7"})
    assert summary == {
        "instance_id": "3", "name": "web_3", "update_domain": 3, "fault_domain": 3, "zone": "2",
        "latest_model_applied": False, "provisioning_state": "Succeeded", "power_state": "running",
        "health_state": "healthy", "private_ip": "10.0.0.7",
        "image": {"publisher": "P", "offer": "O", "sku": "S", "version": "1", "exact_version": "1"},
        "protected": True, "id": "/x/virtualMachines/3", "tags": {"env": "prod"}, "app_phase": None,
        "app_skip_upgrade": False, "protected_from_scale_in": False,
    }


def test_summary_without_health_or_view():
    summary = instances.summarize({"instanceId": "0", "properties": {}})
    assert summary["health_state"] is None and summary["update_domain"] is None and summary["power_state"] is None
    assert summary["protected"] is False and summary["zone"] is None


def test_group_by_update_domain():
    summaries = [instances.summarize(vm(i, i % 2)) for i in (3, 0, 1, 2, 10)]
    assert instances.group_by_update_domain(summaries) == [
        {"update_domain": 0, "zone": None, "instance_ids": ["0", "2", "10"]},
        {"update_domain": 1, "zone": None, "instance_ids": ["1", "3"]},
    ]


def test_heatmap_cells_and_legend():
    summaries = [instances.summarize(v) for v in [
        vm(0, 0), vm(1, 1, latest=False), vm(2, 0, health="unhealthy"), vm(3, 1, prov="Updating"),
        vm(4, 0, protected=True), vm(5, 1, health="initializing"), vm(6, 0, power="stopped"),
        vm(7, 1, prov="Failed"), vm(8, 0, health=None)]]
    lines = instances.heatmap(summaries)
    assert lines[0] == "UD0 [#][!][P][-][#]  0 2 4 6 8"
    assert lines[1] == "UD1 [.][~][?][x]  1 3 5 7"
    assert lines[-1].startswith("legend: # latest+healthy")
    assert len(lines) == 3


def test_heatmap_zonal_rows():
    summaries = [instances.summarize(vm(i, 0, zone=str(i % 2 + 1))) for i in range(4)]
    assert instances.heatmap(summaries)[:2] == ["zone 1 UD0 [#][#]  0 2", "zone 2 UD0 [#][#]  1 3"]


def test_private_ips_from_nic_list():
    nics = [
        {"id": "/s/x/virtualMachineScaleSets/web/virtualMachines/0/networkInterfaces/nic",
         "properties": {"primary": True, "ipConfigurations": [
             {"properties": {"primary": False, "privateIPAddress": "10.0.0.99"}},
             {"properties": {"primary": True, "privateIPAddress": "10.0.0.4"}}]}},
        {"properties": {"virtualMachine": {"id": "/s/x/virtualMachineScaleSets/web/virtualMachines/1"},
                        "ipConfigurations": [{"properties": {"privateIPAddress": "10.0.0.5"}}]}},
        {"id": "/unrelated", "properties": {}},
    ]
    assert private_ips_by_instance(nics) == {"0": "10.0.0.4", "1": "10.0.0.5"}


def test_select_by_ids_keeps_input_order_and_compares_text():
    summaries = [{"instance_id": str(i)} for i in (3, 1, 2, 10)]
    assert instances.select_by_ids(summaries, ["10", 1, "3", "7"]) == [
        {"instance_id": "3"}, {"instance_id": "1"}, {"instance_id": "10"}]
    assert instances.select_by_ids(summaries, []) == []
