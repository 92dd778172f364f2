"""Reliability under faults: the OS image rollout (image_rollout role through ansible-playbook, real SDK over
HTTPS) against the emulator with faults injected. Each scenario is a handful of instances with sub-second timings.
"""
from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path

import yaml

from reliability_helpers import (NEW_VERSION, OLD_VERSION, RG, VMSS, fail_messages, fired, image, image_versions,
                                 model_image_version, processes_mentioning, rollout_play, scenario, upgrade_starts,
                                 wait_for)


def assert_everything_upgraded(emulator, capacity: int) -> None:
    versions = image_versions(emulator)
    assert len(versions) == capacity
    assert set(versions.values()) == {NEW_VERSION}, versions


def test_throttle_storm_and_5xx_bursts_complete_honouring_retry_after(fresh_emulator, run_playbook, sdk):
    """429 storms on reads, 5xx bursts on the upgrade call and on LRO polls: the rollout still upgrades every
    instance, and the client waited as long as Retry-After asked before each retry."""
    emulator = fresh_emulator
    emulator.load_scenario(scenario(capacity=3))
    retry_after = 0.5
    emulator.set_faults([
        # a storm: the first five scale-set reads are throttled in a row
        {"kind": "throttle", "match": {"method": "GET", "path": "/virtualMachineScaleSets/[^/]+$"}, "count": 5,
         "retry_after": retry_after},
        # a 503 burst on the batch upgrade call (POST is retried on 503)
        {"kind": "http_error", "status": 503, "match": {"method": "POST", "path": "manualupgrade"}, "count": 2,
         "retry_after": retry_after},
        # every third LRO poll fails with a 500
        {"kind": "http_error", "status": 500, "match": {"method": "GET", "path": "operations"}, "every": 3},
    ])

    result = run_playbook(yaml.safe_dump(rollout_play()))

    assert result.rc == 0, result.output
    assert_everything_upgraded(emulator, 3)
    assert model_image_version(emulator, sdk) == NEW_VERSION
    throttles = fired(emulator, "throttle")
    errors = fired(emulator, "http_error")
    assert len(throttles) == 5
    assert len([e for e in errors if "manualupgrade" in e.get("path", "")]) == 2
    assert any("operations" in e.get("path", "") for e in errors), "no LRO poll was hit by a 5xx"
    # Retry-After honoured: a throttled read is retried no sooner than the server asked.
    times = [e["time"] for e in throttles]
    same_request_gaps = [b - a for a, b in zip(times, times[1:])]
    assert same_request_gaps and min(same_request_gaps) >= retry_after * 0.9, same_request_gaps
    # no instance upgraded twice despite retried POSTs (a 503 is answered before the action runs)
    assert set(upgrade_starts(emulator).values()) == {1}


def test_batch_whose_upgrade_lro_ends_failed_stops_the_rollout(fresh_emulator, run_playbook):
    """upgrade_fails on an instance of the first batch: one clear failure naming the ARM error, no further batch."""
    emulator = fresh_emulator
    emulator.load_scenario(scenario(capacity=5))
    emulator.set_faults([{"kind": "upgrade_fails", "instance_ids": ["0"]}])

    result = run_playbook(yaml.safe_dump(rollout_play()))

    assert result.rc != 0
    assert "VMExtensionProvisioningError" in result.output
    assert "Traceback" not in result.output
    assert len(fail_messages(result.output)) == 1, fail_messages(result.output)
    starts = upgrade_starts(emulator)
    assert set(starts) == {"0"}, f"instances outside the failed batch were touched: {dict(starts)}"
    assert len(fired(emulator, "upgrade_fails")) == 1


def test_unhealthy_image_stops_at_threshold_and_rolls_back_everywhere_applied(fresh_emulator, run_playbook, sdk):
    """An image whose instances turn unhealthy: the rollout stops after the first batch breaches the threshold,
    and rollback restores the previous image in the model and on every instance it was applied to."""
    emulator = fresh_emulator
    emulator.load_scenario(scenario(capacity=5))
    emulator.set_faults([{"kind": "unhealthy_after_upgrade", "image_version": NEW_VERSION}])

    result = run_playbook(yaml.safe_dump(rollout_play(rollback=True, http_retries=2, health_timeout=10)))

    assert result.rc != 0
    assert "Traceback" not in result.output
    new_version_upgrades = {
        str(e["instance_id"]) for e in emulator.events("fault_fired") if e.get("kind") == "unhealthy_after_upgrade"}
    assert new_version_upgrades == {"0"}, "only the first batch (update domain 0) may get the bad image"
    assert set(image_versions(emulator).values()) == {OLD_VERSION}
    assert model_image_version(emulator, sdk) == OLD_VERSION
    # instance 0 went forward once and back once; nobody else was touched
    assert dict(upgrade_starts(emulator)) == {"0": 2}
    assert "roll" in result.output.lower()


