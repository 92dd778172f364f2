"""A surge rollback needs quota for its own scale-out: when Azure refuses it (QuotaExceeded), the rollback stops
before it deletes anything, says why, and the set keeps its capacity. Run by ansible-playbook against the
emulator (real SDK over HTTPS); judged from the emulator's fleet view, events and request counts."""
from __future__ import annotations

from collections import Counter

import yaml

from rollout_testlib import NEW, OLD, RG, fleet, image, read_json, role_play, scale_set, scenario, wait_for_rotation

SURGE = {"strategy": "surge", "surge_in_rotation_seconds": 1.5, "http_check": False,
         "batch_across_update_domains": True}


def test_a_surge_rollback_refused_for_quota_deletes_nothing_and_says_why(fresh_emulator, run_playbook, tmp_path):
    """capacity 4, batches of 2: the first batch replaces two old instances; one of the second batch's new instances
    never gets healthy (breach: its new ones are deleted again, no old one); the rollback restores the image and
    asks for its own scale-out (the third capacity raise), which Azure refuses for quota."""
    emulator = fresh_emulator
    emulator.load_scenario(scenario(scale_set(capacity=4, load_balancer=True)))
    emulator.set_faults([{"kind": "unhealthy_after_upgrade", "image_version": NEW, "every": 3},
                         {"kind": "scale_out_fails", "code": "QuotaExceeded", "every": 3}])
    wait_for_rotation(emulator, 4)
    emulator.clear_events()
    emulator.reset_requests()
    result_file = tmp_path / "result.json"
    play = role_play("image_rollout", result_file, resource_group=RG, name="web", image=image(NEW), rollback=True,
                     batch=2, health_timeout=4, **SURGE)

    run = run_playbook(yaml.safe_dump(play))

    assert run.rc != 0
    # three scale-outs were asked; the third (the rollback's) was refused at the request, nothing created by it
    refused = [e for e in emulator.events("fault_fired") if e["kind"] == "scale_out_fails"]
    assert len(refused) == 1
    created = Counter(e["instance_id"] for e in emulator.events("instance_upgrade_start") if e["operation"] == "create")
    assert len(created) == 4, f"only the two batches created instances: {dict(created)}"
    first_batch = sorted(created, key=int)[:2]
    # the rollback deleted nothing: the first batch's delete of two old ones and the breached batch's delete of its
    # own new ones are the only deletes
    assert emulator.requests()["by_operation"]["VirtualMachineScaleSets_DeleteInstances"] == 2
    rows = {r["instance_id"]: r for r in fleet(emulator)}
    assert len(rows) == 4, f"the set lost capacity: {sorted(rows)}"
    assert sorted(i for i in rows if int(i) < 4) == sorted(i for i in rows if rows[i]["image_version"] == OLD)
    assert sorted(i for i in rows if int(i) >= 4) == first_batch          # the upgraded ones are still serving
    assert all(rows[i]["image_version"] == NEW for i in first_batch)
    model = emulator.admin("GET", f"/_emulator/scale_sets/{RG}/web/instances")["model"]
    assert model["capacity"] == 4 and model["image_version"] == OLD     # the model was restored before the refusal
    # a rerun resumes from the right base: the surge tag, if the stopped rollback left it, holds the capacity
    assert model["tags"] in ({}, {"vmss-rollout-surge-base": "4"}), model["tags"]
    # says why, naming the instances it could not roll back and the refusal
    assert (f"The rollback restored the previous model but instance(s) {', '.join(first_batch)} did not go back to "
            "it") in run.output
    assert f"Could not scale scale set {RG}/web out to 6 instances: QuotaExceeded" in run.output
    result = read_json(result_file)
    assert result["status"] == "breached" and result["rolled_back"] == []
    assert sorted(result["upgraded"], key=int) == first_batch
