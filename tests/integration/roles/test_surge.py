"""rolling_upgrade with strategy surge, run by ansible-playbook against the emulator (real SDK over HTTPS).

Judged from the emulator: its fleet view, its events (instance creations, lb_rotation) and the load balancer's
rotation, never from the collection's own summary alone.
"""
from __future__ import annotations

import re
import time
from collections import Counter

import pytest
import yaml

from rollout_testlib import (NEW, OLD, RG, change_model_behind_the_engine, fleet, image, kill_playbook_when, read_json,
                             role_play, scale_set, scenario, wait_for_rotation)

SURGE = {"strategy": "surge", "surge_in_rotation_seconds": 1.5, "http_check": False,
         "batch_across_update_domains": True}


def surge_play(result_file=None, **role_vars):
    return yaml.safe_dump(role_play("rolling_upgrade", result_file, resource_group=RG, name="web",
                                    **{**SURGE, **role_vars}))


def new_model(run_playbook):
    change_model_behind_the_engine(run_playbook, "vmss_model_image", {"name": "web", "image": image(NEW)})


def model(emulator) -> dict:
    """The scale set's model as the emulator holds it: capacity, image version, tags."""
    return emulator.admin("GET", f"/_emulator/scale_sets/{RG}/web/instances")["model"]


def creations(emulator) -> Counter:
    return Counter(e["instance_id"] for e in emulator.events("instance_upgrade_start") if e["operation"] == "create")


def replaced_line(output: str) -> list[tuple[set, set]]:
    """The summary's "Replaced: 0, 1 by 6, 7; ..." as [(old ids, new ids)] per batch."""
    line = re.search(r'"Replaced: ([^"]*)"', output).group(1)
    return [tuple(set(part.split(", ")) for part in pair.split(" by ")) for pair in line.split("; ")]


def min_in_rotation(emulator, start: set[str]) -> int:
    """The fewest instances the load balancer had in rotation at any moment, replayed from lb_rotation events."""
    rotation = set(start)
    lowest = len(rotation)
    for event in sorted(emulator.events("lb_rotation"), key=lambda e: e["seq"]):
        if event["in_rotation"]:
            rotation.add(event["instance_id"])
        else:
            rotation.discard(event["instance_id"])
        lowest = min(lowest, len(rotation))
    return lowest


def test_surge_rollout_never_drops_below_full_capacity(fresh_emulator, run_playbook, tmp_path):
    """Zonal set of 6, batches of 2 in one zone: new instances first, old ones deleted only once the new are in
    rotation; the load balancer never has fewer than 6; zones stay 2/2/2; no instance is upgraded in place."""
    emulator = fresh_emulator
    emulator.load_scenario(scenario(scale_set(capacity=6, zones=["1", "2", "3"], load_balancer=True)))
    new_model(run_playbook)
    wait_for_rotation(emulator, 6)
    start = set(emulator.availability()["load_balancers"][f"{RG}/web"]["in_rotation"])
    emulator.clear_events()
    emulator.reset_requests()
    result_file = tmp_path / "result.json"

    run = run_playbook(surge_play(result_file, batch=2, drain=True, drain_seconds=1))

    assert run.rc == 0, run.output
    rows = fleet(emulator)
    assert len(rows) == 6
    assert {r["image_version"] for r in rows} == {NEW}
    assert not {r["instance_id"] for r in rows} & {str(i) for i in range(6)}, "an old instance is left"
    assert Counter(r["zone"] for r in rows) == {"1": 2, "2": 2, "3": 2}
    assert sum(creations(emulator).values()) == 6, "the surge created more (or fewer) instances than it replaced"
    ops = [e["operation"] for e in emulator.events("instance_upgrade_start")]
    assert set(ops) == {"create"}, f"an instance was upgraded in place: {ops}"
    assert min_in_rotation(emulator, start) >= 6
    by_operation = emulator.requests()["by_operation"]
    assert by_operation["VirtualMachineScaleSets_DeleteInstances"] == 3
    assert "VirtualMachineScaleSets_UpdateInstances" not in by_operation
    # the old instances were drained (POST /drain): the load balancer took each batch's two out BEFORE the delete
    # call (without the drain they would leave rotation only once deleted)
    deletes = sorted(e["seq"] for e in emulator.events("lro_start")
                     if e["operation"] == "VirtualMachineScaleSets_DeleteInstances")
    left = [e["seq"] for e in emulator.events("lb_rotation") if not e["in_rotation"] and e["instance_id"] in start]
    assert [sum(1 for seq in left if seq < delete) for delete in deletes] == [2, 4, 6]
    # the summary's Replaced line: per batch, the old instances that left rotation before that batch's delete and
    # the instances created since the batch before
    bounds = [0] + deletes
    created_at = [(e["seq"], e["instance_id"]) for e in emulator.events("instance_upgrade_start")]
    gone_at = [(e["seq"], e["instance_id"]) for e in emulator.events("lb_rotation")
               if not e["in_rotation"] and e["instance_id"] in start]
    expected = [({i for seq, i in gone_at if low < seq < high}, {i for seq, i in created_at if low < seq < high})
                for low, high in zip(bounds, bounds[1:])]
    assert replaced_line(run.output) == expected
    assert "Deleting instances" in run.output
    result = read_json(result_file)
    assert result["status"] == "completed"
    assert sorted(result["upgraded"], key=int) == sorted((r["instance_id"] for r in rows), key=int)
    assert model(emulator) == {"capacity": 6, "image_version": NEW, "tags": {}}, "the surge base tag was left behind"


