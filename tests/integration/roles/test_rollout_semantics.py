"""What an operator expects of a rollout's shape (issue 15): batches inside an update domain, a canary then update
domain by update domain, part of a set then stop, an approval gate, a dry run that shows the real plan, and live
lines that name the scale set and the user's own options. Judged from the emulator's events and state."""
from __future__ import annotations

import subprocess

import yaml

from rollout_testlib import (NEW, OLD, RG, image, image_versions, in_flight_sets, read_json, role_play, scale_set,
                             scenario, upgrade_events, upgrade_starts)


def domain_of(instance_id: str) -> int:
    return int(instance_id) % 5  # the emulator's update domains: instance id modulo 5


def batches_in_order(emulator) -> list[list[str]]:
    """The instances out of service together, in the order they went (each in-flight set at its largest)."""
    batches: list[list[str]] = []
    previous: frozenset = frozenset()
    for current in in_flight_sets(upgrade_events(emulator)):
        if previous and not previous <= current:
            batches.append(sorted(previous, key=int))
        previous = current
    if previous:
        batches.append(sorted(previous, key=int))
    return batches


def test_a_percentage_never_takes_two_update_domains_down(fresh_emulator, run_playbook, tmp_path):
    """50% of a set of 10 was five instances of three update domains at once; it is now half an update domain."""
    emulator = fresh_emulator
    emulator.load_scenario(scenario(scale_set(capacity=10)))
    emulator.clear_events()

    run = run_playbook(yaml.safe_dump(role_play(
        "image_rollout", tmp_path / "result.json", resource_group=RG, name="web", image=image(NEW), batch="50%",
        http_check=False)))

    assert run.rc == 0, run.output
    for batch in in_flight_sets(upgrade_events(emulator)):
        assert len({domain_of(i) for i in batch}) == 1, f"two update domains out of service at once: {sorted(batch)}"
        assert len(batch) == 1, f"more than 50% of an update domain of 2 at once: {sorted(batch)}"
    assert set(image_versions(emulator).values()) == {NEW}


def test_canary_then_update_domain_by_update_domain(fresh_emulator, run_playbook, tmp_path):
    """[1, update_domain] (refused before, with a message that contradicted itself): instance 0 alone, then the
    rest of update domain 0, then one update domain at a time."""
    emulator = fresh_emulator
    emulator.load_scenario(scenario(scale_set(capacity=7)))
    emulator.clear_events()

    run = run_playbook(yaml.safe_dump(role_play(
        "image_rollout", tmp_path / "result.json", resource_group=RG, name="web", image=image(NEW),
        batch=[1, "update_domain"], http_check=False)))

    assert run.rc == 0, run.output
    assert batches_in_order(emulator) == [["0"], ["5"], ["1", "6"], ["2"], ["3"], ["4"]]
    assert set(upgrade_starts(emulator).values()) == {1}


