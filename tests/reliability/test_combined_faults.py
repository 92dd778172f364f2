"""Faults combined on one rollout (image_rollout role through ansible-playbook, real SDK over HTTPS, the emulator).

Each test is one defect of issue 11 that a single fault could not show. Every verdict comes from the emulator's
events and state; where a test compares the collection's own summary, it compares it WITH the events (the summary
must say what the events say), never instead of them.
"""
from __future__ import annotations

import json
import threading
import time

import yaml

from reliability_helpers import (HEALTH_EXTENSION, NEW_VERSION, OLD_VERSION, RG, VMSS, fired, image, image_versions,
                                 rollout_play, scenario, upgrade_starts, wait_for)

# capacity 10, batch 5: batch 1 is update domains 0-2 (sorted by domain, then id), batch 2 the rest
FIRST_BATCH = ["0", "5", "1", "6", "2"]
SECOND_BATCH = ["7", "3", "8", "4", "9"]
# an extension a colleague adds through the SDK during the rollout (wire format)
MONITOR = {"properties": {"publisher": "Microsoft.Azure.Monitor", "type": "AzureMonitorLinuxAgent",
                          "typeHandlerVersion": "1.0", "settings": {"owner": "colleague"}}}


def recording_play(result_file, play: list | None = None, **engine) -> str:
    """rollout_play, plus an `always` that writes rolling_upgrade_result to ``result_file`` (as JSON)."""
    play = play or rollout_play(**engine)
    tasks = play[0]["tasks"]
    play[0]["tasks"] = [{
        "name": "Roll out, keeping the result",
        "block": tasks,
        "always": [{"name": "Write the result", "ansible.builtin.copy": {
            "dest": str(result_file), "content": "{{ rolling_upgrade_result | default({}) | to_json }}"}}],
    }]
    return yaml.safe_dump(play)


def upgrade_ends(emulator) -> dict[str, list[str]]:
    """Per instance, the results of its upgrades in order ("succeeded", "failed", ...)."""
    ends: dict[str, list[str]] = {}
    for event in emulator.events("instance_upgrade_end"):
        ends.setdefault(str(event["instance_id"]), []).append(event.get("result"))
    return ends


def became_unhealthy(emulator) -> set[str]:
    return {str(e["instance_id"]) for e in emulator.events("health_change") if e.get("to") == "unhealthy"}


def assert_summary_matches_events(summary: dict, emulator) -> None:
    """The returned upgraded / failed lists are what the emulator's upgrade events say (no rollback here)."""
    ends = upgrade_ends(emulator)
    succeeded = {i for i, results in ends.items() if results and str(results[0]).lower() == "succeeded"}
    failed_or_unfinished = set(upgrade_starts(emulator)) - succeeded
    assert set(summary["upgraded"]) == succeeded, (summary, ends)
    assert {f["instance_id"] for f in summary["failed"]} == failed_or_unfinished, (summary, ends)
    assert not set(summary["upgraded"]) & {f["instance_id"] for f in summary["failed"]}


def test_app_health_gate_runs_for_a_batch_with_a_failed_instance(fresh_emulator, run_playbook, tmp_path):
    """Defect a: one instance of batch 1 fails its upgrade, the other four turn unhealthy on the new image. The
    App Health wait must run for the batch anyway: 5 of 5 bad is a breach now, not one batch later."""
    emulator = fresh_emulator
    slow_health = scenario(capacity=10)
    # App Health reports 'initializing' for 1 s after the upgrade: a batch that does not wait for it sees no breach
    slow_health["config"]["health_grace_seconds"] = 1.0
    emulator.load_scenario(slow_health)
    emulator.set_faults([{"kind": "upgrade_fails", "instance_ids": ["0"]},
                         {"kind": "unhealthy_after_upgrade", "image_version": NEW_VERSION}])
    result_file = tmp_path / "result.json"

    result = run_playbook(recording_play(result_file, batch=5, batch_across_update_domains=True, http_check=False, health_timeout=20))

    assert result.rc != 0, result.output
    assert "Traceback" not in result.output
    starts = upgrade_starts(emulator)
    assert set(starts) == set(FIRST_BATCH), f"a batch started after batch 1 had breached: {dict(starts)}"
    assert became_unhealthy(emulator) >= {"5", "1", "6", "2"}
    assert len(fired(emulator, "upgrade_fails")) == 1
    summary = json.loads(result_file.read_text())
    assert summary["status"] == "breached"
    assert_summary_matches_events(summary, emulator)


