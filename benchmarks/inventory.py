#!/usr/bin/env python
"""Benchmark: time and peak memory to build the inventory of a large scale set.

Starts its own emulator with one scale set of N instances (apps on, so every instance has a private IP),
then runs `ansible-inventory --list` with the vmss.rollout.vmss plugin and prints ONE JSON object:
instances, hosts found, wall seconds, peak RSS of ansible-inventory, and the ARM requests it made.

    python benchmarks/inventory.py --instances 1000
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rollout import BIN, OLD_IMAGE, RESULTS, ansible_env  # noqa: E402

RESOURCE_GROUP = "rg-inventory"
SCALE_SET = "fleet"


def scenario(instances: int) -> dict:
    return {
        "config": {"page_size": 1000},
        "resource_groups": [{"name": RESOURCE_GROUP, "location": "westeurope"}],
        "scale_sets": [{
            "name": SCALE_SET, "resource_group": RESOURCE_GROUP, "capacity": instances,
            "upgrade_policy": "Manual", "image": OLD_IMAGE, "app": {"port": 8080},
        }],
    }


def run_measured(cmd: list[str], env: dict, cwd: Path) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run a command; return it, its wall seconds and its peak RSS in MB (from wait4's rusage, exact)."""
    started = time.perf_counter()
    with open(cwd / "stdout", "w+") as out, open(cwd / "stderr", "w+") as err:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=err)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        completed = subprocess.CompletedProcess(cmd, proc.returncode, out.read(), err.read())
    return completed, wall, usage.ru_maxrss / 1024.0  # ru_maxrss is in KiB on Linux


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    from vmss_emulator.testing import EmulatorProcess

    with tempfile.TemporaryDirectory(prefix="vmss-inv-bench-") as tmp:
        workdir = Path(tmp)
        with EmulatorProcess(workdir / "emulator", port=0) as emu:
            emu.load_scenario(scenario(args.instances))
            source = workdir / "bench.vmss.yml"
            source.write_text(
                "plugin: vmss.rollout.vmss\n"
                f"resource_groups: [{RESOURCE_GROUP}]\n"
                f"names: [{SCALE_SET}]\n")
            env = ansible_env(emu, workdir)
            emu.reset_requests()
            proc, wall, peak_mb = run_measured(
                [str(BIN / "ansible-inventory"), "-i", str(source), "--list"], env, workdir)
            requests = emu.requests()
    hosts = 0
    if proc.returncode == 0:
        inventory = json.loads(proc.stdout)
        hosts = len(inventory.get("_meta", {}).get("hostvars", {}))
    result = {
        "instances": args.instances,
        "hosts": hosts,
        "wall_s": round(wall, 2),
        "peak_rss_mb": round(peak_mb, 1),
        "arm_reads": requests.get("reads", 0),
        "arm_writes": requests.get("writes", 0),
        "token_requests": requests.get("token_requests", 0),
        "by_operation": requests.get("by_operation", {}),
        "rc": proc.returncode,
    }
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / f"inventory-n{args.instances}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    if proc.returncode != 0:
        print(proc.stderr[-4000:], file=sys.stderr)
    return 0 if proc.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
