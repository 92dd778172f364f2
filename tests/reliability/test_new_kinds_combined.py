"""Faults combined on a rollout of the two other kinds of target: a group of plain VMs (rolling_upgrade tasks_from
vm_group, an extension PUT VM by VM) and a Flexible scale set (image_rollout, manualupgrade by member name).

Through ansible-playbook with the real SDK against the emulator; every verdict comes from the emulator's events
and state (and an SDK read), the printed summary only compared WITH them.
"""
from __future__ import annotations

import json
import threading
from collections import Counter

import yaml

from reliability_helpers import HEALTH_EXTENSION, FAST_CONFIG, NEW_VERSION, OLD_VERSION, RG, image, wait_for

GROUP = ["vm-1", "vm-2", "vm-3"]   # availability set av: update domains 0, 1, 2 (one batch each)
APP_V1 = {"name": "app", "properties": {"publisher": "Microsoft.Azure.Extensions", "type": "CustomScript",
                                        "typeHandlerVersion": "2.1", "settings": {"release": "1"}}}
APP_V2 = {"name": "app", "publisher": "Microsoft.Azure.Extensions", "type": "CustomScript",
          "type_handler_version": "2.1", "settings": {"release": "2"}}
VM_HEALTH = dict(HEALTH_EXTENSION, properties=dict(HEALTH_EXTENSION["properties"], enableAutomaticUpgrade=False))
ENGINE = {"poll_interval": 1, "health_timeout": 20, "wait_timeout": 60, "http_check": False, "show_heatmap": False}


def vm_group_scenario() -> dict:
    return {"config": dict(FAST_CONFIG), "resource_groups": [{"name": RG, "location": "westeurope"}],
            "virtual_machines": [{"name": name, "resource_group": RG, "availability_set": "av", "image": image(OLD_VERSION),
                                  "extensions": [VM_HEALTH, APP_V1], "app": {"port": 8080}} for name in GROUP]}


def vm_group_play(result_file, **engine) -> str:
    variables = {"rolling_upgrade_resource_group": RG, "rolling_upgrade_name": "av",
                 "rolling_upgrade_virtual_machines": GROUP, "rolling_upgrade_extension": APP_V2}
    variables.update(("rolling_upgrade_" + key, value) for key, value in dict(ENGINE, **engine).items())
    return yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": [{
        "name": "Roll the group, keeping the result", "block": [{
            "name": "Roll the group", "vars": variables, "ansible.builtin.include_role": {
                "name": "vmss.rollout.rolling_upgrade", "tasks_from": "vm_group"}}],
        "always": [{"name": "Write the result", "ansible.builtin.copy": {
            "dest": str(result_file), "content": "{{ rolling_upgrade_result | default({}) | to_json }}"}}]}]}])


def changes(emulator, operation: str = "vm_extension") -> list[dict]:
    """Member changes in order: starts and ends of ``operation`` (an extension write, or manualupgrade)."""
    return [e for e in emulator.events() if e["type"] in ("instance_upgrade_start", "instance_upgrade_end")
            and e.get("operation") == operation]


def starts(events: list[dict]) -> Counter:
    return Counter(e["instance_id"] for e in events if e["type"] == "instance_upgrade_start")


def releases(sdk) -> dict[str, str]:
    """Each VM's app release, from its extension's model (an SDK read)."""
    return {name: sdk.virtual_machine_extensions.get(RG, name, "app").settings["release"] for name in GROUP}