def test_hanging_upgrade_is_bounded_by_the_timeout(fresh_emulator, run_playbook):
    """upgrade_hangs: the batch never finishes; the rollout gives up after wait_timeout with a clear error."""
    emulator = fresh_emulator
    emulator.load_scenario(scenario(capacity=2))
    emulator.set_faults([{"kind": "upgrade_hangs", "instance_ids": ["0"]}])
    try:
        result = run_playbook(yaml.safe_dump(rollout_play(wait_timeout=3)), timeout=120)
    finally:
        emulator.clear_faults()  # releases the hung upgrade

    assert result.rc != 0
    assert "Traceback" not in result.output
    assert "timed out" in result.output.lower() or "timeout" in result.output.lower(), result.output[-3000:]
    assert len(fail_messages(result.output)) == 1, fail_messages(result.output)
    assert set(upgrade_starts(emulator)) == {"0"}


def test_tokens_expiring_mid_rollout_are_refreshed(fresh_emulator, run_playbook):
    """Tokens that live one second: the rollout outlives many of them and still succeeds."""
    emulator = fresh_emulator
    emulator.load_scenario(scenario(capacity=3))
    emulator.set_faults([{"kind": "token_lifetime", "seconds": 1}])

    result = run_playbook(yaml.safe_dump(rollout_play()))

    assert result.rc == 0, result.output
    assert_everything_upgraded(emulator, 3)
    short_tokens = len(fired(emulator, "token_lifetime"))
    # more short-lived tokens were issued than modules ran: tokens were refreshed within module runs
    assert short_tokens >= 2
    assert "ExpiredAuthenticationToken" not in result.output


