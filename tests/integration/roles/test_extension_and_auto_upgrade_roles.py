"""extension_rollout (an application update through a CustomScript extension) and auto_extension_upgrade,
run by ansible-playbook against the emulator."""
from __future__ import annotations

import json
import urllib.request

import yaml

from rollout_testlib import (HEALTH_EXTENSION, RG, change_model_behind_the_engine, fleet, read_json, role_play,
                             scale_set, scenario, standalone_engine_with_rollback, upgrade_events, upgrade_starts)

SCRIPT_V1 = "https://example.invalid/app/deploy-v1.sh"
SCRIPT_V2 = "https://example.invalid/app/deploy-v2.sh"
APP_CONFIG = {"name": "app-config", "properties": {
    "publisher": "Microsoft.Azure.Extensions", "type": "CustomScript", "typeHandlerVersion": "2.1",
    "settings": {"fileUris": [SCRIPT_V1], "commandToExecute": "bash deploy-v1.sh"},
    "provisionAfterExtensions": ["health"]}}


def app_extensions(row: dict) -> dict:
    """What the instance's own app reports about its extensions (GET /health on its private IP)."""
    url = f"http://{row['ip']}:{row['app_port']}/health"
    with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - loopback instance address
        return json.loads(answer.read())["extensions"]


def test_extension_rollout_updates_the_application_everywhere(fresh_emulator, run_playbook, tmp_path):
    """Pointing the CustomScript extension at a new script and command rolls it to every instance, two at a
    time, with the health extension still provisioned before it."""
    emulator = fresh_emulator
    emulator.load_scenario(scenario(scale_set(capacity=4, extensions=[HEALTH_EXTENSION, APP_CONFIG])))
    emulator.clear_events()
    result_file = tmp_path / "result.json"
    health = {"name": "health", "publisher": "Microsoft.ManagedServices", "type": "ApplicationHealthLinux",
              "type_handler_version": "2.0", "settings": HEALTH_EXTENSION["properties"]["settings"]}
    app_v2 = {"name": "app-config", "publisher": "Microsoft.Azure.Extensions", "type": "CustomScript",
              "type_handler_version": "2.1", "provision_after": ["health"],
              "settings": {"fileUris": [SCRIPT_V2], "commandToExecute": "bash deploy-v2.sh"}}

    run = run_playbook(yaml.safe_dump(role_play(
        "extension_rollout", result_file, resource_group=RG, name="web", extensions=[health, app_v2], batch=2,
        batch_across_update_domains=True)))

    assert run.rc == 0, run.output
    assert "provisioning order: health -> app-config" in run.output
    rows = fleet(emulator)
    for row in rows:
        assert row["latest_model_applied"], row
        assert app_extensions(row)["app-config"] == app_v2["settings"]
        assert row["extension_order"].index("health") < row["extension_order"].index("app-config")
    assert set(upgrade_starts(emulator).values()) == {1}
    result = read_json(result_file)
    assert result["status"] == "completed"
    assert [len(batch["instance_ids"]) for batch in result["batches"]] == [2, 2]
    assert len(upgrade_events(emulator)) == 8


def test_auto_extension_upgrade_across_scale_sets_is_idempotent(fresh_emulator, run_playbook, tmp_path):
    emulator = fresh_emulator
    emulator.load_scenario(scenario(scale_set("web", capacity=1), scale_set("api", capacity=1)))
    result_file = tmp_path / "result.json"
    play = yaml.safe_dump(role_play(
        "auto_extension_upgrade", result_file, extensions=["health"],
        scale_sets=[{"resource_group": RG, "name": "web"}, {"resource_group": RG, "name": "api"}]))
    emulator.reset_requests()

    first = run_playbook(play)

    assert first.rc == 0, first.output
    result = read_json(result_file)
    assert [(row["name"], row["changed"]) for row in result] == [("web", True), ("api", True)]
    for row in result:
        assert [(e["name"], e["enable_automatic_upgrade"]) for e in row["extensions"]] == [("health", True)]
    assert emulator.requests()["writes"] == 2

    emulator.reset_requests()
    second = run_playbook(play)

    assert second.rc == 0, second.output
    assert [row["changed"] for row in read_json(result_file)] == [False, False]
    assert emulator.requests()["writes"] == 0


def test_auto_extension_upgrade_reports_each_scale_set_that_failed(fresh_emulator, run_playbook):
    emulator = fresh_emulator
    emulator.load_scenario(scenario(scale_set("web", capacity=1)))
    emulator.reset_requests()

    run = run_playbook(yaml.safe_dump(role_play(
        "auto_extension_upgrade", extensions=["health"],
        scale_sets=[{"resource_group": RG, "name": "web"}, {"resource_group": RG, "name": "missing"}])))

    assert run.rc != 0
    assert "could not be configured on" in run.output
    assert "missing" in run.output
    assert emulator.requests()["writes"] == 1


def test_standalone_engine_after_an_extension_change_does_not_claim_a_rollback(fresh_emulator, run_playbook,
                                                                               tmp_path):
    """rolling_upgrade on its own, rollback on, after an extension-only model change it was not told about: the
    image the outdated instances run is the model's image, so there is nothing it could restore. It says so and
    reports the rollout as breached, never as rolled back."""
    emulator = fresh_emulator
    emulator.load_scenario(scenario(scale_set(capacity=2, extensions=[HEALTH_EXTENSION, APP_CONFIG])))
    emulator.set_faults([{"kind": "unhealthy_after_upgrade",
                          "extension_setting": {"extension": "app-config", "name": "commandToExecute",
                                                "value": "bash deploy-v2.sh"}}])
    app_v2 = {"name": "app-config", "publisher": "Microsoft.Azure.Extensions", "type": "CustomScript",
              "type_handler_version": "2.1", "provision_after": ["health"],
              "settings": {"fileUris": [SCRIPT_V2], "commandToExecute": "bash deploy-v2.sh"}}
    change_model_behind_the_engine(run_playbook, "vmss_extension_sequence", {"name": "web", "extensions": [app_v2]})
    emulator.clear_events()
    result_file = tmp_path / "result.json"

    run = standalone_engine_with_rollback(run_playbook, result_file)

    assert run.rc != 0
    assert "No rollback: the previous model is unknown" in run.output
    assert "the previous model is restored" not in run.output
    assert "Rolled back: none" in run.output
    result = read_json(result_file)
    assert result["status"] == "breached"
    assert result["rolled_back"] == []
    assert set(upgrade_starts(emulator).values()) == {1}   # nothing went "back"
