"""The rollout engine on a Flexible scale set and on a group of plain VMs, through ansible-playbook against the
emulator (real SDK), with faults: a member whose upgrade fails, an extension that makes VMs unhealthy (stop and
roll back), and a run killed mid-rollout then re-run. Judged from the emulator's events and state."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from collections import Counter

import yaml

from azure.core.rest import HttpRequest
from emu_sdk import compute_for
from rollout_testlib import FAST, HEALTH_EXTENSION, RG, image, read_json, role_play

NEW_IMAGE = image("2.0.0")
VM_HEALTH = dict(HEALTH_EXTENSION, properties=dict(HEALTH_EXTENSION["properties"], enableAutomaticUpgrade=False))
APP_V1 = {"name": "app", "properties": {"publisher": "Microsoft.Azure.Extensions", "type": "CustomScript",
                                        "typeHandlerVersion": "2.1", "settings": {"release": "1"}}}
APP_V2 = {"name": "app", "publisher": "Microsoft.Azure.Extensions", "type": "CustomScript",
          "type_handler_version": "2.1", "settings": {"release": "2"}}
ENGINE = {"poll_interval": 1, "health_timeout": 30, "wait_timeout": 120, "http_check": True, "http_retries": 2,
          "http_delay": 1}


def estate(flexible_capacity=0, vms=0):
    """Flexible set rg-roll/api over zones 1 and 2 with 2 fault domains, and plain VMs db-1.. in availability set db
    (update domain = index % 5), each with App Health and the app extension at release 1."""
    data = {"config": dict(FAST), "resource_groups": [{"name": RG, "location": "westeurope"}]}
    if flexible_capacity:
        data["scale_sets"] = [{
            "name": "api", "resource_group": RG, "orchestration_mode": "Flexible", "platform_fault_domain_count": 2,
            "zones": ["1", "2"], "capacity": flexible_capacity, "upgrade_policy": "Manual", "image": image("1.0.0"),
            "extensions": [HEALTH_EXTENSION], "app": {"port": 8080}}]
    if vms:
        data["virtual_machines"] = [{
            "name": "db-%d" % i, "resource_group": RG, "availability_set": "db", "image": image("1.0.0"),
            "extensions": [VM_HEALTH, APP_V1], "app": {"port": 8080}} for i in range(1, vms + 1)]
    return data


def members(emulator, name="api"):
    return emulator.admin("GET", f"/_emulator/scale_sets/{RG}/{name}/instances")["instances"]


def vm_rows(emulator):
    return {row["name"]: row for row in emulator.admin("GET", f"/_emulator/virtual_machines/{RG}")["virtual_machines"]}


def upgrade_timeline(emulator, operation=None):
    events = [e for e in emulator.events() if e["type"] in ("instance_upgrade_start", "instance_upgrade_end")
              and (operation is None or e.get("operation") == operation)]
    return sorted(events, key=lambda e: e["seq"])


def starts(events):
    return Counter(str(e["instance_id"]) for e in events if e["type"] == "instance_upgrade_start")


def in_flight(events):
    busy, seen = set(), []
    for event in events:
        if event["type"] == "instance_upgrade_start":
            busy.add(str(event["instance_id"]))
            seen.append(frozenset(busy))
        else:
            busy.discard(str(event["instance_id"]))
    return seen


def app_release(row):
    """The release the VM's own app runs (its /health lists the extensions it applied, with public settings)."""
    with urllib.request.urlopen(f"http://{row['ip']}:{row['app_port']}/health", timeout=5) as answer:  # noqa: S310
        return json.loads(answer.read())["extensions"]["app"]["release"]


def engine_play(**args):
    task = {"name": "Roll", "vmss.rollout.vmss_rollout_batches": dict(
        {"resource_group": RG, "max_unhealthy_percent": 100, **ENGINE}, **args), "register": "out"}
    save = {"name": "Keep the result", "ansible.builtin.copy": {"content": "{{ out | to_json }}", "dest": "out.json"}}
    return yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": [task, save]}])


