#!/usr/bin/env python
"""Benchmark: an OS image rollout against its lower bound, on a local emulator.

Starts its own emulator (vmss_emulator.testing.EmulatorProcess), loads a scale set of N instances with the
App Health extension, an app on every instance and a load balancer with traffic, then runs the image_rollout
role through ansible-playbook with the drain hook on. Prints ONE JSON object and draws the batch timeline
from the emulator's events into benchmarks/results/.

    python benchmarks/rollout.py --instances 1000 --upgrade-seconds 10 --health-seconds 5
    python benchmarks/rollout.py --instances 800 --strategy surge --results benchmarks/results/strategy

The JSON has min_in_rotation_fraction (the lowest share of the original capacity in the load balancer during the
rollout) and in_rotation_over_time, for the in-place and surge strategies alike.

The lower bound is ceil(N/B) x (U + H) for the batches actually run: each batch is out of service for at
least one upgrade (U) plus health settling (H). Everything above it is controller overhead (Ansible, ARM
polling latency, drain waits, health checks). This script prints and plots; it never passes or fails on time.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
COLLECTIONS = REPO / ".tmp" / "collections"
BIN = Path(sys.executable).parent

RESOURCE_GROUP = "rg-bench"
SCALE_SET = "bench"
OLD_IMAGE = {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "1.0.0"}
NEW_IMAGE = dict(OLD_IMAGE, version="2.0.0")
APP_PORT = 8080


# ---------------------------------------------------------------------------------------------------------
# Setup: scenario, environment, playbook
# ---------------------------------------------------------------------------------------------------------

def build_scenario(instances: int, upgrade_seconds: float, health_seconds: float, probe_interval: float,
                   traffic_rps: float, lro_retry_after: float) -> dict:
    """A scale set with App Health on the app port, an app per instance and a load balancer with traffic."""
    return {
        "config": {
            "upgrade_seconds": upgrade_seconds,
            "health_grace_seconds": health_seconds,
            "probe_interval": probe_interval,
            "lro_retry_after": lro_retry_after,
            "page_size": 1000,
        },
        "resource_groups": [{"name": RESOURCE_GROUP, "location": "westeurope"}],
        "scale_sets": [{
            "name": SCALE_SET,
            "resource_group": RESOURCE_GROUP,
            "capacity": instances,
            "upgrade_policy": "Manual",
            "image": OLD_IMAGE,
            "extensions": [{
                "name": "health",
                "properties": {
                    "publisher": "Microsoft.ManagedServices", "type": "ApplicationHealthLinux",
                    "typeHandlerVersion": "2.0",
                    "settings": {"protocol": "http", "port": APP_PORT, "requestPath": "/health"},
                },
            }],
            "upgrade_seconds": upgrade_seconds,
            "app": {"port": APP_PORT},
            "load_balancer": {"frontend_port": 0, "probe_interval": probe_interval, "traffic_rps": traffic_rps},
        }],
    }


def parse_batch(text: str):
    """--batch accepts update_domain, a count, 'N%' or a JSON ramp list like '[1, "10%", "25%"]'."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, (int, list)) else text


def rollout_playbook(args: argparse.Namespace) -> str:
    """The image_rollout role with the drain hook on; variable names follow roles/*/meta/argument_specs.yml."""
    role_vars = {
        "image_rollout_resource_group": RESOURCE_GROUP,
        "image_rollout_name": SCALE_SET,
        "image_rollout_image": NEW_IMAGE,
        "image_rollout_batch": parse_batch(args.batch),
        "image_rollout_drain": not args.no_drain,
        "image_rollout_drain_seconds": args.drain_seconds,
        "image_rollout_http_port": APP_PORT,
        "image_rollout_poll_interval": args.poll_interval,
        "image_rollout_strategy": args.strategy,
        # new instances must be in rotation before old ones go: two probe rounds at worst, as for the drain
        "image_rollout_surge_in_rotation_seconds": args.drain_seconds,
    }
    play = [{
        "name": "Benchmark OS image rollout",
        "hosts": "localhost",
        "gather_facts": False,
        "tasks": [{"name": "Roll out the new image",
                   "ansible.builtin.include_role": {"name": "vmss.rollout.image_rollout"},
                   "vars": role_vars}],
    }]
    return json.dumps(play, indent=1)  # JSON is valid YAML


def ensure_collection_link() -> None:
    link = COLLECTIONS / "ansible_collections" / "vmss" / "rollout"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink():
            link.unlink()
        link.symlink_to(Path("../../../.."))


