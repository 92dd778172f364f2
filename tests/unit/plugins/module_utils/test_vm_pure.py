"""Pure helpers of the plain-VM and Flexible work: per-extension writes of a VM plan, the Flexible fleet view."""
from __future__ import annotations

from ansible_collections.vmss.rollout.plugins.module_utils._vmss import extensions as ext_graph
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.instances import flexible_fleet_view
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.vms import lock_reasons, mark_locked

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


RG_ID = "/subscriptions/s/resourceGroups/rg"
LOCKS = "/providers/Microsoft.Authorization/locks/"


def _lock(scope, name, level):
    return {"id": scope + LOCKS + name, "name": name, "type": "Microsoft.Authorization/locks",
            "properties": {"level": level}}


def test_a_lock_at_a_vms_scope_protects_it_and_a_read_only_lock_above_protects_every_vm():
    vm_scope = RG_ID + "/providers/Microsoft.Compute/virtualMachines/"
    set_id = RG_ID + "/providers/Microsoft.Compute/virtualMachineScaleSets/web"
    locks = [_lock(vm_scope + "WEB_A", "keep", "CanNotDelete"), _lock(vm_scope + "web_b", "frozen", "ReadOnly"),
             _lock(vm_scope + "other", "x", "ReadOnly"), _lock(RG_ID, "group", "CanNotDelete"),
             _lock(RG_ID + "/providers/Microsoft.Network/virtualNetworks/net", "net", "ReadOnly")]
    # a CanNotDelete lock on the resource group stops no upgrade; other resources' locks are not the VMs'
    assert lock_reasons(locks, ["web_a", "web_b", "web_c"]) == {
        "web_a": "protected by resource lock keep (CanNotDelete)",
        "web_b": "protected by resource lock frozen (ReadOnly)"}
    held = lock_reasons(locks + [_lock(set_id, "set", "ReadOnly")], ["web_b", "web_c"], set_id)
    assert held == {"web_b": "protected by resource locks frozen (ReadOnly), set (ReadOnly, on the scale set)",
                    "web_c": "protected by resource lock set (ReadOnly, on the scale set)"}
    assert lock_reasons([_lock(RG_ID, "group", "ReadOnly")], ["a"]) == {
        "a": "protected by resource lock group (ReadOnly, on the resource group)"}
    assert lock_reasons([], ["a"]) == {} and lock_reasons(locks, []) == {}

    unlocked = [{"instance_id": "web_a", "protected": False}, {"instance_id": "web_c", "protected": False}]
    summaries = mark_locked(unlocked, {"web_a": "protected by resource lock keep (CanNotDelete)"})
    assert summaries == [{"instance_id": "web_a", "protected": True,
                          "protected_reason": "protected by resource lock keep (CanNotDelete)"},
                         {"instance_id": "web_c", "protected": False}]
