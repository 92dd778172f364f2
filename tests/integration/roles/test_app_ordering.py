"""App-driven ordering (issue 16): the instances' apps report phases and SkipUpgrade through App Health custom
metrics (rich health states); the rollout goes phase by phase, never upgrades the instance that asks to be skipped,
and its plan says so. Judged from the emulator's events and state, and from what the run printed."""
from __future__ import annotations

import yaml

from rollout_testlib import NEW, OLD, RG, image, image_versions, read_json, role_play, scale_set, scenario, \
    upgrade_events

# instance id -> what its app reports; the emulator puts instance i in update domain i % 5
APP_METRICS = {
    "0": {"rollingUpgrade": {"PhaseOrderingNumber": 2}},
    "1": {"rollingUpgrade": {"PhaseOrderingNumber": 2, "SkipUpgrade": False}},
    "2": {"rollingUpgrade": {"PhaseOrderingNumber": 0}},
    "3": {"rollingUpgrade": {"PhaseOrderingNumber": 0}},
    "4": {"rollingUpgrade": {"PhaseOrderingNumber": 0, "SkipUpgrade": True}},
    # "5" reports nothing: it goes after every phase
}
SKIP_REASON = "its app asks to skip the upgrade (App Health custom metrics: SkipUpgrade)"


def test_phases_order_the_rollout_and_skip_upgrade_is_honoured(fresh_emulator, run_playbook, tmp_path):
    emulator = fresh_emulator
    emulator.load_scenario(scenario(scale_set(capacity=6)))
    for instance_id, metrics in APP_METRICS.items():
        emulator.admin("POST", f"/_emulator/scale_sets/{RG}/web/instances/{instance_id}/custom_metrics", metrics)
    emulator.clear_events()
    result_file = tmp_path / "result.json"

    run = run_playbook(yaml.safe_dump(role_play(
        "image_rollout", result_file, resource_group=RG, name="web", image=image(NEW), http_check=False)))

    assert run.rc == 0, run.output
    starts = [str(e["instance_id"]) for e in upgrade_events(emulator) if e["type"] == "instance_upgrade_start"]
    # phase 0 (update domains 2, 3), then phase 2 (update domains 0, 1), then the instance reporting no phase
    assert starts == ["2", "3", "0", "1", "5"]
    # one batch at a time: each upgrade ended before the next began (batches never mix phases)
    timeline = [(e["type"], str(e["instance_id"])) for e in upgrade_events(emulator)]
    assert timeline == [(kind, i) for i in starts for kind in ("instance_upgrade_start", "instance_upgrade_end")]
    versions = image_versions(emulator)
    assert versions.pop("4") == OLD          # asked to be skipped: never touched
    assert set(versions.values()) == {NEW}
    # the plan says so, before anything is upgraded
    assert "Ordered by the phases the apps report (App Health custom metrics): phase 0, then phase 2, then " \
           "instances reporting none." in run.output
    assert "Batch 1/5: phase 0, update domain 2 — instances 2" in run.output
    assert f"Left out, {SKIP_REASON}: 1 instance(s): 4" in run.output
    assert {"instance_id": "4", "reason": SKIP_REASON} in read_json(result_file)["skipped"]