def ansible_env(emu, workdir: Path) -> dict:
    """The emulator's AZURE_* exports plus hermetic Ansible settings (same as tests/conftest.py)."""
    ensure_collection_link()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "ANSIBLE_"))}
    env.update(emu.env)
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    env.update({
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "ANSIBLE_LOCAL_TEMP": str(workdir / "ansible-local"),
        "HOME": str(home),
        # where the controller's time goes, task by task (benchmarks/callbacks/task_times.py)
        "ANSIBLE_CALLBACK_PLUGINS": str(REPO / "benchmarks" / "callbacks"),
        "ANSIBLE_CALLBACKS_ENABLED": "task_times",
        "BENCH_TASK_TIMES": str(workdir / "task_times.jsonl"),
    })
    return env


# ---------------------------------------------------------------------------------------------------------
# Measuring: request counters sampled over time, events analysed afterwards
# ---------------------------------------------------------------------------------------------------------

class RequestSampler(threading.Thread):
    """Samples the emulator's ARM request counters so requests can be attributed to batches by time.

    The admin API is not ARM, so sampling does not count as a request.
    """

    def __init__(self, emu, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.emu = emu
        self.interval = interval
        self.samples: list[tuple[float, dict]] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self.samples.append((time.time(), self.emu.requests()))
            except Exception:  # noqa: BLE001 - a missed sample only blurs the attribution
                pass
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)
        self.samples.append((time.time(), self.emu.requests()))

    def at(self, moment: float) -> dict:
        """The last sample taken before `moment` (counters are monotonic)."""
        best = {"reads": 0, "writes": 0, "lro_polls": 0, "token_requests": 0, "total": 0}
        for taken, counters in self.samples:
            if taken > moment:
                break
            best = counters
        return best


COUNTER_KEYS = ("reads", "writes", "lro_polls", "token_requests")


def counter_delta(later: dict, earlier: dict) -> dict:
    return {key: later.get(key, 0) - earlier.get(key, 0) for key in COUNTER_KEYS}


def group_batches(events: list[dict]) -> list[dict]:
    """Batches as the emulator saw them: the instances whose upgrade started under the same upgrade LRO.

    Falls back to grouping by start time (a new batch when starts are more than 0.5 s apart) when the
    emulator does not tie instance upgrades to an LRO.
    """
    ordered = sorted(events, key=lambda e: e["seq"])
    groups: dict = {}
    current_lro = None
    last_start = None
    gap_group = 0
    for event in ordered:
        kind = event["type"]
        if kind == "lro_start":
            current_lro = event.get("operation_id") or event["seq"]
        elif kind == "instance_upgrade_start":
            if last_start is not None and event["time"] - last_start > 0.5:
                gap_group += 1
            last_start = event["time"]
            key = event.get("operation_id") or (current_lro, gap_group)
            groups.setdefault(key, []).append(event)
    return [sorted(starts, key=lambda e: e["seq"]) for starts in groups.values()]


def analyse_batches(events: list[dict]) -> list[dict]:
    """Per batch: start, end of the upgrade, the moment the last instance is healthy, drain and rotation."""
    ends = defaultdict(list)
    healthy = defaultdict(list)
    out_of_rotation = defaultdict(list)
    into_rotation = defaultdict(list)
    for event in events:
        iid = str(event.get("instance_id"))
        if event["type"] == "instance_upgrade_end":
            ends[iid].append(event["time"])
        elif event["type"] == "health_change" and event.get("to") == "healthy":
            healthy[iid].append(event["time"])
        elif event["type"] == "lb_rotation":
            (into_rotation if event.get("in_rotation") else out_of_rotation)[iid].append(event["time"])

    def first_after(times: list[float], moment: float) -> float | None:
        later = [t for t in times if t >= moment]
        return min(later) if later else None

    def last_before(times: list[float], moment: float, window: float) -> float | None:
        earlier = [t for t in times if moment - window <= t <= moment]
        return max(earlier) if earlier else None

    batches = []
    for starts in sorted(group_batches(events), key=lambda s: s[0]["time"]):
        start = min(e["time"] for e in starts)
        ids = [str(e["instance_id"]) for e in starts]
        upgrade_end = max((first_after(ends[i], start) or start) for i in ids)
        settled = []
        for iid in ids:
            end = first_after(ends[iid], start) or start
            settled.append(first_after(healthy[iid], end) or end)
        drained = [t for t in (last_before(out_of_rotation[i], start, 60.0) for i in ids) if t]
        back = [t for t in (first_after(into_rotation[i], start) for i in ids) if t]
        batches.append({
            "instance_ids": ids,
            "size": len(ids),
            "start": start,
            "upgrade_end": upgrade_end,
            "healthy": max(settled),
            "drain_start": min(drained) if drained else None,
            "back_in_rotation": max(back) if back else None,
        })
    return batches


