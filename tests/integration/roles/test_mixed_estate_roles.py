"""auto_extension_upgrade and extension_rollout over a mixed list of plain VMs and Uniform and Flexible scale sets,
one target failing: the others are still done, and the play fails at the end naming the failure. Run by
ansible-playbook against the emulator; judged from the emulator (the Azure SDK's view, events, the fleet view)."""
from __future__ import annotations

import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "emulator"))

from emu_sdk import compute_for  # noqa: E402
from rollout_testlib import HEALTH_EXTENSION, RG, image, read_json, role_play, scale_set, scenario  # noqa: E402

APP = {"name": "app", "publisher": "Microsoft.Azure.Extensions", "type": "CustomScript",
       "type_handler_version": "2.1", "settings": {"commandToExecute": "./deploy.sh 2"}}


def estate():
    data = scenario(scale_set("web", capacity=2),
                    scale_set("api", capacity=2, orchestration_mode="Flexible", platform_fault_domain_count=2))
    vm = {"resource_group": RG, "availability_set": "db", "image": image("1.0.0"), "extensions": [HEALTH_EXTENSION],
          "app": {"port": 8080}}
    data["virtual_machines"] = [dict(vm, name="db-1"), dict(vm, name="db-2"),
                                # no App Health extension: naming 'health' on it fails, before anything is written
                                {"name": "jump", "resource_group": RG, "image": image("1.0.0"),
                                 "load_balancer_group": "jump"}]
    return data


def test_auto_extension_upgrade_mixed_list_one_failure_the_others_done(fresh_emulator, run_playbook, tmp_path):
    fresh_emulator.load_scenario(estate())
    result_file = tmp_path / "result.json"
    run = run_playbook(yaml.safe_dump(role_play(
        "auto_extension_upgrade", result_file, extensions=["health"], poll_interval=1, targets=[
            {"kind": "scale_set", "resource_group": RG, "name": "web"},
            {"kind": "virtual_machine", "resource_group": RG, "name": "jump"},
            {"kind": "flexible", "resource_group": RG, "name": "api"},
            {"kind": "virtual_machine", "resource_group": RG, "name": "db-1"},
        ])))

    assert run.rc != 0
    assert "could not be configured on %s jump" % RG in run.output, run.output[-3000:]
    rows = {row["name"]: row for row in read_json(result_file)}
    assert [name for name, row in rows.items() if row["failed"]] == ["jump"]
    assert rows["db-1"]["kind"] == "virtual_machine" and rows["db-1"]["changed"] is True

    compute = compute_for(fresh_emulator)
    for name in ("web", "api"):
        extensions = compute.virtual_machine_scale_sets.get(RG, name).virtual_machine_profile.extension_profile
        assert [e.enable_automatic_upgrade for e in extensions.extensions] == [True], name
    assert compute.virtual_machine_extensions.get(RG, "db-1", "health").enable_automatic_upgrade is True
    # db-2 was not listed and jump failed: neither was written
    assert not compute.virtual_machine_extensions.get(RG, "db-2", "health").enable_automatic_upgrade
    assert not [e for e in fresh_emulator.events("model_write") if e.get("vm") in ("db-2", "jump")
                and e.get("operation") != "scenario"]


def test_extension_rollout_mixed_list_one_failure_the_others_rolled(fresh_emulator, run_playbook, tmp_path):
    fresh_emulator.load_scenario(estate())
    fresh_emulator.clear_events()
    run = run_playbook(yaml.safe_dump(role_play(
        "extension_rollout", None, extensions=[APP], batch=1, http_check=False, targets=[
            {"kind": "scale_set", "resource_group": RG, "name": "web"},
            {"kind": "scale_set", "resource_group": RG, "name": "missing"},
            {"kind": "scale_set", "resource_group": RG, "name": "api"},
            {"kind": "virtual_machines", "resource_group": RG, "names": ["db-1", "db-2"]},
        ])))

    assert run.rc != 0
    assert "The extension rollout failed on 1 of 4 target(s)" in run.output, run.output[-4000:]
    assert "missing: FAILED" in run.output
    # an unnamed VM group is called by its VMs, once
    assert "%s/VMs db-1, db-2: Batch 1/2" % RG in run.output, run.output[-4000:]

    # every other target carries the new extension on every machine, as the emulator sees them
    for row in fresh_emulator.admin("GET", f"/_emulator/scale_sets/{RG}/web/instances")["instances"]:
        assert "app" in row["extension_order"] and row["latest_model_applied"], row
    machines = fresh_emulator.admin("GET", f"/_emulator/virtual_machines/{RG}")["virtual_machines"]
    members = [row for row in machines if row["kind"] == "flexible_member"]
    assert len(members) == 2
    for row in members + [row for row in machines if row["name"] in ("db-1", "db-2")]:
        assert "app" in row["extension_order"], row
    assert "app" not in next(row for row in machines if row["name"] == "jump")["extension_order"]
