"""playbooks/mixed_estate.yml over plain VMs and a Uniform and a Flexible scale set, one VM failing the automatic
upgrade step: the rollout step still runs on every target and the play fails at the end naming the failure. Run by
ansible-playbook against the emulator; judged from the emulator's fleet view and the Azure SDK's view."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "roles"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "emulator"))

from emu_sdk import compute_for  # noqa: E402
from rollout_testlib import HEALTH_EXTENSION, RG, image, scale_set, scenario  # noqa: E402

PLAYBOOK = Path(__file__).resolve().parents[3] / "playbooks" / "mixed_estate.yml"
APP = {"name": "app", "publisher": "Microsoft.Azure.Extensions", "type": "CustomScript",
       "type_handler_version": "2.1", "settings": {"commandToExecute": "./deploy.sh 2"}}


def test_mixed_estate_playbook_goes_on_past_a_failed_target(fresh_emulator, run_playbook):
    data = scenario(scale_set("web", capacity=2),
                    scale_set("api", capacity=2, orchestration_mode="Flexible", platform_fault_domain_count=2))
    data["virtual_machines"] = [
        {"name": "db-1", "resource_group": RG, "availability_set": "db", "image": image("1.0.0"),
         "extensions": [HEALTH_EXTENSION], "app": {"port": 8080}},
        # no App Health extension: enrolling 'health' fails on it
        {"name": "jump", "resource_group": RG, "image": image("1.0.0"), "load_balancer_group": "jump"}]
    fresh_emulator.load_scenario(data)

    run = run_playbook(PLAYBOOK, extra_vars={
        "mixed_estate_targets": [{"kind": "scale_set", "resource_group": RG, "name": "web"},
                                 {"kind": "virtual_machines", "resource_group": RG, "names": ["jump"]},
                                 {"kind": "scale_set", "resource_group": RG, "name": "api"},
                                 {"kind": "virtual_machines", "resource_group": RG, "names": ["db-1"]}],
        "mixed_estate_rollout_extensions": [APP],
        "mixed_estate_rollout_options": {"batch": 1, "http_check": False, "poll_interval": 1, "health_timeout": 60}})

    assert run.rc != 0
    assert "automatic extension upgrade: Automatic extension upgrade could not be configured on %s jump" % RG \
        in run.output, run.output[-4000:]
    compute = compute_for(fresh_emulator)
    for name in ("web", "api"):
        profile = compute.virtual_machine_scale_sets.get(RG, name).virtual_machine_profile.extension_profile
        assert {e.name: e.enable_automatic_upgrade for e in profile.extensions}["health"] is True, name
    assert compute.virtual_machine_extensions.get(RG, "db-1", "health").enable_automatic_upgrade is True
    # the rollout step ran after the failed step, on every target (jump included: it has no health gate to fail)
    for row in fresh_emulator.admin("GET", f"/_emulator/scale_sets/{RG}/web/instances")["instances"]:
        assert "app" in row["extension_order"], row
    for row in fresh_emulator.admin("GET", f"/_emulator/virtual_machines/{RG}")["virtual_machines"]:
        assert "app" in row["extension_order"], row
