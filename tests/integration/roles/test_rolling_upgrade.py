"""The rolling_upgrade engine through image_rollout, run by ansible-playbook against the emulator.

Real azure-identity + azure-mgmt-compute inside the modules; the checks read the emulator's fleet view, event
timeline, request counters and load-balancer availability.
"""
from __future__ import annotations

import urllib.request

import yaml

from rollout_testlib import (NEW, OLD, RG, change_model_behind_the_engine, failure_lines, fleet, image, image_versions,
                             in_flight_sets, kill_playbook_when, read_json, role_play, scale_set, scenario,
                             standalone_engine_with_rollback, upgrade_events, upgrade_starts)


def test_healthy_rollout_goes_update_domain_by_update_domain(fresh_emulator, run_playbook, tmp_path):
    """Every unprotected instance upgraded once, in update-domain order, one batch out of service at a time, and
    the protected instance skipped and reported. (The drain hook with load-balancer traffic is checked by the
    demo test in tests/integration/playbooks.)"""
    emulator = fresh_emulator
    emulator.load_scenario(scenario(scale_set(capacity=10, protected_instances=["3"])))
    emulator.clear_events()
    emulator.reset_requests()
    result_file = tmp_path / "result.json"

    run = run_playbook(yaml.safe_dump(role_play(
        "image_rollout", result_file, resource_group=RG, name="web", image=image(NEW))))

    assert run.rc == 0, run.output
    # The set is read with addresses once, at the start: batches take their addresses from that read, each batch is
    # judged on the read that saw it settle, the next batch picks its instances from that same read, and the
    # summary uses the last one (no rollback ran). One read per health poll, none of its own per batch.
    by_operation = emulator.requests()["by_operation"]
    assert by_operation["NetworkInterfaces_ListVirtualMachineScaleSetNetworkInterfaces"] == 1
    assert by_operation["VirtualMachineScaleSets_UpdateInstances"] == 5
    versions = image_versions(emulator)
    assert versions.pop("3") == OLD
    assert set(versions.values()) == {NEW}
    starts = upgrade_starts(emulator)
    assert "3" not in starts
    assert set(starts.values()) == {1}, f"an instance was upgraded twice: {dict(starts)}"

    events = upgrade_events(emulator)
    for batch in in_flight_sets(events):
        assert len({int(i) % 5 for i in batch}) == 1, f"two update domains out of service at once: {sorted(batch)}"
    first_start_by_domain = {}
    for event in events:
        if event["type"] == "instance_upgrade_start":
            first_start_by_domain.setdefault(int(event["instance_id"]) % 5, event["seq"])
    assert sorted(first_start_by_domain, key=first_start_by_domain.get) == [0, 1, 2, 3, 4]

    result = read_json(result_file)
    assert result["status"] == "completed"
    assert sorted(result["upgraded"], key=int) == ["0", "1", "2", "4", "5", "6", "7", "8", "9"]
    assert {"instance_id": "3", "reason": "protected from scale-set actions"} in result["skipped"]
    assert [b["instance_ids"] for b in result["batches"]] == [["0", "5"], ["1", "6"], ["2", "7"], ["8"], ["4", "9"]]
    assert "Batch 1/5: update domain 0 — instances 0, 5" in run.output
    assert "Batch 4/5: update domain 3 — instances 8" in run.output
    assert "3 (protected from scale-set actions)" in run.output
    assert "completed in" in run.output
    # the per-update-domain table: UD 3 holds instances 3 (protected, skipped) and 8 (upgraded)
    assert "3    -     2         1         1        0       0           1/2" in run.output
    assert "4    -     2         2         0        0       0           2/2" in run.output
    assert "Replaced:" not in run.output  # surge's line only


def test_unhealthy_image_stops_in_first_batch_and_rolls_back(fresh_emulator, run_playbook, tmp_path):
    """An image whose instances turn unhealthy: the rollout stops after the first update domain, touches nothing
    outside it, restores the previous image in the model and on the instances it upgraded, and fails once."""
    emulator = fresh_emulator
    emulator.load_scenario(scenario(scale_set(capacity=10)))
    emulator.set_faults([{"kind": "unhealthy_after_upgrade", "image_version": NEW}])
    emulator.clear_events()
    result_file = tmp_path / "result.json"

    run = run_playbook(yaml.safe_dump(role_play(
        "image_rollout", result_file, resource_group=RG, name="web", image=image(NEW), rollback=True,
        engine={"http_retries": 1})))

    assert run.rc != 0
    assert "Traceback" not in run.output
    assert len(failure_lines(run.output)) == 1, failure_lines(run.output)
    assert "max_unhealthy_upgraded_percent" in run.output
    assert "Rolled back" in run.output
    assert "Rolling back: restoring the previous model (image " in run.output
    assert "\\n" not in run.output  # Ansible prints a line break in a message as a literal \n
    # update domain 0 went forward once and back once; nothing else was touched
    assert dict(upgrade_starts(emulator)) == {"0": 2, "5": 2}
    rows = fleet(emulator)
    assert {row["image_version"] for row in rows} == {OLD}
    # every instance runs the latest model again, so the model itself is back on the old image
    assert all(row["latest_model_applied"] for row in rows)
    result = read_json(result_file)
    assert result["status"] == "rolled_back"
    assert sorted(result["rolled_back"]) == ["0", "5"]
    assert len(result["batches"]) == 1


