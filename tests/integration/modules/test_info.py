"""vmss_info against the emulator: model brief, instances by update domain with IPs and health, heatmap; reads only."""
from __future__ import annotations

from core_helpers import HEALTH, NEW, core_step, run_steps, scale_set, scenario, writes

APP = {"name": "app", "properties": {"publisher": "Microsoft.Azure.Extensions", "type": "CustomScript",
                                     "typeHandlerVersion": "2.1", "settings": {},
                                     "protectedSettings": {"commandToExecute": "echo hidden-info-secret"},
                                     "provisionAfterExtensions": ["health"]}}


def test_info_zonal_set(fresh_emulator, run_playbook, tmp_path):
    fresh_emulator.load_scenario(scenario(scale_set("web", capacity=6, zones=["1", "2"], protected_instances=["4"],
                                                    extensions=[APP, HEALTH])))
    steps = [
        core_step("vmss_model_image", image=NEW),
        core_step("vmss_instance_upgrade", instance_ids=["0"], wait_for_health=True, health_timeout=30),
        core_step("vmss_info"),
        core_step("vmss_info", check=True, private_ips=False),
    ]
    out, _playbook = run_steps(run_playbook, fresh_emulator, steps, tmp_path)
    info = out[2]["result"]
    assert info["changed"] is False and writes(out[2]) == 0, info.get("msg")
    assert out[2]["requests"]["reads"] == 3          # scale set, instances (one page), NICs

    vmss = info["vmss"]
    assert vmss["name"] == "web" and vmss["capacity"] == 6 and vmss["zones"] == ["1", "2"]
    assert vmss["image"] == NEW and vmss["upgrade_policy"]["mode"] == "Manual"
    assert vmss["provisioning_order"] == ["health", "app"]
    assert [e["name"] for e in vmss["extensions"]] == ["health", "app"]
    assert "hidden-info-secret" not in str(info)

    instances = {i["instance_id"]: i for i in info["instances"]}
    assert set(instances) == {str(i) for i in range(6)}
    assert instances["0"]["latest_model_applied"] is True and instances["1"]["latest_model_applied"] is False
    assert instances["4"]["protected"] is True
    assert all(i["zone"] in ("1", "2") and i["private_ip"] for i in instances.values())
    assert len({i["private_ip"] for i in instances.values()}) == 6
    assert instances["0"]["health_state"] == "healthy" and instances["0"]["power_state"] == "running"

    # update domains are counted within a zone and the groups follow zone, then domain
    groups = info["update_domains"]
    assert [g["zone"] for g in groups] == sorted(g["zone"] for g in groups)
    assert sorted(i for g in groups for i in g["instance_ids"]) == sorted(instances)
    zone_of_0 = instances["0"]["zone"]
    assert any(g["zone"] == zone_of_0 and "0" in g["instance_ids"] for g in groups)

    heatmap = info["heatmap"]
    assert len(heatmap) == len(groups) + 1 and heatmap[-1].startswith("legend:")
    row_0 = next(line for line in heatmap if line.split("  ")[-1].split()[0] == "0")
    assert row_0.startswith("zone %s UD" % zone_of_0) and "[#]" in row_0
    assert "[P]" in "".join(heatmap) and "[.]" in "".join(heatmap)

    fast = out[3]["result"]
    assert fast["changed"] is False and writes(out[3]) == 0 and out[3]["requests"]["reads"] == 2
    assert all(i["private_ip"] is None for i in fast["instances"])


def test_vmss_name_alias_and_instance_id_and_tags_in_summaries(fresh_emulator, run_module):
    """azure.azcollection parity: `vmss_name` works for `name`; summaries carry the ARM id and the tags."""
    fresh_emulator.load_scenario(scenario(scale_set("web", capacity=2, tags={"env": "demo"})))
    info = run_module("vmss_info", {"resource_group": "rg-core", "vmss_name": "web", "private_ips": False})
    assert info["rc"] == 0, info["output"]
    upgrade = run_module("vmss_instance_upgrade", {"resource_group": "rg-core", "vmss_name": "web",
                                                   "instance_ids": ["1"]})
    assert upgrade["rc"] == 0, upgrade["output"]
    fleet = fresh_emulator.admin("GET", "/_emulator/scale_sets/rg-core/web/instances")["instances"]
    assert sorted(i["instance_id"] for i in fleet) == ["0", "1"]
    for summaries in (info["instances"], upgrade["instances"]):
        for summary in summaries:
            assert summary["id"].endswith("/resourceGroups/rg-core/providers/Microsoft.Compute/"
                                          "virtualMachineScaleSets/web/virtualMachines/" + summary["instance_id"])
            assert summary["tags"] == {"env": "demo"}