def vm_group_play(**role_vars):
    variables = {"rolling_upgrade_resource_group": RG, "rolling_upgrade_name": "db",
                 "rolling_upgrade_virtual_machines": ["db-1", "db-2", "db-3", "db-4"],
                 "rolling_upgrade_extension": APP_V2, "rolling_upgrade_show_heatmap": False}
    variables.update({"rolling_upgrade_" + key: value for key, value in ENGINE.items()})
    variables.update(role_vars)
    return yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": [{
        "name": "Roll the group", "ansible.builtin.include_role": {"name": "vmss.rollout.rolling_upgrade",
                                                                   "tasks_from": "vm_group"},
        "vars": variables}]}])


def test_flexible_set_rolls_by_fault_domain_and_zone_stops_on_a_failed_member_and_resumes(
        fresh_emulator, run_playbook, tmp_path):
    emulator = fresh_emulator
    emulator.load_scenario(estate(flexible_capacity=4))
    placement = dict((m["instance_id"], (m["zone"], m["fault_domain"])) for m in members(emulator))
    assert len(set(placement.values())) == 4
    order = sorted(placement, key=lambda name: placement[name])
    broken = order[1]  # the second batch: zone 1, fault domain 1
    emulator.set_faults([{"kind": "upgrade_fails", "instance_ids": [broken]}])
    emulator.clear_events()
    # one run: the new image into the model, then kind uniform asked for the Flexible set, refused before a write
    setup = yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "New image in the model", "vmss.rollout.vmss_model_image": {
            "resource_group": RG, "name": "api", "image": NEW_IMAGE, "poll_interval": 1}},
        {"name": "Roll as if Uniform", "vmss.rollout.vmss_rollout_batches": {
            "resource_group": RG, "name": "api", "kind": "uniform"}, "register": "refused", "ignore_errors": True},
        {"name": "Count the writes", "ansible.builtin.copy": {"content": "{{ refused | to_json }}",
                                                              "dest": "refused.json"}}]}])
    emulator.reset_requests()

    assert run_playbook(setup).rc == 0
    refused = json.loads((tmp_path / "refused.json").read_text())
    assert refused["failed"] and "uses Flexible orchestration: kind uniform works on Uniform" in refused["msg"]
    model_writes = [e for e in emulator.events() if e["type"] == "model_write"]
    assert len(model_writes) == 1 and not upgrade_timeline(emulator)  # the image change only

    first = run_playbook(engine_play(name="api", batch_size="fault_domain", max_unhealthy_upgraded_percent=40))

    result = json.loads((tmp_path / "out.json").read_text())
    assert first.rc == 0, first.output
    assert result["kind"] == "flexible_scale_set"
    assert [b["label"] for b in result["planned"]["batches"]] == [
        "zone 1, fault domain 0", "zone 1, fault domain 1", "zone 2, fault domain 0", "zone 2, fault domain 1"]
    events = upgrade_timeline(emulator)
    # one member at a time, in plan order; the failed second batch breached 40% and nothing after it started
    assert [e["instance_id"] for e in events if e["type"] == "instance_upgrade_start"] == order[:2]
    assert all(len(batch) == 1 for batch in in_flight(events))
    assert "1 of 2 upgraded instances (50.0%) are unhealthy after batch 2/4" in result["tally"]["breach"]
    state = dict((m["instance_id"], m) for m in members(emulator))
    assert state[order[0]]["image_version"] == "2.0.0" and state[broken]["provisioning_state"] == "Failed"
    assert [state[name]["image_version"] for name in order[2:]] == ["1.0.0", "1.0.0"]

    emulator.clear_faults()
    second = run_playbook(engine_play(name="api", batch_size=2))

    assert second.rc == 0, second.output
    assert json.loads((tmp_path / "out.json").read_text())["tally"]["breach"] == ""
    counts = starts(upgrade_timeline(emulator))
    # the re-run upgraded the failed member again and the two left; the healthy one of the first run never twice
    assert counts == Counter({order[0]: 1, broken: 2, order[2]: 1, order[3]: 1})
    assert {m["image_version"] for m in members(emulator)} == {"2.0.0"}
    assert all(m["latest_model_applied"] for m in members(emulator))