def test_standalone_engine_rolls_back_to_the_image_the_instances_ran(fresh_emulator, run_playbook, tmp_path):
    """rolling_upgrade on its own after a model image change it was not told about: with no rollback model given
    it restores the image the outdated instances ran (without the read-only exact_version, which
    vmss_model_image does not take) and brings the upgraded instances back to it."""
    emulator = fresh_emulator
    emulator.load_scenario(scenario(scale_set(capacity=2)))
    emulator.set_faults([{"kind": "unhealthy_after_upgrade", "image_version": NEW}])
    change_model_behind_the_engine(run_playbook, "vmss_model_image", {"name": "web", "image": image(NEW)})
    emulator.clear_events()
    result_file = tmp_path / "result.json"

    run = standalone_engine_with_rollback(run_playbook, result_file)

    assert run.rc != 0
    assert "Rolled back: the previous model is restored and instance(s) 0 are back on it." in run.output
    assert read_json(result_file)["status"] == "rolled_back"
    assert set(image_versions(emulator).values()) == {OLD}
    assert dict(upgrade_starts(emulator)) == {"0": 2}


def test_interrupted_rollout_resumes_without_upgrading_twice(fresh_emulator, run_playbook, ansible_env, tmp_path):
    """ansible-playbook killed in the middle of the rollout; the re-run finishes the job and no instance is
    upgraded twice (counted from instance_upgrade_start events)."""
    emulator = fresh_emulator
    emulator.load_scenario(scenario(scale_set(capacity=6)))
    emulator.clear_events()
    playbook = tmp_path / "interrupted.yml"
    playbook.write_text(yaml.safe_dump(role_play("image_rollout", resource_group=RG, name="web", image=image(NEW),
                                                 batch=2, batch_across_update_domains=True)))
    # kill it once the second batch (the one with instance 1) has started upgrading
    kill_playbook_when(ansible_env, playbook, tmp_path, lambda: "1" in upgrade_starts(emulator),
                       "reached its second batch")
    done_before = upgrade_starts(emulator)
    assert set(done_before) < {str(i) for i in range(6)}, "nothing left for the re-run"

    run = run_playbook(playbook)

    assert run.rc == 0, run.output
    starts = upgrade_starts(emulator)
    assert set(starts) == {str(i) for i in range(6)}
    assert set(starts.values()) == {1}, f"an instance was upgraded twice: {dict(starts)}"
    assert set(image_versions(emulator).values()) == {NEW}
    assert "already on the latest model" in run.output


def test_zonal_set_with_a_ramp_never_has_two_zones_in_flight(fresh_emulator, run_playbook, tmp_path):
    """A zonal set rolled with a canary ramp [1, "50%"] across update domains (asked for): the first batch is one
    instance, later ones are bigger, and no two zones are ever out of service at the same time. The user's health task file runs once per batch
    with that batch's instances."""
    emulator = fresh_emulator
    emulator.load_scenario(scenario(scale_set(capacity=4, zones=["1", "2"])))
    emulator.clear_events()
    result_file = tmp_path / "result.json"
    seen_by_health_tasks = tmp_path / "health_calls.txt"
    health_tasks = tmp_path / "health_tasks.yml"
    health_tasks.write_text(yaml.safe_dump([{
        "name": "Record the batch the health check saw",
        "ansible.builtin.lineinfile": {
            "path": str(seen_by_health_tasks), "create": True,
            # ids | images the upgrade left them on | how many have an address
            "line": "{{ rolling_upgrade_batch_instances | map(attribute='instance_id') | join(',') }}|"
                    "{{ rolling_upgrade_batch_outcome | map(attribute='image') | map(attribute='version') | unique"
                    " | join(',') }}|{{ rolling_upgrade_batch_instances | map(attribute='private_ip') | select"
                    " | list | length }}"}}]))

    run = run_playbook(yaml.safe_dump(role_play(
        "image_rollout", result_file, resource_group=RG, name="web", image=image(NEW), batch=[1, "50%"],
        batch_across_update_domains=True, engine={"health_tasks": str(health_tasks)})))

    assert run.rc == 0, run.output
    zone_of = {row["instance_id"]: row["zone"] for row in fleet(emulator)}
    assert len(set(zone_of.values())) == 2
    for batch in in_flight_sets(upgrade_events(emulator)):
        assert len({zone_of[i] for i in batch}) == 1, f"two zones in flight: {sorted(batch)}"
    result = read_json(result_file)
    sizes = [len(b["instance_ids"]) for b in result["batches"]]
    assert sizes[0] == 1
    assert max(sizes[1:]) > 1
    for batch in result["batches"]:
        assert len({zone_of[i] for i in batch["instance_ids"]}) == 1
    assert seen_by_health_tasks.read_text().split() == [
        f"{','.join(b['instance_ids'])}|{NEW}|{len(b['instance_ids'])}" for b in result["batches"]]
    assert set(upgrade_starts(emulator).values()) == {1}
    assert set(image_versions(emulator).values()) == {NEW}