def rotation_over_time(events: list[dict], instances: int, started: float) -> list[list[float]]:
    """[[seconds since start, instances in rotation]] at every change, replayed from lb_rotation events. Every
    original instance ("0".."N-1") is in rotation when measuring starts (the benchmark waits for that); a surge's
    new instances count once the load balancer takes them in."""
    rotation = {str(i) for i in range(instances)}
    series = [[0.0, len(rotation)]]
    for event in sorted((e for e in events if e["type"] == "lb_rotation"), key=lambda e: e["seq"]):
        (rotation.add if event.get("in_rotation") else rotation.discard)(str(event.get("instance_id")))
        series.append([round(event["time"] - started, 3), len(rotation)])
    return series


def summarise(args, batches, events, sampler, started, finished, availability, requests_total) -> dict:
    """The JSON the benchmark prints: totals, the bound, and per batch requests and controller overhead."""
    upgrade_starts = Counter(str(e["instance_id"]) for e in events if e["type"] == "instance_upgrade_start")
    model_writes = sum(1 for e in events if e["type"] == "model_write")
    lbs = (availability or {}).get("load_balancers", {})
    per_batch = []
    for index, batch in enumerate(batches):
        window_end = batches[index + 1]["start"] if index + 1 < len(batches) else finished
        wall = window_end - batch["start"]
        span = batch["healthy"] - batch["start"]
        requests = counter_delta(sampler.at(window_end - 0.05), sampler.at(batch["start"] - 0.05))
        per_batch.append({
            "batch": index + 1,
            "size": batch["size"],
            "wall_s": round(wall, 2),
            "upgrade_s": round(batch["upgrade_end"] - batch["start"], 2),
            "upgrade_and_health_s": round(span, 2),
            "controller_overhead_s": round(wall - span, 2),
            "drain_lead_s": round(batch["start"] - batch["drain_start"], 2) if batch["drain_start"] else None,
            "requests": requests,
        })
    first_start = batches[0]["start"] if batches else finished
    setup_requests = counter_delta(sampler.at(first_start - 0.05), sampler.samples[0][1] if sampler.samples else {})
    wall_s = finished - started
    bound_s = len(batches) * (args.upgrade_seconds + args.health_seconds)
    goal_s = 1.10 * bound_s + 2.0 * len(batches)
    bound_with_drain_s = bound_s + (0 if args.no_drain else len(batches) * args.drain_seconds)
    goal_with_drain_s = 1.10 * bound_with_drain_s + 2.0 * len(batches)
    rotation = rotation_over_time(events, args.instances, started)
    return {
        "instances": args.instances,
        "strategy": args.strategy,
        # the lowest share of the original capacity the load balancer had in rotation during the rollout
        "min_in_rotation_fraction": round(min(point[1] for point in rotation) / args.instances, 4),
        "max_in_rotation": max(point[1] for point in rotation),
        # the control figure: the same minimum before the first batch, when nothing in Azure changes yet (a lower
        # value there is the emulator's load balancer dropping instances on an overloaded machine, not the rollout)
        "min_in_rotation_fraction_from_first_batch": round(min(
            [point[1] for point in rotation if point[0] >= first_start - started] or [args.instances])
            / args.instances, 4),
        "min_in_rotation_fraction_before_first_batch": round(min(
            point[1] for point in rotation if point[0] <= first_start - started) / args.instances, 4),
        "in_rotation_over_time": rotation,
        "batch": parse_batch(args.batch),
        "batches": len(batches),
        "batch_sizes": [b["size"] for b in batches],
        "upgrade_seconds": args.upgrade_seconds,
        "health_seconds": args.health_seconds,
        "drain": not args.no_drain,
        "drain_seconds": None if args.no_drain else args.drain_seconds,
        "probe_interval_effective_s": round(effective_probe_interval(args), 2),
        "wall_s": round(wall_s, 2),
        "bound_s": round(bound_s, 2),
        "wall_over_bound": round(wall_s / bound_s, 3) if bound_s else None,
        "goal_s": round(goal_s, 2),
        # the bound counts U + H only; with the drain hook each batch also waits drain_seconds by design, and the
        # same goal is reported against that longer floor
        "bound_with_drain_s": round(bound_with_drain_s, 2),
        "goal_with_drain_s": round(goal_with_drain_s, 2),
        "within_goal_with_drain": wall_s <= goal_with_drain_s,
        "within_goal": wall_s <= goal_s,
        "setup_s": round(first_start - started, 2),
        "arm_reads": requests_total.get("reads", 0),
        "arm_writes": requests_total.get("writes", 0),
        "lro_polls": requests_total.get("lro_polls", 0),
        "token_requests": requests_total.get("token_requests", 0),
        "model_writes": model_writes,
        "writes_goal": model_writes + len(batches),
        "lb_served": sum(lb.get("served", 0) for lb in lbs.values()),
        "lb_failed": sum(lb.get("failed", 0) for lb in lbs.values()),
        "instances_upgraded": len(upgrade_starts),
        "instances_upgraded_twice": sorted(i for i, n in upgrade_starts.items() if n > 1),
        "controller_overhead_s_mean": round(
            sum(b["controller_overhead_s"] for b in per_batch) / len(per_batch), 2) if per_batch else None,
        "setup_requests": setup_requests,
        "per_batch": per_batch,
        "by_operation": requests_total.get("by_operation", {}),
    }


