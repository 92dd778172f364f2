#!/usr/bin/env python
"""Benchmark: the blast radius of a bad image rolled with a canary ramp, and how fast the rollout stops and undoes it.

Starts its own emulator with a scale set of N instances (App Health, an app on every instance) and a fault rule
that makes every instance upgraded to image 2.0.0 unhealthy (its app answers 503, App Health says unhealthy), then
runs the image_rollout role with a canary ramp (batch [1, "10%", "25%"]) and rollback on. Prints ONE JSON object:

* ``instances_with_bad_image``: how many instances ever ran 2.0.0 (their upgrade to it ended before the rollback);
* ``canary_size``: the first batch's size (the goal: the two are equal);
* ``detect_s``: seconds from the canary's upgrade end to the stop: the end of the batch engine's task, which returns
  with the breach and upgrades nothing more (from the controller's task times; the rollback's model write when those
  are missing);
* ``rollback_write_s``: seconds from the canary's upgrade end to the rollback's model write (the rollback starts);
* ``rollback_s``: seconds from the canary's upgrade end to the rollback's last instance upgrade end;
* ``detect_goal_s``: H + one poll interval + 2 s, reported (never asserted).

    python benchmarks/blast_radius.py --instances 100
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rollout import BIN, NEW_IMAGE, RESOURCE_GROUP, RESULTS, SCALE_SET, ansible_env, build_scenario, \
    read_task_times  # noqa: E402

RAMP = [1, "10%", "25%"]


def playbook(args: argparse.Namespace) -> str:
    role_vars = {
        "image_rollout_resource_group": RESOURCE_GROUP,
        "image_rollout_name": SCALE_SET,
        "image_rollout_image": NEW_IMAGE,
        "image_rollout_batch": RAMP,
        "image_rollout_batch_across_update_domains": True,
        "image_rollout_rollback": True,
        "image_rollout_drain": False,
        "image_rollout_http_check": not args.no_http_check,
        "image_rollout_poll_interval": args.poll_interval,
        "image_rollout_max_unhealthy_upgraded_percent": 0,
    }
    play = [{"name": "Benchmark the blast radius of a bad image", "hosts": "localhost", "gather_facts": False,
             "tasks": [{"name": "Roll out the bad image",
                        "ansible.builtin.include_role": {"name": "vmss.rollout.image_rollout"},
                        "vars": role_vars}]}]
    return json.dumps(play, indent=1)


def measure(events: list[dict]) -> dict:
    """Blast radius and timings from the emulator's events (the rollout's own summary is not used)."""
    ordered = sorted(events, key=lambda e: e["seq"])
    writes = [e for e in ordered if e["type"] == "model_write"]
    ends = [e for e in ordered if e["type"] == "instance_upgrade_end"]
    starts = [e for e in ordered if e["type"] == "instance_upgrade_start"]
    if not writes or not ends:
        return {}
    rollout_write = writes[0]
    rollback_write = writes[1] if len(writes) > 1 else None
    stop_seq = rollback_write["seq"] if rollback_write else float("inf")
    bad = [e for e in ends if rollout_write["seq"] < e["seq"] < stop_seq and e.get("result") == "succeeded"]
    # the canary: the instances whose upgrade started under the first upgrade call
    first_call = [e for e in starts if e["seq"] < stop_seq]
    canary_end = bad[0]["time"] if bad else None
    canary_ids = set()
    if first_call:
        first_end_seq = min(e["seq"] for e in ends if e["seq"] > first_call[0]["seq"])
        canary_ids = {str(e["instance_id"]) for e in first_call if e["seq"] < first_end_seq}
    rollback_ends = [e["time"] for e in ends if e["seq"] > stop_seq]
    return {
        "instances_with_bad_image": len({str(e["instance_id"]) for e in bad}),
        "canary_size": len(canary_ids),
        "rollback_write_s": round(rollback_write["time"] - canary_end, 2) if rollback_write and canary_end else None,
        "rollback_s": round(max(rollback_ends) - canary_end, 2) if rollback_ends and canary_end else None,
        "rolled_back_instances": len({str(e["instance_id"]) for e in ends if e["seq"] > stop_seq}),
    }


def tasks_until_stop(task_times: list[dict], events: list[dict]) -> list[dict]:
    """The controller's tasks that ran between the canary's upgrade end and the stop: where detect_s goes."""
    found = measure(events)
    ends = sorted((e for e in events if e["type"] == "instance_upgrade_end"), key=lambda e: e["seq"])
    writes = sorted((e for e in events if e["type"] == "model_write"), key=lambda e: e["seq"])
    if found.get("rollback_write_s") is None or not ends or len(writes) < 2:
        return []
    canary_end, stop = ends[0]["time"], writes[1]["time"]
    return [{"task": t["task"], "start_s": round(t["start"] - canary_end, 2), "seconds": round(t["seconds"], 2)}
            for t in task_times if t["start"] + t["seconds"] >= canary_end and t["start"] <= stop]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--instances", type=int, default=100)
    parser.add_argument("--upgrade-seconds", type=float, default=2.0, help="U: time one instance upgrade takes")
    parser.add_argument("--health-seconds", type=float, default=1.0,
                        help="H: App Health stays Initializing this long after a start")
    parser.add_argument("--poll-interval", type=int, default=1, help="the modules' poll_interval (whole seconds)")
    parser.add_argument("--no-http-check", action="store_true", help="turn the engine's HTTP check off")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args(argv)
    from vmss_emulator.testing import EmulatorProcess

    with tempfile.TemporaryDirectory(prefix="vmss-blast-") as tmp:
        workdir = Path(tmp)
        with EmulatorProcess(workdir / "emulator", port=0) as emu:
            emu.load_scenario(build_scenario(args.instances, args.upgrade_seconds, args.health_seconds,
                                             probe_interval=0.5, traffic_rps=0, lro_retry_after=1.0))
            emu.set_faults([{"kind": "unhealthy_after_upgrade", "image_version": NEW_IMAGE["version"]}])
            (workdir / "blast.yml").write_text(playbook(args))
            env = ansible_env(emu, workdir)
            time.sleep(args.health_seconds + 1.0)   # every instance healthy before the rollout
            emu.clear_events()
            started = time.time()
            proc = subprocess.run(
                [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(workdir / "blast.yml")],
                env=env, cwd=workdir, capture_output=True, text=True, timeout=args.timeout, check=False)
            finished = time.time()
            events = emu.events()
            final = emu.instances(RESOURCE_GROUP, SCALE_SET)
            task_times = read_task_times(workdir / "task_times.jsonl")
    result = {"instances": args.instances, "batch": RAMP, "upgrade_seconds": args.upgrade_seconds,
              "health_seconds": args.health_seconds, "poll_interval": args.poll_interval,
              "http_check": not args.no_http_check, **measure(events),
              "detect_goal_s": args.health_seconds + args.poll_interval + 2.0,
              "instances_on_bad_image_at_end": sum(1 for i in final if i["image_version"] == NEW_IMAGE["version"]),
              "wall_s": round(finished - started, 2),
              # the rollout is meant to fail (a breach, rolled back): rc 2 from ansible-playbook is the expected end
              "playbook_rc": proc.returncode}
    result["tasks_until_stop"] = tasks_until_stop(task_times, events)
    engine = [t for t in result["tasks_until_stop"] if t["task"].endswith(": Upgrade batch by batch")]
    if engine:
        result["detect_s"] = round(engine[-1]["start_s"] + engine[-1]["seconds"], 2)
    elif result.get("rollback_write_s") is not None:
        result["detect_s"] = result["rollback_write_s"]
    if result.get("detect_s") is not None:
        result["within_detect_goal"] = result["detect_s"] <= result["detect_goal_s"]
        result["blast_radius_is_canary"] = result["instances_with_bad_image"] == result["canary_size"]
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / f"blast-radius-n{args.instances}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    if "detect_s" not in result:
        print(textwrap.indent((proc.stdout + proc.stderr)[-4000:], "ansible| "), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