def test_timed_out_batch_stops_the_rollout_and_reports_only_what_it_touched(fresh_emulator, run_playbook, tmp_path):
    """Defect b: instance 0 of batch 1 hangs and the upgrade call outlives wait_timeout. No later batch may start
    while it is still updating (its upgrade call would meet a 409), and instances never touched are not 'failed'."""
    emulator = fresh_emulator
    emulator.load_scenario(scenario(capacity=10))
    emulator.set_faults([{"kind": "upgrade_hangs", "instance_ids": ["0"]}])
    result_file = tmp_path / "result.json"
    try:
        result = run_playbook(recording_play(result_file, batch=5, batch_across_update_domains=True, http_check=False, wait_timeout=3), timeout=180)
        starts = upgrade_starts(emulator)
        calls = emulator.requests()["by_operation"].get("VirtualMachineScaleSets_UpdateInstances", 0)
    finally:
        emulator.clear_faults()   # releases the hung upgrade

    assert result.rc != 0, result.output
    assert "Traceback" not in result.output
    assert set(starts) == set(FIRST_BATCH), f"a batch started while instance 0 was still updating: {dict(starts)}"
    assert calls == 1, f"{calls} upgrade calls: a later batch was sent while batch 1 was in flight"
    summary = json.loads(result_file.read_text())
    assert summary["status"] == "breached"
    assert {f["instance_id"] for f in summary["failed"]} == {"0"}, summary
    assert set(summary["upgraded"]) == {"5", "1", "6", "2"}, summary
    assert not {f["instance_id"] for f in summary["failed"]} & set(SECOND_BATCH)


def test_dropped_connection_on_the_upgrade_call_is_reported_as_it_happened(fresh_emulator, run_playbook, tmp_path):
    """Defect h (1): the connection of batch 1's upgrade call drops before Azure answers (a POST is not retried).
    Nothing was upgraded: the rollout stops, and the summary says what the events say (no instance failed)."""
    emulator = fresh_emulator
    emulator.load_scenario(scenario(capacity=5))
    emulator.set_faults([{"kind": "drop_connection", "match": {"method": "POST", "path": "manualupgrade"},
                          "count": 1}])
    result_file = tmp_path / "result.json"

    result = run_playbook(recording_play(result_file, http_check=False))

    assert result.rc != 0, result.output
    assert "Traceback" not in result.output
    assert len(fired(emulator, "drop_connection")) == 1
    assert dict(upgrade_starts(emulator)) == {}, "the dropped call was retried or a later batch started"
    summary = json.loads(result_file.read_text())
    assert summary["status"] == "breached"
    assert_summary_matches_events(summary, emulator)
    assert "0" in {s["instance_id"] for s in summary["skipped"]}, summary