def test_vm_group_extension_rollout_breaches_on_unhealthy_vms_and_rolls_back(fresh_emulator, run_playbook):
    emulator = fresh_emulator
    emulator.load_scenario(estate(vms=4))
    emulator.set_faults([{"kind": "unhealthy_after_upgrade",
                          "extension_setting": {"extension": "app", "name": "release", "value": "2"}}])
    emulator.clear_events()
    emulator.reset_requests()
    # --check first: the plan, no write, and a summary that says it predicts
    checked = run_playbook(vm_group_play(rolling_upgrade_rollback=True), check=True)
    assert checked.rc == 0, checked.output
    assert emulator.requests()["writes"] == 0
    assert "Rollout of extension app over db (check mode: nothing was changed; predicted): completed" \
        in checked.output, checked.output[-3000:]

    run = run_playbook(vm_group_play(rolling_upgrade_rollback=True, rolling_upgrade_max_unhealthy_upgraded_percent=0))

    assert run.rc != 0
    assert "Rollout of extension app over db stopped: 1 of 1 upgraded instances (100.0%) are unhealthy after " \
           "batch 1/4" in run.output
    assert "Rolled back: VM(s) db-1 are back on the previous extension." in run.output
    events = upgrade_timeline(emulator, "vm_extension")
    # db-1 (update domain 0) twice: the release 2 batch, then the rollback; no other VM touched
    assert starts(events) == Counter({"db-1": 2})
    rows = vm_rows(emulator)
    assert {name: app_release(row) for name, row in rows.items()} == {"db-1": "1", "db-2": "1", "db-3": "1",
                                                                      "db-4": "1"}
    assert rows["db-1"]["health"] == "healthy"


