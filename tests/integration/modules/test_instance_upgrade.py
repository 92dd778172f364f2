"""vmss_instance_upgrade against the emulator: one manualupgrade per call, skips reported, health, idempotence,
a failed LRO still returns outcomes, and the platform rolling upgrade."""
from __future__ import annotations

from core_helpers import NEW, by_operation, core_step, run_steps, scale_set, scenario, writes

UPGRADE = "VirtualMachineScaleSets_UpdateInstances"


def outcome(result, instance_id):
    return next(i for i in result["instances"] if i["instance_id"] == instance_id)


def test_manual_upgrade_by_domain_ids_and_rest(fresh_emulator, run_playbook, tmp_path):
    fresh_emulator.load_scenario(scenario(scale_set("web", capacity=8, protected_instances=["3"]),
                                          scale_set("bad", capacity=2)))
    fresh_emulator.set_faults([{"kind": "upgrade_fails", "instance_ids": ["1"], "scale_set": "rg-core/bad",
                                "message": "disk exploded"}])
    steps = [
        core_step("vmss_model_image", image=NEW),                                              # 0
        core_step("vmss_instance_upgrade", check=True, update_domains=[0]),                    # 1 check
        core_step("vmss_instance_upgrade", update_domains=[0], wait_for_health=True, health_timeout=30),  # 2
        core_step("vmss_instance_upgrade", update_domains=[0]),                                # 3 idempotent
        core_step("vmss_instance_upgrade", instance_ids=["1", "3"]),                           # 4 3 protected
        core_step("vmss_instance_upgrade"),                                                    # 5 the rest
        core_step("vmss_instance_upgrade"),                                                    # 6 nothing left
        core_step("vmss_info"),                                                                # 7
        core_step("vmss_model_image", name="bad", image=NEW),                                  # 8
        core_step("vmss_instance_upgrade", name="bad"),                                        # 9 LRO fails
    ]
    out, _playbook = run_steps(run_playbook, fresh_emulator, steps, tmp_path, diff=True)
    r = [o["result"] for o in out]
    assert r[0]["changed"], r[0].get("msg")

    assert r[1]["changed"] is True and r[1]["upgraded"] == ["0", "5"] and writes(out[1]) == 0

    assert r[2]["changed"] is True and r[2]["upgraded"] == ["0", "5"], r[2].get("msg")
    assert writes(out[2]) == 1 and by_operation(out[2], UPGRADE) == 1
    for iid in ("0", "5"):
        inst = outcome(r[2], iid)
        assert inst["outcome"] == "upgraded" and inst["latest_model_applied"] is True
        assert inst["update_domain"] == 0 and inst["health_state"] == "healthy"
        assert inst["image"]["version"] == "1.0.1"
    assert r[2]["diff"]["before"]["outdated_instances"] == ["0", "5"]

    assert r[3]["changed"] is False and writes(out[3]) == 0
    assert r[3]["skipped"] == [{"instance_id": "0", "reason": "already on the latest model"},
                               {"instance_id": "5", "reason": "already on the latest model"}]

    assert r[4]["upgraded"] == ["1"] and writes(out[4]) == 1
    assert r[4]["skipped"] == [{"instance_id": "3", "reason": "protected from scale-set actions"}]
    assert outcome(r[4], "3")["outcome"] == "skipped" and outcome(r[4], "3")["protected"] is True

    assert sorted(r[5]["upgraded"]) == ["2", "4", "6", "7"] and by_operation(out[5], UPGRADE) == 1
    assert r[6]["changed"] is False and writes(out[6]) == 0 and r[6]["upgraded"] == []
    assert r[6]["skipped"] == [{"instance_id": "3", "reason": "protected from scale-set actions"}]

    latest = {i["instance_id"]: i["latest_model_applied"] for i in r[7]["instances"]}
    assert latest == {str(i): i != 3 for i in range(8)}
    # one upgrade call per real (non-check) step that had work: steps 2, 4 and 5, never one per instance
    upgrades = [e for e in fresh_emulator.events("lro_start") if e.get("operation") == UPGRADE and e.get("vmss") == "web"]
    assert len(upgrades) == 3

    # an upgrade LRO that ends Failed fails the task, with the outcomes still returned
    failed = r[9]
    assert failed["failed"] is True and by_operation(out[9], UPGRADE) == 1
    assert failed["msg"].startswith("Could not upgrade instances 0, 1 of scale set"), failed["msg"]
    assert failed["error_code"] and "request id" in failed["msg"]
    assert failed["upgraded"] == ["0"] and [f["instance_id"] for f in failed["failed_instances"]] == ["1"]
    assert outcome(failed, "1")["outcome"] == "failed"


def test_platform_rolling_upgrade(fresh_emulator, run_playbook, tmp_path):
    # Manual mode, so the model change itself starts nothing; the module starts Azure's OS rolling upgrade,
    # which leaves protected instance 2 out: it must be reported as skipped, not left unmentioned.
    fresh_emulator.load_scenario(scenario(scale_set("web", capacity=4, protected_instances=["2"], upgrade_policy={
        "mode": "Manual", "rollingUpgradePolicy": {"maxBatchInstancePercent": 50, "pauseTimeBetweenBatches": "PT0S"}})))
    steps = [
        core_step("vmss_model_image", image=NEW),
        core_step("vmss_instance_upgrade", check=True, strategy="platform"),
        core_step("vmss_instance_upgrade", strategy="platform", platform_upgrade="os"),
        core_step("vmss_instance_upgrade", strategy="platform", platform_upgrade="os"),
    ]
    out, _playbook = run_steps(run_playbook, fresh_emulator, steps, tmp_path)
    r = [o["result"] for o in out]
    assert r[0]["changed"], r[0].get("msg")
    protected = [{"instance_id": "2", "reason": "protected from scale-set actions"}]
    assert r[1]["changed"] is True and writes(out[1]) == 0
    assert sorted(r[1]["upgraded"]) == ["0", "1", "3"] and r[1]["skipped"] == protected
    assert r[2]["changed"] is True, r[2].get("msg")
    assert r[2]["rolling_upgrade"]["status"] == "Completed"
    assert r[2]["rolling_upgrade"]["history"] and by_operation(out[2], "VirtualMachineScaleSetRollingUpgrades_StartOSUpgrade") == 1
    assert sorted(r[2]["upgraded"]) == ["0", "1", "3"] and r[2]["failed_instances"] == []
    assert r[2]["skipped"] == protected
    assert {i["instance_id"]: (i["outcome"], i["reason"]) for i in r[2]["instances"]} == {
        "0": ("upgraded", None), "1": ("upgraded", None), "3": ("upgraded", None),
        "2": ("skipped", "protected from scale-set actions")}
    # every unprotected instance is current: nothing to start, and the protected one is still reported
    assert r[3]["changed"] is False and writes(out[3]) == 0
    assert r[3]["skipped"] == protected and r[3]["upgraded"] == []
    assert {i["instance_id"]: i["outcome"] for i in r[3]["instances"]} == {
        "0": "current", "1": "current", "3": "current", "2": "skipped"}