def test_invalid_batch_fails_before_anything_is_written(fresh_emulator, run_playbook):
    emulator = fresh_emulator
    emulator.load_scenario(scenario(scale_set(capacity=2)))
    emulator.reset_requests()

    run = run_playbook(yaml.safe_dump(role_play(
        "image_rollout", resource_group=RG, name="web", image=image(NEW), batch="0%")))

    assert run.rc != 0
    assert "image_rollout_batch must be" in run.output
    assert len(failure_lines(run.output)) == 1, failure_lines(run.output)
    assert emulator.requests()["writes"] == 0


def test_http_check_alone_stops_the_rollout(fresh_emulator, run_playbook, tmp_path):
    """App Health healthy everywhere, but the engine's own HTTP check gets no 200 (a port nothing listens on):
    the first batch counts as unhealthy and the rollout stops there, naming the instances."""
    emulator = fresh_emulator
    emulator.load_scenario(scenario(scale_set(capacity=4)))
    emulator.clear_events()
    result_file = tmp_path / "result.json"

    # through image_rollout, which passes image_rollout_http_url on to the engine
    run = run_playbook(yaml.safe_dump(role_play(
        "image_rollout", result_file, resource_group=RG, name="web", image=image(NEW), batch=2,
        batch_across_update_domains=True,
        engine={"http_retries": 1, "http_url": "http://{private_ip}:1/health"})))

    assert run.rc != 0
    assert "no 200 from instance(s) 0, 1, which count as unhealthy" in run.output
    result = read_json(result_file)
    assert (result["status"], sorted(result["unhealthy"])) == ("breached", ["0", "1"])
    assert sorted(upgrade_starts(emulator)) == ["0", "1"]
    assert {row["health"] for row in fleet(emulator)} == {"healthy"}


def test_unhealthy_set_is_not_touched(fresh_emulator, run_playbook, tmp_path):
    """Half the set already unhealthy (drained apps) before anything starts, above max_unhealthy_percent=20: the
    rollout stops before the first batch and upgrades nothing."""
    emulator = fresh_emulator
    emulator.load_scenario(scenario(scale_set(capacity=4)))
    change_model_behind_the_engine(run_playbook, "vmss_model_image", {"name": "web", "image": image(NEW)})
    for row in fleet(emulator)[:2]:
        request = urllib.request.Request(f"http://{row['ip']}:{row['app_port']}/drain", method="POST")
        with urllib.request.urlopen(request, timeout=5):  # noqa: S310 - loopback instance address
            pass
    emulator.clear_events()

    run = run_playbook(yaml.safe_dump(role_play(
        "rolling_upgrade", tmp_path / "result.json", resource_group=RG, name="web")))

    assert run.rc != 0
    assert "2 of 4 instances (50.0%) were unhealthy before starting" in run.output
    assert upgrade_starts(emulator) == {}


def test_credentials_from_the_play_environment_reach_the_batch_engine(fresh_emulator, run_playbook, tmp_path):
    """AZURE_* set with the play's `environment` keyword, not in ansible-playbook's own environment: the modules
    see them as task environment, and so must the batch engine, which runs on the controller."""
    emulator = fresh_emulator
    emulator.load_scenario(scenario(scale_set(capacity=4)))
    result_file = tmp_path / "result.json"
    play = role_play("image_rollout", result_file, resource_group=RG, name="web", image=image(NEW))
    play[0]["environment"] = dict(emulator.env)

    run = run_playbook(yaml.safe_dump(play), env=dict((key, "") for key in emulator.env))

    assert run.rc == 0, run.output
    assert read_json(result_file)["status"] == "completed"
    assert set(image_versions(emulator).values()) == {NEW}


def test_check_mode_runs_the_plan_without_a_write_or_a_drain(fresh_emulator, run_playbook, tmp_path):
    """--check: the engine predicts every batch (instances it would upgrade) but writes nothing to Azure and asks
    no instance to drain (a POST changes the instance)."""
    emulator = fresh_emulator
    emulator.load_scenario(scenario(scale_set(capacity=4)))
    change_model_behind_the_engine(run_playbook, "vmss_model_image", {"name": "web", "image": image(NEW)})
    emulator.reset_requests()

    run = run_playbook(yaml.safe_dump(role_play("rolling_upgrade", resource_group=RG, name="web",
                                                engine={"drain": True, "drain_seconds": 0})), check=True)

    assert run.rc == 0, run.output
    assert "Upgraded: 0, 1, 2, 3" in run.output  # predicted (the result file's copy does not write in check mode)
    assert "Rollout of %s/web (check mode: nothing was changed; predicted): completed in " % RG in run.output
    assert emulator.requests()["writes"] == 0
    assert not [row for row in fleet(emulator) if row.get("drained")]
    assert set(image_versions(emulator).values()) == {OLD}