def test_vm_group_killed_mid_rollout_resumes_without_touching_a_vm_twice(
        fresh_emulator, run_playbook, ansible_env, tmp_path):
    emulator = fresh_emulator
    emulator.load_scenario(estate(vms=4))
    emulator.clear_events()
    playbook = tmp_path / "group.yml"
    playbook.write_text(vm_group_play(rolling_upgrade_http_check=False))
    first = subprocess.Popen(
        [ansible_env["PATH"].split(os.pathsep)[0] + "/ansible-playbook", str(playbook), "-i", "localhost,", "-c",
         "local"], env=ansible_env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while "db-2" not in starts(upgrade_timeline(emulator, "vm_extension")):
            assert first.poll() is None, "the first run ended before it could be interrupted"
            assert time.monotonic() < deadline, "the rollout never reached its second batch"
            time.sleep(0.05)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    assert set(starts(upgrade_timeline(emulator, "vm_extension"))) < {"db-1", "db-2", "db-3", "db-4"}

    run = run_playbook(playbook)

    assert run.rc == 0, run.output
    counts = starts(upgrade_timeline(emulator, "vm_extension"))
    assert counts == Counter({"db-1": 1, "db-2": 1, "db-3": 1, "db-4": 1}), counts
    assert {name: app_release(row) for name, row in vm_rows(emulator).items()} == {
        "db-1": "2", "db-2": "2", "db-3": "2", "db-4": "2"}
    assert "Skipped: db-1" in run.output
    # batches by the availability set's update domain: never two VMs changing at once
    assert all(len(batch) == 1 for batch in in_flight(upgrade_timeline(emulator, "vm_extension")))


def test_image_rollout_on_a_flexible_set_goes_by_fault_domain_and_rolls_back_by_member_name(
        fresh_emulator, run_playbook, tmp_path):
    """The rolling_upgrade role (through image_rollout) on a Flexible set: vmss_info describes the members, the plan
    goes by fault domain and zone, the engine detects the kind, and the rollback after an unhealthy batch puts the
    old image back on the member it upgraded (manualupgrade by name)."""
    emulator = fresh_emulator
    emulator.load_scenario(estate(flexible_capacity=4))
    placement = dict((m["instance_id"], (m["zone"], m["fault_domain"])) for m in members(emulator))
    first_member = sorted(placement, key=lambda name: placement[name])[0]
    emulator.set_faults([{"kind": "unhealthy_after_upgrade", "image_version": "2.0.0"}])
    emulator.clear_events()
    result_file = tmp_path / "result.json"

    run = run_playbook(yaml.safe_dump(role_play(
        "image_rollout", result_file, resource_group=RG, name="api", image=NEW_IMAGE, rollback=True,
        max_unhealthy_upgraded_percent=0, engine={"http_retries": 1})))

    assert run.rc != 0
    assert "Batch 1/4: zone 1, fault domain 0" in run.output
    # the plan and the summary speak of fault domains and zones, one row per (zone, fault domain)
    assert "4 batch(es) of 4 instance(s) (one fault domain at a time, zone by zone); 0 skipped." in run.output
    assert '"FD   zone  instances upgraded  skipped  failed  rolled back on latest model",' in run.output
    assert [line.strip() for line in run.output.splitlines() if line.strip().startswith(('"0    ', '"1    '))] == [
        '"0    1     1         1         0        0       1           1/1",',
        '"1    1     1         0         0        0       0           1/1",',
        '"0    2     1         0         0        0       0           1/1",',
        '"1    2     1         0         0        0       0           1/1",']
    assert read_json(result_file)["status"] == "rolled_back", run.output
    # the first member twice (the new image, then back), no other member touched; every member on 1.0.0
    assert starts(upgrade_timeline(emulator)) == Counter({first_member: 2})
    assert {m["image_version"] for m in members(emulator)} == {"1.0.0"}


def test_a_locked_flexible_member_is_protected_skipped_and_never_written(fresh_emulator, run_playbook, tmp_path):
    """Instance protection in Flexible mode is a resource lock: the member under a ReadOnly lock is in the plan's
    skipped list with the lock named, the others roll by fault domain and zone, and the locked one is never written
    (its upgrade would be refused with 409 ScopeLocked)."""
    emulator = fresh_emulator
    emulator.load_scenario(estate(flexible_capacity=4))
    placement = dict((m["instance_id"], (m["zone"], m["fault_domain"])) for m in members(emulator))
    order = sorted(placement, key=lambda name: placement[name])
    locked = order[1]
    client = compute_for(emulator)
    try:
        scope = "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachines/%s" % (
            emulator.env["AZURE_SUBSCRIPTION_ID"], RG, locked)
        answer = client.send_request(HttpRequest(
            "PUT", scope + "/providers/Microsoft.Authorization/locks/hold?api-version=2016-09-01",
            json={"properties": {"level": "ReadOnly", "notes": "under investigation"}}))
        assert answer.status_code == 201
    finally:
        client.close()
    emulator.clear_events()
    emulator.reset_requests()
    result_file = tmp_path / "result.json"

    run = run_playbook(yaml.safe_dump(role_play(
        "image_rollout", result_file, resource_group=RG, name="api", image=NEW_IMAGE)))

    assert run.rc == 0, run.output
    assert ("3 batch(es) of 3 instance(s) (one fault domain at a time, zone by zone); 1 skipped: protected by "
            "resource lock hold (ReadOnly): %s." % locked) in run.output
    # the members other than the locked one, each once, one at a time; the locked one never touched
    events = upgrade_timeline(emulator)
    assert starts(events) == Counter({name: 1 for name in order if name != locked})
    assert all(len(batch) == 1 for batch in in_flight(events))
    state = dict((m["instance_id"], m) for m in members(emulator))
    assert state[locked]["image_version"] == "1.0.0" and not state[locked]["latest_model_applied"]
    assert {state[name]["image_version"] for name in order if name != locked} == {"2.0.0"}
    # the summary's rows come from the engine's last read, by (zone, fault domain)
    rows = [line.strip() for line in run.output.splitlines() if line.strip().startswith(('"0    ', '"1    '))]
    assert rows == ['"0    1     1         1         0        0       0           1/1",',
                    '"1    1     1         0         1        0       0           0/1",',
                    '"0    2     1         1         0        0       0           1/1",',
                    '"1    2     1         1         0        0       0           1/1",']
    assert "Skipped: %s (protected by resource lock hold (ReadOnly))" % locked in run.output