def test_concurrent_extension_edit_during_a_batch_is_not_a_failure(fresh_emulator, run_playbook, tmp_path, sdk):
    """Defect h (2): a colleague adds an extension while batch 1 waits for App Health. The model changed under the
    batch, so its instance is not on the newest model afterwards, yet it was upgraded and is healthy: the rollout
    completes, the summary's upgraded list is what the events say, and the colleague's extension survives."""
    emulator = fresh_emulator
    slow_health = scenario(capacity=3)
    slow_health["config"]["health_grace_seconds"] = 1.0   # the batch waits 1 s for App Health: the edit lands then
    emulator.load_scenario(slow_health)
    result_file = tmp_path / "result.json"
    outcome = {}
    editor = threading.Thread(target=colleague_adds_monitor, args=(emulator, sdk, "0", outcome))
    editor.start()
    try:
        result = run_playbook(recording_play(result_file, http_check=False))
    finally:
        editor.join(timeout=180)

    assert outcome.get("edited"), f"the colleague's edit did not happen: {outcome}"
    assert result.rc == 0, result.output
    assert set(image_versions(emulator).values()) == {NEW_VERSION}
    summary = json.loads(result_file.read_text())
    assert summary["status"] == "completed"
    assert_summary_matches_events(summary, emulator)
    assert set(summary["upgraded"]) == {"0", "1", "2"}
    names = {e.name for e in sdk.virtual_machine_scale_sets.get(RG, VMSS)
             .virtual_machine_profile.extension_profile.extensions}
    assert names == {HEALTH_EXTENSION["name"], "monitor"}
    assert OLD_VERSION not in image_versions(emulator).values()


def test_a_typod_placeholder_in_the_drain_url_is_refused_before_anything_is_written(fresh_emulator, run_playbook):
    """Defect e: drain_url "{privat_ip}" renders no URL for any instance, so the drain would drain nothing, silently.
    Refused before the model is touched, naming the option and the fields a placeholder may name."""
    emulator = fresh_emulator
    emulator.load_scenario(scenario(capacity=2))
    emulator.clear_events()
    emulator.reset_requests()

    result = run_playbook(yaml.safe_dump(rollout_play(drain=True, drain_url="http://{privat_ip}:8080/drain")))

    assert result.rc != 0
    assert "image_rollout_drain_url names unknown instance field(s) privat_ip" in result.output, result.output
    assert "may name: instance_id, id, name, update_domain" in result.output and "private_ip" in result.output
    assert emulator.requests()["writes"] == 0
    assert emulator.events("model_write") == [] and dict(upgrade_starts(emulator)) == {}


APP = {"name": "app", "properties": {"publisher": "Microsoft.Azure.Extensions", "type": "CustomScript",
                                     "typeHandlerVersion": "2.1", "settings": {"release": "good"}}}
LEGACY = {"name": "legacy", "properties": {"publisher": "Microsoft.Azure.Extensions", "type": "DockerExtension",
                                           "typeHandlerVersion": "1.0", "settings": {"mode": "old"}}}


def user_extension(wire: dict, **changes) -> dict:
    """A scenario (wire) extension in vmss_extension_sequence's option shape, with ``changes`` on top."""
    props = wire["properties"]
    ext = {"name": wire["name"], "publisher": props["publisher"], "type": props["type"],
           "type_handler_version": props["typeHandlerVersion"], "settings": props["settings"]}
    ext.update(changes)
    return ext


def extension_rollout_play(extensions: list, exclusive: bool = False, **engine) -> list:
    role_vars = {"extension_rollout_resource_group": RG, "extension_rollout_name": VMSS,
                 "extension_rollout_extensions": extensions, "extension_rollout_exclusive": exclusive}
    settings = {"poll_interval": 1, "http_delay": 1, "http_retries": 5, "health_timeout": 30, "wait_timeout": 60,
                "show_heatmap": False}
    settings.update(engine)
    role_vars.update({f"extension_rollout_{key}": value for key, value in settings.items()})
    return [{"name": "Extension rollout", "hosts": "localhost", "gather_facts": False,
             "tasks": [{"name": "Roll out the extensions",
                        "ansible.builtin.include_role": {"name": "vmss.rollout.extension_rollout"},
                        "vars": role_vars}]}]


def model_extensions(sdk) -> dict:
    profile = sdk.virtual_machine_scale_sets.get(RG, VMSS).virtual_machine_profile.extension_profile
    return {e.name: e for e in profile.extensions or []}


