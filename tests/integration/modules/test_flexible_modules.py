"""vmss_info and vmss_instance_upgrade on a Flexible scale set (members are VMs, named, placed by fault domain and
zone), through ansible-playbook against the emulator (real SDK over HTTPS). Judged from the emulator's fleet view,
events and request counts."""
from __future__ import annotations

import sys
from pathlib import Path

# extension_helpers sits next to this file; found whatever pytest's import mode
sys.path.insert(0, str(Path(__file__).resolve().parent))

from extension_helpers import HEALTH, run_steps, step, writes  # noqa: E402

RG = "rg-flex"
OLD = {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "1.0.0"}
NEW = dict(OLD, version="1.0.1")


def flex_scenario():
    return {
        "config": {"upgrade_seconds": 0.1, "lro_retry_after": 0.1, "health_grace_seconds": 0.1,
                   "probe_interval": 0.1},
        "resource_groups": [{"name": RG, "location": "westeurope"}],
        "scale_sets": [{"name": "api", "resource_group": RG, "capacity": 4, "orchestration_mode": "Flexible",
                        "platform_fault_domain_count": 2, "zones": ["1", "2"], "upgrade_policy": "Manual",
                        "image": dict(OLD), "extensions": [HEALTH], "app": {"port": 8080}}],
    }


def flex_step(module, check=False, **args):
    return step(module, check=check, resource_group=RG, name="api", health_timeout=60, **args)


def fleet(emulator):
    rows = emulator.admin("GET", "/_emulator/virtual_machines/%s" % RG)["virtual_machines"]
    return {row["name"]: row for row in rows if row["kind"] == "flexible_member"}


def test_info_and_instance_upgrade_on_a_flexible_set(fresh_emulator, run_playbook, tmp_path):
    fresh_emulator.load_scenario(flex_scenario())
    members = fleet(fresh_emulator)
    names = sorted(members)
    first, rest = names[:2], names[2:]
    out, _res = run_steps(run_playbook, fresh_emulator, [
        step("vmss_info", resource_group=RG, name="api"),                                  # 0
        step("vmss_model_image", resource_group=RG, name="api", image=NEW),                # 1
        flex_step("vmss_instance_upgrade", check=True, instance_ids=first),                # 2
        flex_step("vmss_instance_upgrade", update_domains=[0]),                            # 3 refused
        flex_step("vmss_instance_upgrade", strategy="platform"),                           # 4 refused
        flex_step("vmss_instance_upgrade", instance_ids=first),                            # 5
        step("vmss_info", resource_group=RG, name="api"),                                  # 6
        flex_step("vmss_instance_upgrade", instance_ids=["api_nope"]),                     # 7 unknown
        flex_step("vmss_instance_upgrade"),                                                # 8 the rest
        flex_step("vmss_instance_upgrade"),                                                # 9 nothing left
    ], tmp_path, diff=False)
    r = [o["result"] for o in out]

    info = r[0]
    assert info["vmss"]["orchestration_mode"] == "Flexible" and info["vmss"]["platform_fault_domain_count"] == 2
    assert info["update_domains"] == []
    assert sorted(i["instance_id"] for i in info["instances"]) == names   # names, not numbers
    for item in info["instances"]:
        row = members[item["instance_id"]]
        assert (item["fault_domain"], item["zone"]) == (row["fault_domain"], row["zone"])
        assert item["update_domain"] is None and item["private_ip"] == row["ip"]
        assert item["health_state"] == "healthy" and item["latest_model_applied"] is True
    groups = {(g["zone"], g["fault_domain"]): g["instance_ids"] for g in info["fault_domains"]}
    assert sum(len(ids) for ids in groups.values()) == 4
    for name, row in members.items():
        assert name in groups[(row["zone"], row["fault_domain"])]
    assert not any(line.lstrip().split(" ")[0].startswith("UD") or " UD" in line for line in info["heatmap"][:-1])
    assert all(" FD" in line for line in info["heatmap"][:-1]), info["heatmap"]

    assert r[1]["changed"] is True, r[1].get("msg")
    assert r[2]["changed"] is True and writes(out[2]) == 0 and r[2]["upgraded"] == first, r[2]
    assert r[3].get("failed") and "update_domains" in r[3]["msg"] and "Flexible" in r[3]["msg"]
    assert r[4].get("failed") and "strategy=platform" in r[4]["msg"]
    assert writes(out[3]) == writes(out[4]) == 0

    # ONE manualupgrade call for the batch, carrying the member names
    assert not r[5].get("failed"), r[5].get("msg")
    assert r[5]["upgraded"] == first and r[5]["orchestration_mode"] == "Flexible"
    assert out[5]["requests"]["by_operation"].get("VirtualMachineScaleSets_UpdateInstances") == 1
    latest = {i["instance_id"]: i["latest_model_applied"] for i in r[6]["instances"]}
    assert latest == {name: name in first for name in names}

    assert r[7].get("failed") and "api_nope" in r[7]["msg"] and writes(out[7]) == 0
    assert sorted(r[8]["upgraded"]) == rest
    assert out[8]["requests"]["by_operation"].get("VirtualMachineScaleSets_UpdateInstances") == 1
    assert r[9]["changed"] is False and r[9]["upgraded"] == [] and writes(out[9]) == 0

    # the emulator upgraded each member once, and every member runs the new image
    after = fleet(fresh_emulator)
    assert {row["image_version"] for row in after.values()} == {"1.0.1"}
    started = [e["instance_id"] for e in fresh_emulator.events("instance_upgrade_start")
               if e.get("operation") != "create"]
    assert sorted(started) == sorted(row["instance_id"] for row in after.values()), started