def test_part_of_a_set_then_stop_as_asked(fresh_emulator, run_playbook, tmp_path):
    """An update domain or instance id the set does not have is refused before the model changes (it would select
    nothing: a "completed" rollout with nothing rolled). Then update_domains + max_batches roll update domain 0 only
    and stop (not a failure); instance_ids then roll one more instance, in one batch which is the last and so is not
    baked; nothing else is touched."""
    emulator = fresh_emulator
    emulator.load_scenario(scenario(scale_set(capacity=6)))
    emulator.clear_events()
    emulator.reset_requests()
    result_file = tmp_path / "result.json"

    typo = run_playbook(yaml.safe_dump(role_play(
        "image_rollout", result_file, resource_group=RG, name="web", image=image(NEW), update_domains=[0, 7],
        instance_ids=["3", "42"], http_check=False)))

    assert typo.rc != 0, typo.output
    assert "image_rollout_instance_ids 42 do not exist in scale set %s/web (instances: 0, 5, 1, 2, 3, 4)." % RG \
        in typo.output
    assert "image_rollout_update_domains 7 match no instance of scale set %s/web (its update domains: 0, 1, 2, " \
           "3, 4)." % RG in typo.output
    assert emulator.requests()["writes"] == 0
    assert set(image_versions(emulator).values()) == {OLD}

    first = run_playbook(yaml.safe_dump(role_play(
        "image_rollout", result_file, resource_group=RG, name="web", image=image(NEW), update_domains=[0, 1],
        max_batches=1, http_check=False, report_file=str(tmp_path / "report-{resource_group}-{name}.json"))))

    assert first.rc == 0, first.output
    assert sorted(upgrade_starts(emulator), key=int) == ["0", "5"]
    result = read_json(result_file)
    assert result["status"] == "stopped"
    # image_rollout_report_file reaches the engine, with the scale set filled in
    report = read_json(tmp_path / f"report-{RG}-web.json")
    assert (report["outcome"], sorted(report["upgraded"], key=int), report["outdated"]) == (
        "stopped", ["0", "5"], ["1"])  # 1: held back by max_batches; 2-4 were not asked for
    assert "stopped after 1 batch(es) as asked (image_rollout_max_batches: 1); 1 instance(s) left for a later " \
           "run: 1." in first.output

    second = run_playbook(yaml.safe_dump(role_play(
        "image_rollout", result_file, resource_group=RG, name="web", image=image(NEW), instance_ids=["3"],
        http_check=False, bake_seconds=1)))

    assert second.rc == 0, second.output
    assert "Baking" not in second.output  # its one batch is the last: no bake unless asked
    assert sorted(upgrade_starts(emulator), key=int) == ["0", "3", "5"]
    versions = image_versions(emulator)
    assert {i for i, v in versions.items() if v == NEW} == {"0", "3", "5"}
    assert read_json(result_file)["status"] == "completed"


def test_approval_gate_without_a_terminal_stops_after_the_first_batch(fresh_emulator, ansible_env, tmp_path):
    """approve_batches under a runner without a terminal (as AWX): nothing can say yes, so the rollout stops
    before batch 2, as asked, and says to use max_batches with an approval node."""
    emulator = fresh_emulator
    emulator.load_scenario(scenario(scale_set(capacity=3)))
    emulator.clear_events()
    playbook = tmp_path / "approve.yml"
    result_file = tmp_path / "result.json"
    playbook.write_text(yaml.safe_dump(role_play(
        "image_rollout", result_file, resource_group=RG, name="web", image=image(NEW), approve_batches=True,
        http_check=False)))

    run = subprocess.run([ansible_env["PATH"].split(":")[0] + "/ansible-playbook", str(playbook), "-i", "localhost,",
                          "-c", "local"], env=ansible_env, cwd=tmp_path, stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, timeout=600, check=False)

    assert run.returncode == 0, run.stdout + run.stderr
    assert sorted(upgrade_starts(emulator)) == ["0"]
    assert read_json(result_file)["status"] == "stopped"
    assert "stopped before batch 2 as asked: it was not approved" in run.stdout
    assert "image_rollout_max_batches" in run.stdout


