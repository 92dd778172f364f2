"""Pure helpers of the plain-VM and Flexible work: per-extension writes of a VM plan, the Flexible fleet view."""
from __future__ import annotations

from ansible_collections.vmss.rollout.plugins.module_utils._vmss import extensions as ext_graph
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.instances import flexible_fleet_view

HEALTH = {"name": "health", "properties": {"publisher": "Microsoft.ManagedServices", "type": "ApplicationHealthLinux",
                                           "typeHandlerVersion": "2.0", "settings": {"port": 8080},
                                           "provisioningState": "Succeeded"}}
APP = {"name": "app", "properties": {"publisher": "Microsoft.Azure.Extensions", "type": "CustomScript",
                                     "typeHandlerVersion": "2.1", "settings": {"v": 1}}}


def test_vm_writes_patch_only_what_differs_put_new_ones_and_delete_removed():
    plan = ext_graph.plan([HEALTH, APP], [
        {"name": "health", "settings": {"port": 9090}},
        {"name": "new", "publisher": "P", "type": "T", "type_handler_version": "1.0",
         "protected_settings": {"secret": "s3cr3t"}},
    ], exclusive=True)
    writes = ext_graph.vm_extension_writes(plan)
    assert writes[0] == ("update", "health", {"settings": {"port": 9090}})
    assert ("remove", "app", None) in writes
    create = next(w for w in writes if w[0] == "create")
    assert create[1] == "new" and create[2]["properties"]["protectedSettings"] == {"secret": "s3cr3t"}
    assert "provisioningState" not in str(writes)


def test_vm_writes_send_protected_settings_on_update_only_when_always():
    desired = [{"name": "app", "protected_settings": {"k": "v"}}]
    assert ext_graph.vm_extension_writes(ext_graph.plan([APP], desired)) == []
    always = ext_graph.vm_extension_writes(ext_graph.plan([APP], desired, protected_settings_update="always"))
    assert always == [("update", "app", {"protectedSettings": {"k": "v"}})]


def test_automatic_upgrade_writes_carry_only_the_flags():
    plan = ext_graph.plan_automatic_upgrade([HEALTH, APP], ["health"], True, True)
    assert ext_graph.vm_extension_writes(plan) == [
        ("update", "health", {"enableAutomaticUpgrade": True, "autoUpgradeMinorVersion": True})]


def _member(name, fd, zone=None, latest=True):
    return {"instance_id": name, "name": name, "fault_domain": fd, "zone": zone, "update_domain": None,
            "latest_model_applied": latest, "health_state": "healthy", "power_state": "running",
            "provisioning_state": "Succeeded", "protected": False}


def test_flexible_view_groups_by_zone_and_fault_domain_never_update_domain():
    view = flexible_fleet_view([_member("web_c", 1, "2"), _member("web_a", 0, "1", latest=False),
                                _member("web_b", 1, "1")])
    assert view["update_domains"] == []
    assert view["fault_domains"] == [{"fault_domain": 0, "zone": "1", "instance_ids": ["web_a"]},
                                     {"fault_domain": 1, "zone": "1", "instance_ids": ["web_b"]},
                                     {"fault_domain": 1, "zone": "2", "instance_ids": ["web_c"]}]
    assert [i["name"] for i in view["instances"]] == ["web_a", "web_b", "web_c"]
    assert view["heatmap"][0].startswith("zone 1 FD0 [.]") and "web_a" in view["heatmap"][0]
    assert not any("UD" in line for line in view["heatmap"][:-1])