def test_killed_controller_rerun_converges_without_upgrading_twice(fresh_emulator, ansible_env, run_playbook,
                                                                   tmp_path):
    """ansible-playbook killed while a batch is upgrading; a second run finishes the job and no instance is
    upgraded twice."""
    emulator = fresh_emulator
    slow_upgrades = scenario(capacity=3)
    slow_upgrades["config"]["upgrade_seconds"] = 1.0  # long enough to kill the controller mid-batch
    emulator.load_scenario(slow_upgrades)
    playbook = tmp_path / "killed.yml"
    playbook.write_text(yaml.safe_dump(rollout_play()))
    bin_dir = Path(ansible_env["PATH"].split(os.pathsep)[0])
    proc = subprocess.Popen([str(bin_dir / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook)],
                            env=ansible_env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        # kill it while the second batch (update domain 1 = instance 1) is in flight
        wait_for(lambda: "1" in upgrade_starts(emulator) or proc.poll() is not None, timeout=120,
                 what="the second batch to start")
        assert proc.poll() is None, "the rollout finished before it could be interrupted"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    # Ansible's workers live in their own session, so the kill above leaves the one running the batch engine alive:
    # it must stop by itself before the next batch instead of racing the rerun.
    wait_for(lambda: not processes_mentioning(str(playbook)), timeout=120, what="the killed run's worker to stop")
    assert set(upgrade_starts(emulator)) == {"0", "1"}, "the killed run went on with the next batch"
    assert set(image_versions(emulator).values()) == {OLD_VERSION, NEW_VERSION}, "killed too late or too early"

    result = run_playbook(playbook)

    assert result.rc == 0, result.output
    assert_everything_upgraded(emulator, 3)
    starts = upgrade_starts(emulator)
    assert set(starts) == {"0", "1", "2"}
    assert set(starts.values()) == {1}, f"an instance was upgraded twice: {dict(starts)}"


def test_rerun_waits_for_the_killed_runs_batch_still_in_flight(fresh_emulator, ansible_env, sdk, tmp_path):
    """Rerun while the killed run's upgrade of instance 1 is still going (held by a fault): the rerun waits for it
    instead of counting it unhealthy, then finishes the rest; instance 1 is not upgraded again."""
    from azure.mgmt.compute.models import (ImageReference, VirtualMachineScaleSetUpdate,
                                           VirtualMachineScaleSetUpdateStorageProfile,
                                           VirtualMachineScaleSetUpdateVMProfile,
                                           VirtualMachineScaleSetVMInstanceRequiredIDs)
    emulator = fresh_emulator
    emulator.load_scenario(scenario(capacity=3))
    # what the killed run did: the model write, then the manualupgrade of instance 1, which is still running
    sdk.virtual_machine_scale_sets.begin_update(RG, VMSS, VirtualMachineScaleSetUpdate(
        virtual_machine_profile=VirtualMachineScaleSetUpdateVMProfile(
            storage_profile=VirtualMachineScaleSetUpdateStorageProfile(
                image_reference=ImageReference(**image(NEW_VERSION)))))).result()
    emulator.set_faults([{"kind": "upgrade_hangs", "instance_ids": ["1"]}])
    sdk.virtual_machine_scale_sets.begin_update_instances(
        RG, VMSS, VirtualMachineScaleSetVMInstanceRequiredIDs(instance_ids=["1"]))
    wait_for(lambda: "1" in upgrade_starts(emulator), what="instance 1 to start upgrading")
    playbook = tmp_path / "rerun.yml"
    playbook.write_text(yaml.safe_dump(rollout_play()))
    log = tmp_path / "rerun.log"
    bin_dir = Path(ansible_env["PATH"].split(os.pathsep)[0])
    with log.open("w") as out:
        proc = subprocess.Popen([str(bin_dir / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook)],
                                env=ansible_env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "to finish updating" in log.read_text() or proc.poll() is not None, timeout=120,
                 what="the rerun to wait for instance 1")
    finally:
        emulator.clear_faults()   # the held upgrade finishes
        proc.wait(timeout=180)
    output = log.read_text()
    assert proc.returncode == 0, output
    assert "Waiting for instances 1 to finish updating (an earlier upgrade) before starting." in output
    assert_everything_upgraded(emulator, 3)
    assert dict(upgrade_starts(emulator)) == {"0": 1, "1": 1, "2": 1}


def test_concurrent_model_edit_loses_nothing(fresh_emulator, run_module, sdk):
    """A colleague tags the scale set while our image PATCH waits out a throttle: our retried PATCH meets a
    stale etag (412), re-reads and re-applies only the image. Both edits survive."""
    emulator = fresh_emulator
    emulator.load_scenario(scenario(capacity=2))
    emulator.clear_events()   # count only the colleague's and our model writes, not the scenario's
    emulator.set_faults([{"kind": "throttle", "match": {"method": "PATCH"}, "count": 1, "retry_after": 2}])
    from azure.mgmt.compute.models import VirtualMachineScaleSetUpdate

    outcome = {}

    def run_image_module():
        outcome["result"] = run_module("vmss_model_image", {
            "resource_group": RG, "name": VMSS, "image": image(NEW_VERSION), "poll_interval": 1})

    worker = threading.Thread(target=run_image_module)
    worker.start()
    try:
        wait_for(lambda: fired(emulator, "throttle"), timeout=120, what="our PATCH to be throttled")
        colleague = sdk.virtual_machine_scale_sets.begin_update(
            RG, VMSS, VirtualMachineScaleSetUpdate(tags={"owner": "colleague"}))
        colleague.result()
    finally:
        worker.join(timeout=180)

    result = outcome["result"]
    assert not result.get("failed"), result
    assert result["changed"] is True
    assert result["conflicts"] == 1, "our retried PATCH should have met the colleague's etag (412) once"
    vmss = sdk.virtual_machine_scale_sets.get(RG, VMSS)
    assert vmss.tags == {"owner": "colleague"}
    assert vmss.virtual_machine_profile.storage_profile.image_reference.version == NEW_VERSION
    writes = emulator.events("model_write")
    assert len(writes) == 2, writes  # the colleague's and ours (re-applied once after the 412)
    assert emulator.requests()["by_operation"].get("VirtualMachineScaleSets_Update", 0) >= 3