def colleague_adds_monitor(emulator, sdk, after_instance: str, outcome: dict) -> None:
    """Add the colleague's extension once ``after_instance``'s upgrade has ended (retried while ARM answers 409:
    the scale set refuses a model edit while one of its operations runs)."""
    from azure.core.exceptions import HttpResponseError
    try:
        wait_for(lambda: after_instance in upgrade_ends(emulator), timeout=120, what="the first upgrade to end")
        for _attempt in range(100):
            try:
                sdk.virtual_machine_scale_set_extensions.begin_create_or_update(RG, VMSS, "monitor", MONITOR).result()
                outcome["edited"] = True
                return
            except HttpResponseError as err:
                if err.status_code != 409:
                    raise
                time.sleep(0.05)
    except Exception as err:  # noqa: BLE001 - reported by the test's assertion
        outcome["error"] = repr(err)


def test_extension_rollback_restores_only_what_the_rollout_changed(fresh_emulator, run_playbook, sdk):
    """Defect c: an exclusive extension rollout updates 'app' (to a release that makes instances unhealthy), creates
    'vmaccess' and removes 'legacy'; a colleague adds 'monitor' during batch 1. The breach rolls back: 'app' gets
    its previous settings, 'vmaccess' goes, 'legacy' comes back, and the colleague's 'monitor' survives."""
    emulator = fresh_emulator
    slow_health = scenario(capacity=2, extensions=[HEALTH_EXTENSION, APP, LEGACY])
    slow_health["config"]["health_grace_seconds"] = 1.0   # the colleague's edit lands during batch 1's health wait
    emulator.load_scenario(slow_health)
    emulator.set_faults([{"kind": "unhealthy_after_upgrade",
                          "extension_setting": {"extension": "app", "name": "release", "value": "bad"}}])
    vmaccess = {"name": "vmaccess", "publisher": "Microsoft.OSTCExtensions", "type": "VMAccessForLinux",
                "type_handler_version": "1.5", "settings": {}}
    wanted = [user_extension(HEALTH_EXTENSION), user_extension(APP, settings={"release": "bad"}), vmaccess]
    outcome = {}
    editor = threading.Thread(target=colleague_adds_monitor, args=(emulator, sdk, "0", outcome))
    editor.start()
    try:
        result = run_playbook(yaml.safe_dump(extension_rollout_play(wanted, exclusive=True, rollback=True,
                                                                    http_check=False)))
    finally:
        editor.join(timeout=180)

    assert outcome.get("edited"), f"the colleague's edit did not happen: {outcome}"
    assert result.rc != 0, result.output
    assert "Traceback" not in result.output
    extensions = model_extensions(sdk)
    assert set(extensions) == {"health", "app", "legacy", "monitor"}, sorted(extensions)
    assert extensions["app"].properties.settings == {"release": "good"}
    assert extensions["legacy"].properties.settings == {"mode": "old"}
    assert extensions["monitor"].properties.settings == {"owner": "colleague"}
    assert dict(upgrade_starts(emulator)) == {"0": 2}, "instance 0 goes forward and back; instance 1 is untouched"


def test_an_exclusive_empty_extension_list_may_not_remove_the_health_signal(fresh_emulator, run_playbook, sdk):
    """Defect f: extensions: [] with exclusive: true removed every extension, App Health included, and the rollout
    then ran with no health signal. Refused before anything is written, naming the option that allows it."""
    emulator = fresh_emulator
    emulator.load_scenario(scenario(capacity=2, extensions=[HEALTH_EXTENSION, APP]))
    emulator.clear_events()
    emulator.reset_requests()

    result = run_playbook(yaml.safe_dump(extension_rollout_play([], exclusive=True, http_check=False)))

    assert result.rc != 0, result.output
    assert "Refusing to remove the Application Health extension 'health'" in result.output
    assert "allow_health_extension_removal: true" in result.output
    assert emulator.requests()["writes"] == 0
    assert emulator.events("model_write") == [] and dict(upgrade_starts(emulator)) == {}
    assert set(model_extensions(sdk)) == {"health", "app"}