def test_vm_group_hang_times_out_the_batch_stops_writes_nothing_more_and_a_rerun_converges(
        fresh_emulator, run_playbook, tmp_path, sdk):
    """vm-2's extension write hangs (update domain 1, batch 2) while GETs are throttled: the batch's call times out,
    the rollout stops with vm-3 untouched and nothing written after the timeout; once the hang ends, a rerun
    changes vm-3 only (vm-1 and vm-2 are on the new release) and completes."""
    emulator = fresh_emulator
    emulator.load_scenario(vm_group_scenario())
    wait_for(lambda: all(row["health"] == "healthy" for row in emulator.admin(
        "GET", f"/_emulator/virtual_machines/{RG}")["virtual_machines"]), what="the VMs to be healthy")
    emulator.set_faults([{"kind": "upgrade_hangs", "instance_ids": ["vm-2"], "count": 1},
                         {"kind": "throttle", "match": {"method": "GET"}, "every": 5, "retry_after": 0.2}])
    emulator.clear_events()
    result_file = tmp_path / "result.json"
    try:
        first = run_playbook(vm_group_play(result_file, wait_timeout=3), timeout=180)
        during = emulator.events()
    finally:
        emulator.clear_faults()   # the hang ends: vm-2's change finishes now

    assert first.rc != 0, first.output
    assert "did not finish in time" in first.output
    assert starts(changes(emulator)) == Counter({"vm-1": 1, "vm-2": 1}), "a batch started after the timeout"
    hung_write = max(e["seq"] for e in during if e["type"] == "model_write" and e.get("vm") == "vm-2")
    assert [e for e in during if e["type"] == "model_write" and e["seq"] > hung_write] == [], \
        "something was written after the batch timed out"
    summary = json.loads(result_file.read_text())
    assert summary["status"] == "breached"
    assert summary["upgraded"] == ["vm-1"] and [f["instance_id"] for f in summary["failed"]] == ["vm-2"], summary
    wait_for(lambda: [e for e in changes(emulator) if e["type"] == "instance_upgrade_end" and e["instance_id"] == "vm-2"],
             what="vm-2's change to end")
    emulator.clear_events()

    rerun = run_playbook(vm_group_play(result_file), timeout=180)

    assert rerun.rc == 0, rerun.output
    assert starts(changes(emulator)) == Counter({"vm-3": 1}), "the rerun changed a VM already on the release"
    assert releases(sdk) == {"vm-1": "2", "vm-2": "2", "vm-3": "2"}
    assert json.loads(result_file.read_text())["status"] == "completed"


def test_vm_group_rollback_meets_a_colleagues_edit_on_the_vm_and_still_puts_the_release_back(
        fresh_emulator, run_playbook, tmp_path, sdk):
    """Release 2 makes vm-1 unhealthy (a breach at 0%); meanwhile a colleague adds an extension to vm-1 through the
    SDK, whose operation is still running when the rollback writes vm-1 (409 Conflict). The rollback must wait it
    out, not give up: vm-1 ends on release 1 with the colleague's extension, nothing else is touched."""
    emulator = fresh_emulator
    emulator.load_scenario(vm_group_scenario())
    emulator.set_faults([{"kind": "unhealthy_after_upgrade",
                          "extension_setting": {"extension": "app", "name": "release", "value": "2"}}])
    emulator.clear_events()
    emulator.reset_requests()
    result_file = tmp_path / "result.json"
    log: list = []

    def colleague():
        # once vm-1's change ended: the colleague's write, held (a one-shot hang) until our rollback has met it
        wait_for(lambda: [e for e in changes(emulator) if e["type"] == "instance_upgrade_end"], timeout=120,
                 what="vm-1's change to end")
        hang = emulator.admin("POST", "/_emulator/faults", {"rules": [
            {"kind": "upgrade_hangs", "instance_ids": ["vm-1"], "count": 1}]})["rules"][0]["id"]
        poller = sdk.virtual_machine_extensions.begin_create_or_update(RG, "vm-1", "monitor", {
            "location": "westeurope", "properties": {"publisher": "Contoso.Monitoring", "type": "Probe",
                                                     "typeHandlerVersion": "1.0", "settings": {"owner": "colleague"}}})
        # ours (release 2), the colleague's, then the rollback's first try
        wait_for(lambda: emulator.requests()["by_operation"].get("VirtualMachineExtensions_CreateOrUpdate", 0) >= 3,
                 timeout=120, what="the rollback to write vm-1")
        emulator.admin("DELETE", f"/_emulator/faults/{hang}")
        log.append(poller.result().provisioning_state)

    helper = threading.Thread(target=colleague, daemon=True)
    helper.start()
    run = run_playbook(vm_group_play(result_file, rollback=True, max_unhealthy_upgraded_percent=0, health_timeout=3),
                       timeout=180)
    helper.join(timeout=60)

    assert log == ["Succeeded"], "the colleague's edit did not land"
    assert run.rc != 0, run.output
    events = changes(emulator)
    # vm-1: ours, the colleague's (its own change), the rollback; vm-2 and vm-3 never touched
    assert set(starts(events)) == {"vm-1"}, starts(events)
    assert releases(sdk)["vm-1"] == "1", run.output
    assert sdk.virtual_machine_extensions.get(RG, "vm-1", "monitor").settings == {"owner": "colleague"}
    assert releases(sdk) == {"vm-1": "1", "vm-2": "1", "vm-3": "1"}
    summary = json.loads(result_file.read_text())
    assert summary["status"] == "rolled_back" and summary["rolled_back"] == ["vm-1"], summary