def test_check_mode_shows_the_plan_the_real_run_follows(fresh_emulator, run_playbook, tmp_path):
    """--check on image_rollout: the model is not changed, yet the plan is the one after the change (every batch
    with its instances, exclusions grouped by reason), not "0 batches, all skipped"; the real run then takes the
    instances out of service exactly in those batches."""
    emulator = fresh_emulator
    emulator.load_scenario(scenario(scale_set(capacity=7, protected_instances=["3"])))
    emulator.reset_requests()
    play = yaml.safe_dump(role_play("image_rollout", tmp_path / "result.json", resource_group=RG, name="web",
                                    image=image(NEW), batch=[1, "update_domain"], http_check=False))

    dry = run_playbook(play, check=True)

    assert dry.rc == 0, dry.output
    assert emulator.requests()["writes"] == 0
    assert set(image_versions(emulator).values()) == {OLD}
    assert "Plan for rg-roll/web (after the model change): 5 batch(es), 6 instance(s)." in dry.output
    planned = []
    for line in dry.output.splitlines():
        line = line.strip().strip('",').strip().replace("\\u2014", "—")
        if line.startswith("Batch ") and " — instances " in line and "/5:" in line:
            planned.append(line.split(" — instances ")[1].split(", "))
    assert planned[:5] == [["0"], ["5"], ["1", "6"], ["2"], ["4"]], dry.output
    assert "Left out, protected from scale-set actions: 1 instance(s): 3" in dry.output
    assert "already on the latest model" not in dry.output
    assert 'batch [1, "update_domain"]); 1 skipped: protected from scale-set actions: 3.' in dry.output.replace(
        '\\"', '"')
    assert "\\n" not in dry.output  # Ansible prints a line break in a message as a literal \n

    emulator.clear_events()
    real = run_playbook(play)

    assert real.rc == 0, real.output
    assert batches_in_order(emulator) == planned[:5]


def test_live_lines_name_the_set_and_breaches_name_the_users_options(fresh_emulator, run_playbook, tmp_path):
    """Through image_rollout: progress lines start with the scale set, the bake says so while it waits, and the
    breach names image_rollout_max_unhealthy_upgraded_percent, the option the user set."""
    emulator = fresh_emulator
    emulator.load_scenario(scenario(scale_set(capacity=2)))
    emulator.set_faults([{"kind": "unhealthy_after_upgrade", "image_version": NEW}])

    run = run_playbook(yaml.safe_dump(role_play(
        "image_rollout", tmp_path / "result.json", resource_group=RG, name="web", image=image(NEW),
        http_check=False, bake_seconds=1)))

    assert run.rc != 0
    assert "rg-roll/web: Batch 1/2: update domain 0 — instances 0" in run.output
    assert "rg-roll/web: Baking batch 1/2: 1 s." in run.output
    assert "above image_rollout_max_unhealthy_upgraded_percent=20" in run.output
    assert "rolling_upgrade_max_unhealthy" not in run.output
    assert sorted(upgrade_starts(emulator)) == ["0"]


def test_check_mode_of_an_extension_rollout_plans_the_change(fresh_emulator, run_playbook, tmp_path):
    """--check on extension_rollout: nothing written, and the plan is every instance, update domain by update
    domain (the model change it did not make would put them all off the model)."""
    emulator = fresh_emulator
    emulator.load_scenario(scenario(scale_set(capacity=2)))
    emulator.reset_requests()
    health = {"name": "health", "publisher": "Microsoft.ManagedServices", "type": "ApplicationHealthLinux",
              "type_handler_version": "2.0", "settings": {"protocol": "http", "port": 8080, "requestPath": "/health"}}
    app = {"name": "app-config", "publisher": "Microsoft.Azure.Extensions", "type": "CustomScript",
           "type_handler_version": "2.1", "provision_after": ["health"], "settings": {"commandToExecute": "true"}}

    play = role_play("extension_rollout", tmp_path / "result.json", resource_group=RG, name="web",
                     extensions=[health, app], http_check=False)
    # a play-level rolling_upgrade_report_file is not overridden by the wrapper's own (unset) report_file
    play[0]["vars"] = {"rolling_upgrade_report_file": str(tmp_path / "dry-run.json")}

    dry = run_playbook(yaml.safe_dump(play), check=True)

    assert dry.rc == 0, dry.output
    assert emulator.requests()["writes"] == 0
    report = read_json(tmp_path / "dry-run.json")
    assert (report["check_mode"], report["outcome"], sorted(report["upgraded"])) == (True, "completed", ["0", "1"])
    assert "Plan for rg-roll/web (after the model change): 2 batch(es), 2 instance(s)." in dry.output
    assert "already on the latest model" not in dry.output