def engine_play(**engine) -> list:
    """The rolling_upgrade role on its own (the model was changed beforehand), with fast settings."""
    settings = {"poll_interval": 1, "http_delay": 1, "http_retries": 5, "health_timeout": 30, "wait_timeout": 60,
                "show_heatmap": False, "http_check": False}
    settings.update(engine)
    role_vars = {"rolling_upgrade_resource_group": RG, "rolling_upgrade_name": VMSS}
    role_vars.update({f"rolling_upgrade_{key}": value for key, value in settings.items()})
    return [{"name": "Engine alone", "hosts": "localhost", "gather_facts": False,
             "tasks": [{"name": "Roll the instances", "ansible.builtin.include_role": {
                 "name": "vmss.rollout.rolling_upgrade"}, "vars": role_vars}]}]


def test_a_bad_rollback_target_is_refused_before_anything_is_written(fresh_emulator, run_playbook, sdk):
    """Defect d: a typo in rolling_upgrade_rollback_image was found only when a breach started the rollback, after
    instances were upgraded (and a rollout without a breach never noticed). Refused before the first write."""
    from azure.mgmt.compute.models import (ImageReference, VirtualMachineScaleSetUpdate,
                                           VirtualMachineScaleSetUpdateStorageProfile,
                                           VirtualMachineScaleSetUpdateVMProfile)
    emulator = fresh_emulator
    emulator.load_scenario(scenario(capacity=2))
    sdk.virtual_machine_scale_sets.begin_update(RG, VMSS, VirtualMachineScaleSetUpdate(
        virtual_machine_profile=VirtualMachineScaleSetUpdateVMProfile(
            storage_profile=VirtualMachineScaleSetUpdateStorageProfile(
                image_reference=ImageReference(publisher="Canonical", offer="ubuntu-24_04-lts", sku="server",
                                               version=NEW_VERSION))))).result()
    emulator.clear_events()
    emulator.reset_requests()
    typo = {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "versoin": OLD_VERSION}

    result = run_playbook(yaml.safe_dump(engine_play(rollback=True, rollback_image=typo)))

    assert result.rc != 0, result.output
    assert "rolling_upgrade_rollback_image cannot be restored on rollback, so nothing was changed" in result.output
    assert "versoin" in result.output
    assert emulator.requests()["writes"] == 0
    assert dict(upgrade_starts(emulator)) == {} and emulator.events("model_write") == []


def test_fleet_rollout_refuses_phases_it_would_never_run(fresh_emulator, run_playbook, repo_root):
    """Defect g: phase 0 (or a word, which became 0) put a scale set in no phase: nothing was rolled and the play
    ended in success. Refused with one message naming the option and the allowed phases, before anything is
    written."""
    emulator = fresh_emulator
    emulator.load_scenario(scenario(capacity=1))
    emulator.reset_requests()
    extra_vars = {"fleet_rollout_scale_sets": [{"resource_group": RG, "name": VMSS, "location": "westeurope",
                                                "phase": 0},
                                               {"resource_group": RG, "name": VMSS, "location": "eastus",
                                                "phase": "two"}],
                  "fleet_rollout_image": image(NEW_VERSION)}

    result = run_playbook(repo_root / "playbooks" / "fleet_rollout.yml", extra_vars=extra_vars)

    assert result.rc != 0, result.output
    assert ('fleet_rollout_scale_sets[].phase must be a whole number from 1 to 3 (or left out); got "0", "two".'
            in " ".join(result.output.split())), result.output
    assert len([line for line in result.output.splitlines() if "FAILED!" in line]) == 1
    assert emulator.requests()["writes"] == 0
    assert set(image_versions(emulator).values()) == {OLD_VERSION}