def test_new_instances_that_never_get_healthy_delete_nothing_old_and_stop(fresh_emulator, run_playbook, tmp_path):
    emulator = fresh_emulator
    emulator.load_scenario(scenario(scale_set(capacity=5)))
    emulator.set_faults([{"kind": "unhealthy_after_upgrade", "image_version": NEW}])
    new_model(run_playbook)
    emulator.clear_events()
    emulator.reset_requests()
    result_file = tmp_path / "result.json"

    run = run_playbook(surge_play(result_file, batch=2, health_timeout=3))

    assert run.rc != 0
    rows = fleet(emulator)
    # every old instance is still there, on the old image; the two new ones were deleted again
    assert sorted(r["instance_id"] for r in rows) == ["0", "1", "2", "3", "4"]
    assert {r["image_version"] for r in rows} == {OLD}
    assert sum(creations(emulator).values()) == 2, "the rollout went on after the first batch"
    deleted = emulator.requests()["by_operation"]["VirtualMachineScaleSets_DeleteInstances"]
    assert deleted == 1
    assert "did not become healthy" in run.output
    assert read_json(result_file)["status"] == "breached"


def test_quota_refusal_stops_before_anything_is_deleted(fresh_emulator, run_playbook, tmp_path):
    emulator = fresh_emulator
    emulator.load_scenario(scenario(scale_set(capacity=4)))
    new_model(run_playbook)
    emulator.set_faults([{"kind": "scale_out_fails", "code": "QuotaExceeded"}])
    emulator.clear_events()
    emulator.reset_requests()

    run = run_playbook(surge_play(batch=2))

    assert run.rc != 0
    assert sorted(r["instance_id"] for r in fleet(emulator)) == ["0", "1", "2", "3"]
    assert "VirtualMachineScaleSets_DeleteInstances" not in emulator.requests()["by_operation"]
    assert not creations(emulator)
    assert "QuotaExceeded" in run.output


def test_a_killed_surge_rollout_resumes_without_adding_twice(fresh_emulator, run_playbook, ansible_env, tmp_path):
    """ansible-playbook killed once the first batch's new instances are being created (before any delete); the
    rerun finds them, adds nothing for that batch, deletes the old ones and finishes at the original capacity."""
    emulator = fresh_emulator
    emulator.load_scenario(scenario(scale_set(capacity=4)))
    new_model(run_playbook)
    emulator.clear_events()
    playbook = tmp_path / "surge.yml"
    playbook.write_text(surge_play(batch=2, surge_in_rotation_seconds=3))
    kill_playbook_when(ansible_env, playbook, tmp_path, lambda: bool(creations(emulator)), "scaled out")
    # the orphaned worker stops before its next write (the delete): wait until its scale-out is done
    deadline = time.monotonic() + 60
    while len(emulator.events("instance_upgrade_end")) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(4)
    assert len(fleet(emulator)) == 6, "the interrupted run deleted something, or did not scale out"

    run = run_playbook(playbook)

    assert run.rc == 0, run.output
    rows = fleet(emulator)
    assert len(rows) == 4
    assert {r["image_version"] for r in rows} == {NEW}
    assert sum(creations(emulator).values()) == 4, f"instances were added twice: {dict(creations(emulator))}"