def test_flexible_failed_and_unhealthy_member_in_one_batch_breach_together(fresh_emulator, run_playbook, tmp_path):
    """Batches of 3 (zone by zone) on a Flexible set of 6: in batch 1 one member's upgrade fails and another turns
    unhealthy on the new image. Each alone is 1 of 3 (33%), under the 34% threshold; together 2 of 3 breach it:
    the rollout stops after batch 1, zone 2 is never touched, and the summary says what the events say."""
    emulator = fresh_emulator
    emulator.load_scenario({"config": dict(FAST_CONFIG), "resource_groups": [{"name": RG, "location": "westeurope"}],
                            "scale_sets": [{"name": "flex", "resource_group": RG, "orchestration_mode": "Flexible",
                                            "platform_fault_domain_count": 2, "zones": ["1", "2"], "capacity": 6,
                                            "upgrade_policy": "Manual", "image": image(OLD_VERSION),
                                            "extensions": [HEALTH_EXTENSION], "app": {"port": 8080}}]})
    zone = {}
    for member in emulator.instances(RG, "flex"):
        zone.setdefault(member["zone"], []).append(member["instance_id"])
    broken, sick, fine = sorted(zone["1"])
    emulator.set_faults([{"kind": "upgrade_fails", "instance_ids": [broken]},
                         {"kind": "unhealthy_after_upgrade", "instance_ids": [sick]}])
    emulator.clear_events()
    result_file = tmp_path / "result.json"
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [{
        "name": "Roll, keeping the result", "block": [{
            "name": "Roll the image", "ansible.builtin.include_role": {"name": "vmss.rollout.image_rollout"},
            "vars": dict({"image_rollout_resource_group": RG, "image_rollout_name": "flex",
                          "image_rollout_image": image(NEW_VERSION), "image_rollout_batch": 3,
                          "image_rollout_batch_across_update_domains": True,
                          "image_rollout_max_unhealthy_upgraded_percent": 34, "image_rollout_max_unhealthy_percent": 100},
                         **{"image_rollout_" + k: v for k, v in ENGINE.items()})}],
        "always": [{"name": "Write the result", "ansible.builtin.copy": {
            "dest": str(result_file), "content": "{{ rolling_upgrade_result | default({}) | to_json }}"}}]}]}]

    run = run_playbook(yaml.safe_dump(play), timeout=180)

    assert run.rc != 0, run.output
    events = changes(emulator, "manualupgrade")
    assert set(starts(events)) == set(zone["1"]), "a batch started after the breach: %s" % starts(events)
    ends = dict((e["instance_id"], e["result"]) for e in events if e["type"] == "instance_upgrade_end")
    assert ends == {broken: "failed", sick: "succeeded", fine: "succeeded"}, ends
    became = {e["instance_id"] for e in emulator.events("health_change") if e["to"] == "unhealthy"}
    assert became == {sick}
    assert "2 of 3 upgraded instances" in run.output
    summary = json.loads(result_file.read_text())
    assert summary["status"] == "breached"
    assert sorted(summary["upgraded"]) == sorted([sick, fine]), summary
    assert [f["instance_id"] for f in summary["failed"]] == [broken], summary
    assert {m["instance_id"] for m in emulator.instances(RG, "flex") if m["image_version"] == NEW_VERSION} == {sick, fine}
