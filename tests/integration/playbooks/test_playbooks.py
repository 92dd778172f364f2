"""The AWX-ready playbooks and the demo, run end to end against the emulator (ansible-playbook, real SDK)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "roles"))
from rollout_testlib import (FAST_ENGINE, NEW, failure_lines, image, image_versions,  # noqa: E402
                             in_flight_sets, scale_set, scenario, upgrade_events, upgrade_starts)

REPO = Path(__file__).resolve().parents[3]
PLAYBOOKS = REPO / "playbooks"
FAST_IMAGE_ROLLOUT = {f"image_rollout_{key}": value for key, value in FAST_ENGINE.items()}


def fleet_scenario() -> dict:
    sets = [scale_set("web", capacity=2, rg="rg-we"), scale_set("web", capacity=2, rg="rg-ne"),
            scale_set("web", capacity=2, rg="rg-us")]
    return scenario(*sets, locations={"rg-we": "westeurope", "rg-ne": "northeurope", "rg-us": "eastus"})


def starts_and_ends(emulator, rg: str) -> tuple[list[int], list[int]]:
    events = [e for e in upgrade_events(emulator) if e.get("resource_group", "").lower() == rg]
    return ([e["seq"] for e in events if e["type"] == "instance_upgrade_start"],
            [e["seq"] for e in events if e["type"] == "instance_upgrade_end"])


def test_fleet_rollout_runs_paired_regions_in_different_phases(fresh_emulator, run_playbook):
    """westeurope and eastus roll together in phase 1 (in parallel, through forks); northeurope, westeurope's
    pair, only starts once phase 1 has finished."""
    emulator = fresh_emulator
    emulator.load_scenario(fleet_scenario())
    emulator.clear_events()
    extra_vars = {
        "fleet_rollout_scale_sets": [
            {"resource_group": "rg-we", "name": "web", "location": "westeurope"},
            {"resource_group": "rg-ne", "name": "web", "location": "northeurope"},
            {"resource_group": "rg-us", "name": "web", "location": "eastus"}],
        "fleet_rollout_image": image(NEW), **FAST_IMAGE_ROLLOUT}

    run = run_playbook(PLAYBOOKS / "fleet_rollout.yml", extra_vars=extra_vars)

    assert run.rc == 0, run.output
    for rg in ("rg-we", "rg-ne", "rg-us"):
        assert set(image_versions(emulator, "web", rg).values()) == {NEW}
    we_starts, we_ends = starts_and_ends(emulator, "rg-we")
    us_starts, us_ends = starts_and_ends(emulator, "rg-us")
    ne_starts, _ne_ends = starts_and_ends(emulator, "rg-ne")
    assert len(we_starts) == len(us_starts) == len(ne_starts) == 2
    # phase 2 begins after everything of phase 1 ended
    assert min(ne_starts) > max(we_ends + us_ends)
    # phase 1's scale sets progressed together, not one after the other
    assert min(us_starts) < max(we_starts) and min(we_starts) < max(us_starts)
    assert "Phase 1: rg-we/web (westeurope), rg-us/web (eastus)" in run.output
    assert "Phase 2: rg-ne/web (northeurope)" in run.output
    assert "phase 2 rg-ne/web (northeurope): completed" in run.output
    # phase 3 has no scale set: its play matches nothing, quietly
    assert "Could not match supplied host pattern" not in run.output

    # a rerun finds every set done: nothing written, and the recap says nothing changed
    emulator.reset_requests()
    again = run_playbook(PLAYBOOKS / "fleet_rollout.yml", extra_vars=extra_vars)
    assert again.rc == 0, again.output
    assert emulator.requests()["writes"] == 0
    recap = again.output.split("PLAY RECAP")[-1]
    assert recap.count("changed=0") == 4 and "changed=1" not in recap, recap  # localhost and the 3 scale sets


def test_fleet_rollout_approval_gate_without_a_terminal_stops_before_the_next_phase(fresh_emulator, run_playbook):
    """With fleet_rollout_approve_phases, phase 2 waits for a "yes"; under a job with no terminal nothing answers, so
    phase 1 rolls, phase 2 is never touched, and the fleet ends as stopped (not failed)."""
    emulator = fresh_emulator
    emulator.load_scenario(fleet_scenario())
    emulator.clear_events()
    extra_vars = {
        "fleet_rollout_scale_sets": [
            {"resource_group": "rg-we", "name": "web", "location": "westeurope"},
            {"resource_group": "rg-ne", "name": "web", "location": "northeurope"}],
        "fleet_rollout_image": image(NEW), "fleet_rollout_approve_phases": True, **FAST_IMAGE_ROLLOUT}

    run = run_playbook(PLAYBOOKS / "fleet_rollout.yml", extra_vars=extra_vars)

    assert run.rc == 0, run.output
    assert set(image_versions(emulator, "web", "rg-we").values()) == {NEW}
    assert set(image_versions(emulator, "web", "rg-ne").values()) == {"1.0.0"}
    assert starts_and_ends(emulator, "rg-ne")[0] == []
    assert "Stopped before phase 2 as asked: it was not approved" in run.output
    assert "phase 2 rg-ne/web (northeurope): not started (a phase was not approved)" in run.output


def test_fleet_rollout_refuses_paired_regions_in_one_phase(fresh_emulator, run_playbook):
    emulator = fresh_emulator
    emulator.load_scenario(fleet_scenario())
    emulator.reset_requests()
    extra_vars = {
        "fleet_rollout_scale_sets": [
            {"resource_group": "rg-we", "name": "web", "location": "westeurope", "phase": 1},
            {"resource_group": "rg-ne", "name": "web", "location": "northeurope", "phase": 1}],
        "fleet_rollout_image": image(NEW)}

    run = run_playbook(PLAYBOOKS / "fleet_rollout.yml", extra_vars=extra_vars)

    assert run.rc != 0
    assert "Paired regions share a phase: northeurope and westeurope" in run.output
    assert len(failure_lines(run.output)) == 1, failure_lines(run.output)
    assert emulator.requests()["total"] == 0


def test_fleet_rollout_one_phase_as_two_slices(fresh_emulator, run_playbook, tmp_path):
    """The scale sets as inventory hosts (explicit phases, so that every slice plans alike; eastus gets phase 1
    from the region pairs), one phase per run and each run sliced with --limit (AWX job slicing): the two slices
    of phase 1 together upgrade each phase-1 set's instances exactly once, and the phase-2 set
    (northeurope, westeurope's pair) stays untouched although the second slice's --limit names it."""
    emulator = fresh_emulator
    emulator.load_scenario(scenario(*(scale_set("web", capacity=1, rg=rg) for rg in ("rg-we", "rg-ne", "rg-us")),
                                    locations={"rg-we": "westeurope", "rg-ne": "northeurope", "rg-us": "eastus"}))
    emulator.clear_events()
    inventory = tmp_path / "fleet.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"fleet_scale_sets": {"hosts": {
        f"{rg}-web": {"fleet_rollout_target": dict(resource_group=rg, name="web", location=location, **phase)}
        for rg, location, phase in (("rg-we", "westeurope", {"phase": 1}), ("rg-us", "eastus", {}),
                                    ("rg-ne", "northeurope", {"phase": 2}))}}}}}))
    extra_vars = {"fleet_rollout_image": image(NEW), "fleet_rollout_only_phase": 1, **FAST_IMAGE_ROLLOUT}

    for limit in ("rg-we-web", "rg-us-web,rg-ne-web"):
        run = run_playbook(PLAYBOOKS / "fleet_rollout.yml", inventory=str(inventory), extra_vars=extra_vars,
                           args=("--limit", limit))
        assert run.rc == 0, run.output

    starts = Counter((e["resource_group"].lower(), str(e["instance_id"]))
                     for e in upgrade_events(emulator) if e["type"] == "instance_upgrade_start")
    assert starts == {("rg-we", "0"): 1, ("rg-us", "0"): 1}, starts
    assert set(image_versions(emulator, "web", "rg-ne").values()) == {"1.0.0"}


def test_fleet_rollout_check_mode_plans_every_scale_set_and_reports_each(fresh_emulator, run_playbook, tmp_path):
    """--check on the fleet: each scale set prints the plan its real run would follow, nothing is written, and
    image_rollout_report_file with {resource_group} and {name} gives one report per scale set; a shared report path
    (each scale set overwriting the others') is refused before anything is read."""
    emulator = fresh_emulator
    emulator.load_scenario(fleet_scenario())
    emulator.reset_requests()
    fleet = {"fleet_rollout_scale_sets": [{"resource_group": "rg-we", "name": "web", "location": "westeurope"},
                                          {"resource_group": "rg-ne", "name": "web", "location": "northeurope"}],
             "fleet_rollout_image": image(NEW), **FAST_IMAGE_ROLLOUT}

    shared = run_playbook(PLAYBOOKS / "fleet_rollout.yml", check=True,
                          extra_vars=dict(fleet, image_rollout_report_file=str(tmp_path / "report.json")))

    assert shared.rc != 0
    assert "image_rollout_report_file must contain {resource_group} and {name} in a fleet" in shared.output
    assert emulator.requests()["total"] == 0

    run = run_playbook(PLAYBOOKS / "fleet_rollout.yml", check=True, extra_vars=dict(
        fleet, image_rollout_report_file=str(tmp_path / "{resource_group}-{name}.json")))

    assert run.rc == 0, run.output
    assert emulator.requests()["writes"] == 0
    for rg in ("rg-we", "rg-ne"):
        assert f"Plan for {rg}/web (after the model change): 2 batch(es), 2 instance(s)." in run.output
        report = json.loads((tmp_path / f"{rg}-web.json").read_text())
        assert (report["resource_group"], report["check_mode"], sorted(report["upgraded"])) == (rg, True, ["0", "1"])
    assert set(image_versions(emulator, "web", "rg-we").values()) == {"1.0.0"}


def six_outdated_instances_and_their_inventory(emulator, run_module, tmp_path, faults=(), **extra) -> Path:
    """A scale set of 6 whose model moved to NEW, and an inventory file of the vmss.rollout.vmss plugin for it."""
    emulator.load_scenario(scenario(scale_set(capacity=6, **extra)))
    if faults:
        emulator.set_faults(list(faults))
    changed = run_module("vmss_model_image", {"resource_group": "rg-roll", "name": "web", "image": image(NEW)})
    assert changed["changed"], changed
    emulator.clear_events()
    inventory = tmp_path / "azure.vmss.yml"
    inventory.write_text(yaml.safe_dump({"plugin": "vmss.rollout.vmss", "resource_groups": ["rg-roll"]}))
    return inventory


def test_inventory_rollout_batches_by_update_domain(fresh_emulator, run_playbook, run_module, tmp_path):
    """Hosts from the vmss.rollout.vmss inventory plugin: one serial batch per update domain, one upgrade call
    per batch, a per-host HTTP check; every outdated instance upgraded once, in update-domain order. With the drain
    hook, instance 5, already on the latest model (an earlier run), is never drained: nothing would restart it and
    it would stay out of rotation."""
    emulator = fresh_emulator
    inventory = six_outdated_instances_and_their_inventory(emulator, run_module, tmp_path)
    assert run_module("vmss_instance_upgrade", {"resource_group": "rg-roll", "name": "web",
                                                "instance_ids": ["5"]})["changed"]
    emulator.clear_events()
    emulator.reset_requests()

    run = run_playbook(PLAYBOOKS / "inventory_rollout.yml", inventory=str(inventory), extra_vars={
        "inventory_rollout_vmss": "web", "inventory_rollout_http_delay": 1, "inventory_rollout_poll_interval": 1,
        "inventory_rollout_drain": True, "inventory_rollout_drain_seconds": 1})

    assert run.rc == 0, run.output
    assert set(image_versions(emulator).values()) == {NEW}
    assert upgrade_starts(emulator) == {"0": 1, "1": 1, "2": 1, "3": 1, "4": 1}
    rows = emulator.admin("GET", "/_emulator/scale_sets/rg-roll/web/instances")["instances"]
    assert [row["instance_id"] for row in rows if row["drained"]] == [], rows
    # drained: each upgraded instance's health changed (its drain) before its upgrade started; 5's never changed
    events = emulator.events()
    for instance_id in ("0", "1", "2", "3", "4"):
        mine = [e for e in events if str(e.get("instance_id")) == instance_id]
        first_change = next(i for i, e in enumerate(mine) if e["type"] == "health_change")
        first_start = next(i for i, e in enumerate(mine) if e["type"] == "instance_upgrade_start")
        assert first_change < first_start, (instance_id, mine)
    assert not [e for e in events if e["type"] == "health_change" and str(e.get("instance_id")) == "5"]
    events = upgrade_events(emulator)
    for batch in in_flight_sets(events):
        assert len({int(i) % 5 for i in batch}) == 1, f"two update domains out of service at once: {sorted(batch)}"
    order = []
    for event in events:
        domain = int(event["instance_id"]) % 5
        if event["type"] == "instance_upgrade_start" and domain not in order:
            order.append(domain)
    assert order == [0, 1, 2, 3, 4]
    assert emulator.requests()["by_operation"]["VirtualMachineScaleSets_UpdateInstances"] == 5
    assert "Update domain 0 — instances 0, 5" in run.output


def test_inventory_rollout_stops_at_max_fail_percentage(fresh_emulator, run_playbook, run_module, tmp_path):
    """An image whose instances turn unhealthy: the per-host HTTP check fails in the first update domain and
    max_fail_percentage (0) ends the play there; no other update domain is touched."""
    emulator = fresh_emulator
    inventory = six_outdated_instances_and_their_inventory(emulator, run_module, tmp_path,
                                                           faults=[{"kind": "unhealthy_after_upgrade",
                                                                    "image_version": NEW}])

    run = run_playbook(PLAYBOOKS / "inventory_rollout.yml", inventory=str(inventory), extra_vars={
        "inventory_rollout_vmss": "web", "inventory_rollout_http_delay": 1, "inventory_rollout_http_retries": 1,
        "inventory_rollout_poll_interval": 1, "inventory_rollout_health_timeout": 30})

    assert run.rc != 0
    assert "Update domain 0 — instances 0, 5" in run.output
    assert "Update domain 1" not in run.output
    assert sorted(upgrade_starts(emulator)) == ["0", "5"]
    assert emulator.requests()["by_operation"]["VirtualMachineScaleSets_UpdateInstances"] == 1


def test_inventory_rollout_with_limit_keeps_update_domains_apart_and_never_reports_a_skipped_instance_ok(
        fresh_emulator, run_playbook, run_module, tmp_path):
    """--limit to one instance of update domains 1, 2 and 3: three batches of one (not one batch sized from the
    whole update-domain group), and the protected instance 3, which is not upgraded, fails instead of passing."""
    emulator = fresh_emulator
    inventory = six_outdated_instances_and_their_inventory(emulator, run_module, tmp_path, protected_instances=["3"])

    run = run_playbook(PLAYBOOKS / "inventory_rollout.yml", inventory=str(inventory), args=[
        "--limit", "localhost:web_1:web_2:web_3"], extra_vars={
        "inventory_rollout_vmss": "web", "inventory_rollout_http_delay": 1, "inventory_rollout_poll_interval": 1,
        "inventory_rollout_max_fail_percentage": 100})

    assert run.rc != 0, run.output
    assert sorted(upgrade_starts(emulator)) == ["1", "2"]
    for batch in in_flight_sets(upgrade_events(emulator)):
        assert len({int(i) % 5 for i in batch}) == 1, f"two update domains out of service at once: {sorted(batch)}"
    assert "Instance 3 was not upgraded: protected from scale-set actions" in run.output
    recap = {line.split()[0]: line for line in run.output.splitlines() if ": ok=" in line}
    assert "failed=1" in recap["web_3"] and "failed=0" in recap["web_1"] and "failed=0" in recap["web_2"]


def test_inventory_rollout_check_mode_prints_the_plan_and_writes_nothing(
        fresh_emulator, run_playbook, run_module, tmp_path):
    """--check printed no plan: now the plan (update domains of the hosts in play, exclusions grouped by reason,
    --limit said so) and the serial batches the real run takes, with no write to Azure."""
    emulator = fresh_emulator
    inventory = six_outdated_instances_and_their_inventory(emulator, run_module, tmp_path, protected_instances=["3"])
    # instance 5 is already on the latest model (an earlier, partial run)
    assert run_module("vmss_instance_upgrade", {"resource_group": "rg-roll", "name": "web",
                                                "instance_ids": ["5"]})["changed"]
    emulator.reset_requests()

    run = run_playbook(PLAYBOOKS / "inventory_rollout.yml", inventory=str(inventory), check=True, args=[
        "--limit", "localhost:web_0:web_1:web_3:web_5"], extra_vars={"inventory_rollout_vmss": "web"})

    assert run.rc == 0, run.output
    assert emulator.requests()["writes"] == 0
    assert image_versions(emulator) == {"0": "1.0.0", "1": "1.0.0", "2": "1.0.0", "3": "1.0.0", "4": "1.0.0",
                                        "5": NEW}
    text = run.output.replace("\\u2014", "\u2014")
    for line in ("Plan for rg-roll/web: 2 batch(es), 2 instance(s).",
                 "Batch 1/2: update domain 0 \u2014 instances 0", "Batch 2/2: update domain 1 \u2014 instances 1",
                 "Left out, already on the latest model: 1 instance(s): 5",
                 "Left out, not in play (--limit): 2 instance(s): 2, 4",
                 "Left out, protected from scale-set actions: 1 instance(s): 3"):
        assert line in text, text
    # the serial batches agree with the plan: 5 is not announced as to be upgraded
    assert ("Update domain 0 \u2014 instances 0, 5 (web_0, web_5) (check mode: would upgrade 0; already on the "
            "latest model: 5)") in text
    assert "Update domain 1 \u2014 instances 1 (web_1) (check mode: not upgraded)" in text
    assert ("Update domain 3 \u2014 instances 3 (web_3) (check mode: nothing to upgrade; protected from scale-set "
            "actions: 3)") in text


def test_make_demo_script_rolls_the_demo_scale_set(ansible_env, tmp_path):
    """tools/demo.py (what `make demo` runs) end to end: its own emulator, the live rollout, and the report."""
    env = {k: v for k, v in ansible_env.items() if not k.startswith("AZURE_")}
    demo = subprocess.run([sys.executable, str(REPO / "tools" / "demo.py")], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=900, check=False)
    output = demo.stdout + demo.stderr

    assert demo.returncode == 0, output[-6000:]
    assert "UD0 [.][.][.]  0 5 10" in output          # heatmap before
    assert "Batch 1/5: update domain 0 — instances 0, 5, 10" in output
    assert "Batch 5/5: update domain 4 — instances 4, 9, 14" in output
    assert "UD4 [#][#][#]  4 9 14" in output          # heatmap after
    assert "15/15 instances on image 2.0.0" in output
    assert ", 0 failed." in output
    assert "Demo passed." in output
    assert "Traceback" not in output


def test_extension_and_auto_upgrade_playbooks_run_as_job_templates(fresh_emulator, run_playbook, ansible_env,
                                                                   tmp_path):
    """The two remaining AWX playbooks, driven only by extra vars: an extension change rolled one update domain at
    a time, then automatic extension upgrade turned on for the health extension; its second run by FQCN from a
    directory that is not the repository, with the collection copied outside any git checkout."""
    emulator = fresh_emulator
    emulator.load_scenario(scenario(scale_set("web", capacity=4)))
    emulator.clear_events()
    settings = {"protocol": "http", "port": 8080, "requestPath": "/health", "intervalInSeconds": 7}
    tuned = {"name": "health", "publisher": "Microsoft.ManagedServices", "type": "ApplicationHealthLinux",
             "type_handler_version": "2.0", "settings": settings}
    rolled = run_playbook(PLAYBOOKS / "extension_rollout.yml", extra_vars={
        "extension_rollout_resource_group": "rg-roll", "extension_rollout_name": "web",
        "extension_rollout_extensions": [tuned],
        **{f"extension_rollout_{key}": value for key, value in FAST_ENGINE.items()}})

    assert rolled.rc == 0, rolled.output
    assert set(upgrade_starts(emulator).values()) == {1} and len(upgrade_starts(emulator)) == 4
    for batch in in_flight_sets(upgrade_events(emulator)):
        assert len({int(i) % 5 for i in batch}) == 1, f"two update domains out of service at once: {sorted(batch)}"

    enabled = run_playbook(PLAYBOOKS / "enable_auto_extension_upgrade.yml", extra_vars={
        "auto_extension_upgrade_scale_sets": [{"resource_group": "rg-roll", "name": "web", "extensions": ["health"]}]})

    assert enabled.rc == 0, enabled.output
    assert "changed=0" not in enabled.output, enabled.output   # the flag was written ...
    collection = tmp_path / "installed" / "ansible_collections" / "vmss" / "rollout"
    collection.mkdir(parents=True)
    for name in ("galaxy.yml", "meta", "plugins", "roles", "playbooks"):
        copy = shutil.copytree if (REPO / name).is_dir() else shutil.copy2
        copy(REPO / name, collection / name)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    again = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "vmss.rollout.enable_auto_extension_upgrade",
         "-e", json.dumps({"auto_extension_upgrade_scale_sets": [
             {"resource_group": "rg-roll", "name": "web", "extensions": ["health"]}]})],
        env=dict(ansible_env, ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "installed")), cwd=elsewhere,
        capture_output=True, text=True, timeout=600, check=False)
    assert again.returncode == 0 and "changed=0" in again.stdout, again.stdout + again.stderr   # ... once