def test_a_breached_surge_rollout_rolls_back_without_dropping_below_full_capacity(fresh_emulator, run_playbook,
                                                                                  tmp_path):
    """image_rollout, surge, rollback on: the first batch's new instances are healthy, one of the second batch's
    never is. The breached batch deletes nothing old; the rollback restores the image in the model and replaces the
    first batch's new instances by surge too (new ones on the old image first), so the load balancer never has fewer
    than the 6 it started with, and the set ends at 6 instances, all on the old image and healthy, without the tag."""
    emulator = fresh_emulator
    emulator.load_scenario(scenario(scale_set(capacity=6, load_balancer=True)))
    # the third instance created on the new image (the second batch's first) never gets healthy
    emulator.set_faults([{"kind": "unhealthy_after_upgrade", "image_version": NEW, "every": 3}])
    wait_for_rotation(emulator, 6)
    start = set(emulator.availability()["load_balancers"][f"{RG}/web"]["in_rotation"])
    emulator.clear_events()
    result_file = tmp_path / "result.json"
    play = role_play("image_rollout", result_file, resource_group=RG, name="web", image=image(NEW), rollback=True,
                     batch=2, health_timeout=4, **SURGE)

    run = run_playbook(yaml.safe_dump(play))

    assert run.rc != 0
    assert "did not become healthy" in run.output
    created = sorted(creations(emulator), key=int)
    assert len(created) == 6, f"two batches and the rollback each add two instances: {created}"
    first_batch, breached_batch, rollback = created[:2], created[2:4], created[4:]
    rows = fleet(emulator)
    ids = sorted((r["instance_id"] for r in rows), key=int)
    # the first batch replaced two old instances; the breached batch deleted none (its new ones are gone again);
    # the rollback replaced the first batch's new instances by new ones on the old image
    old_left = [i for i in ids if int(i) < 6]
    assert len(old_left) == 4, f"old instances deleted beyond the first batch: {ids}"
    assert not set(ids) & set(first_batch + breached_batch)
    assert ids == old_left + rollback
    assert {r["image_version"] for r in rows} == {OLD}
    assert all(r["latest_model_applied"] and r["health"] == "healthy" for r in rows), rows
    assert model(emulator) == {"capacity": 6, "image_version": OLD, "tags": {}}
    assert min_in_rotation(emulator, start) >= 6, "the rollout or its rollback took capacity out of rotation"
    ops = [e["operation"] for e in emulator.events("instance_upgrade_start")]
    assert set(ops) == {"create"}, f"an instance was upgraded in place: {ops}"
    result = read_json(result_file)
    assert result["status"] == "rolled_back"
    assert sorted(result["rolled_back"], key=int) == first_batch


@pytest.mark.parametrize("role, policy, extra, refused", [
    ("image_rollout", "Rolling", {}, "image_rollout_strategy: surge is for scale sets whose upgradePolicy mode is "
     "Manual; rg-roll/web's is Rolling"),
    ("rolling_upgrade", "Automatic", {}, "rolling_upgrade_strategy: surge is for scale sets whose upgradePolicy mode "
     "is Manual; rg-roll/web's is Automatic"),
    ("image_rollout", "Manual", {"orchestration_mode": "Flexible", "platform_fault_domain_count": 2},
     "image_rollout_strategy: surge rolls Uniform scale sets only"),
])
def test_surge_on_a_set_it_cannot_roll_is_refused_before_anything_is_written(
        fresh_emulator, run_playbook, role, policy, extra, refused):
    emulator = fresh_emulator
    emulator.load_scenario(scenario(scale_set(capacity=3, upgrade_policy=policy, **extra)))
    emulator.reset_requests()
    role_vars = {"image": image(NEW)} if role == "image_rollout" else {}
    play = role_play(role, resource_group=RG, name="web", **{**SURGE, **role_vars})

    run = run_playbook(yaml.safe_dump(play))

    assert run.rc != 0
    assert refused in run.output
    if policy == "Rolling":
        assert "vmss.rollout.vmss_instance_upgrade with strategy: platform" in run.output
    assert emulator.requests()["writes"] == 0, emulator.requests()["by_operation"]
    assert model(emulator)["image_version"] == OLD and len(fleet(emulator)) == 3