def read_task_times(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def time_by_task(task_times: list[dict], batches: list[dict], top: int = 15) -> list[dict]:
    """The tasks that took longest in total, with their time per batch (everything from the first batch on)."""
    first = batches[0]["start"] - 60.0 if batches else 0.0   # a batch's drain starts before its upgrade
    totals: dict = defaultdict(float)
    counts: Counter = Counter()
    for entry in task_times:
        if entry["start"] >= first:
            totals[entry["task"]] += entry["seconds"]
            counts[entry["task"]] += 1
    ranked = sorted(totals.items(), key=lambda item: -item[1])[:top]
    per = max(len(batches), 1)
    return [{"task": name, "runs": counts[name], "total_s": round(total, 2), "per_batch_s": round(total / per, 2)}
            for name, total in ranked]


# ---------------------------------------------------------------------------------------------------------
# Picture
# ---------------------------------------------------------------------------------------------------------

def draw_timeline(batches: list[dict], events: list[dict], instances: int, started: float, finished: float,
                  title: str, path: Path) -> None:
    """Top: one row per batch (drain, upgrade, health settling, controller time). Bottom: instances in rotation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 2]})
    for row, batch in enumerate(batches):
        y = len(batches) - row
        nxt = batches[row + 1]["start"] if row + 1 < len(batches) else finished
        if batch["drain_start"]:
            top.barh(y, batch["start"] - batch["drain_start"], left=batch["drain_start"] - started,
                     color="#f0ad4e", label="drain" if row == 0 else None)
        top.barh(y, batch["upgrade_end"] - batch["start"], left=batch["start"] - started,
                 color="#d9534f", label="upgrading (U)" if row == 0 else None)
        top.barh(y, batch["healthy"] - batch["upgrade_end"], left=batch["upgrade_end"] - started,
                 color="#5bc0de", label="health settling (H)" if row == 0 else None)
        top.barh(y, nxt - batch["healthy"], left=batch["healthy"] - started,
                 color="#cccccc", label="controller (not waiting on Azure)" if row == 0 else None)
    top.set_yticks([len(batches) - i for i in range(len(batches))])
    top.set_yticklabels([f"batch {i + 1} ({b['size']})" for i, b in enumerate(batches)])
    top.set_title(title)
    top.legend(loc="upper right", fontsize=8)

    series = rotation_over_time(events, instances, started)
    xs = [point[0] for point in series] + [finished - started]
    ys = [point[1] for point in series] + [series[-1][1]]
    bottom.step(xs, ys, where="post", color="#337ab7")
    bottom.axhline(instances, color="#999999", linewidth=0.8, linestyle="--")
    bottom.set_ylim(0, max(ys) * 1.05)
    bottom.set_ylabel("in LB rotation")
    bottom.set_xlabel("seconds since ansible-playbook started")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------------------

def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--instances", type=int, default=100)
    parser.add_argument("--upgrade-seconds", type=float, default=10.0, help="U: time one instance upgrade takes")
    parser.add_argument("--health-seconds", type=float, default=5.0,
                        help="H: App Health stays Initializing this long after a start")
    parser.add_argument("--batch", default="update_domain",
                        help='update_domain (default), a count, "N%%" or a JSON ramp like \'[1, "10%%"]\'')
    parser.add_argument("--probe-interval", type=float, default=0.25, help="load balancer probe interval")
    parser.add_argument("--drain-seconds", type=int, default=None,
                        help="wait after drain for the probe to notice (whole seconds; default: two effective probe "
                             "intervals, rounded up, which is what the emulator's load balancer needs at worst)")
    parser.add_argument("--traffic-rps", type=float, default=50.0, help="requests per second through the LB")
    parser.add_argument("--lro-retry-after", type=float, default=1.0, help="Retry-After on LRO responses")
    parser.add_argument("--poll-interval", type=int, default=1,
                        help="the modules' poll_interval (whole seconds; a Retry-After from ARM takes precedence)")
    parser.add_argument("--no-drain", action="store_true", help="turn the drain hook off")
    parser.add_argument("--strategy", choices=("in_place", "surge"), default="in_place",
                        help="in_place (default) or surge: new instances first (the set needs room for one batch "
                             "more: at most 1000 - batch size instances)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the JSON and PNG go")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--timeout", type=float, default=1800.0)
    return parser.parse_args(argv)


def effective_probe_interval(args) -> float:
    """The emulator's load balancer probes every instance once per round, rounds at most every probe_interval and
    stretched to stay under its probe rate cap (1000 instances: a round every 2 s whatever the setting)."""
    from vmss_emulator.fleet.balancer import MAX_PROBES_PER_SECOND

    return max(args.probe_interval, args.instances / MAX_PROBES_PER_SECOND)


def main(argv=None) -> int:
    args = parse_args(argv)
    from vmss_emulator.testing import EmulatorProcess

    if args.drain_seconds is None:
        # A drained instance leaves rotation at the end of the first probe round that STARTS after the drain: up to
        # two rounds later. Shorter drains only looked safe while the controller's own overhead padded them.
        args.drain_seconds = max(1, math.ceil(2 * effective_probe_interval(args)))
    args.results.mkdir(parents=True, exist_ok=True)
    stem = f"rollout-n{args.instances}" + ("-nodrain" if args.no_drain else "") + (
        "-surge" if args.strategy == "surge" else "")
    with tempfile.TemporaryDirectory(prefix="vmss-bench-") as tmp:
        workdir = Path(tmp)
        with EmulatorProcess(workdir / "emulator", port=0) as emu:
            emu.load_scenario(build_scenario(args.instances, args.upgrade_seconds, args.health_seconds,
                                             args.probe_interval, args.traffic_rps, args.lro_retry_after))
            playbook = workdir / "rollout.yml"
            playbook.write_text(rollout_playbook(args))
            env = ansible_env(emu, workdir)
            # Let every instance settle healthy and into rotation before measuring.
            time.sleep(args.health_seconds + 3 * args.probe_interval + 0.5)
            emu.reset_requests()
            emu.clear_events()
            emu.reset_availability()
            sampler = RequestSampler(emu)
            sampler.start()
            started = time.time()
            proc = subprocess.run(
                [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook)],
                env=env, cwd=workdir, capture_output=True, text=True, timeout=args.timeout, check=False)
            finished = time.time()
            sampler.stop()
            availability = emu.availability()
            requests_total = emu.requests()
            events = emu.events()
            task_times = read_task_times(workdir / "task_times.jsonl")
        log_path = args.results / f"{stem}.ansible.log.tmp"
        log_path.write_text(proc.stdout + proc.stderr)
        # the raw material, for a closer look (git-ignored like the log)
        (args.results / f"{stem}.raw.json.tmp").write_text(json.dumps({"events": events, "task_times": task_times}))

    batches = analyse_batches(events)
    result = summarise(args, batches, events, sampler, started, finished, availability, requests_total)
    result["playbook_rc"] = proc.returncode
    result["controller_time_by_task"] = time_by_task(task_times, batches)
    if not args.no_plot and batches:
        picture = args.results / f"{stem}.png"
        draw_timeline(batches, events, args.instances, started, finished,
                      f"OS image rollout ({args.strategy}): N={args.instances}, U={args.upgrade_seconds:g}s, "
                      f"H={args.health_seconds:g}s, wall {result['wall_s']}s vs bound {result['bound_s']}s",
                      picture)
        result["picture"] = str(picture.relative_to(REPO)) if picture.is_relative_to(REPO) else str(picture)
    (args.results / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    if proc.returncode != 0:
        print(textwrap.indent((proc.stdout + proc.stderr)[-4000:], "ansible| "), file=sys.stderr)
    return 0 if proc.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
