#!/usr/bin/env python
"""Benchmark: time and peak memory to build the inventory of a large scale set.

Starts its own emulator with one scale set of N instances (apps on, so every instance has a private IP),
then runs `ansible-inventory --list` with the vmss.rollout.vmss plugin and prints ONE JSON object:
instances, hosts found, wall seconds, CPU seconds (user + sys), peak RSS of ansible-inventory, and the ARM requests
it made. Because the machine may be shared, it also reports what is not the plugin's: the same command on an empty
inventory (`startup_wall_s`, `startup_cpu_s`), and the plugin's own parse measured in-process (`parse_wall_s`,
`parse_cpu_s`: InventoryManager loading the source, best of --parse-runs).

Two measures say what the inventory costs apart from `ansible-inventory`'s own work:
- `playbook_inventory_s`: what the plugin adds to an `ansible-playbook` run (a play on localhost with no tasks, with
  this source minus with an empty inventory, best of --parse-runs each): the inventory as a playbook pays for it;
- `static_file_wall_s` / `bare_hosts_wall_s`: `ansible-inventory --list` of a static YAML file holding exactly the
  hosts, groups and host variables the plugin produced, and of the same 1000 host names without variables: the
  command's own floor for this data, with no Azure and no plugin.

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


# Times InventoryManager parsing the source in a fresh interpreter: the plugin's parse (client setup, list calls,
# records, hosts added) without ansible-inventory's start-up, variable merge and JSON dump.
PARSE_PROBE = """
import json, sys, time
from ansible.parsing.dataloader import DataLoader
from ansible.inventory.manager import InventoryManager
from ansible.plugins.loader import init_plugin_loader
init_plugin_loader()
loader = DataLoader()
wall, cpu = time.perf_counter(), time.process_time()
inventory = InventoryManager(loader=loader, sources=[sys.argv[1]])
print(json.dumps({"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
                  "hosts": len(inventory.hosts)}))
"""


def run_measured(cmd: list[str], env: dict, cwd: Path) -> tuple[subprocess.CompletedProcess, float, float, float]:
    """Run a command; return it, its wall seconds, its peak RSS in MB and its CPU seconds (user + sys), from wait4's
    rusage (exact)."""
    started = time.perf_counter()
    with open(cwd / "stdout", "w+") as out, open(cwd / "stderr", "w+") as err:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=err)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        completed = subprocess.CompletedProcess(cmd, proc.returncode, out.read(), err.read())
    # ru_maxrss is in KiB on Linux
    return completed, wall, usage.ru_maxrss / 1024.0, usage.ru_utime + usage.ru_stime


def parse_time(source: Path, env: dict, cwd: Path) -> dict:
    """The plugin's parse in-process: {"wall", "cpu", "hosts"} (see PARSE_PROBE)."""
    proc = subprocess.run([sys.executable, "-c", PARSE_PROBE, str(source)], env=env, cwd=cwd,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError("parse probe failed: %s" % proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def static_copies(listed_text: str, workdir: Path) -> tuple[Path, Path]:
    """Two static inventories from `ansible-inventory --list` output: the same hosts, groups and host variables
    (plain strings: the {"__ansible_unsafe": s} wrappers unwrapped), and the same host names alone. Written as JSON,
    which the YAML inventory plugin reads much faster than YAML (about 8 s against 2.4 s for 1000 hosts here)."""
    listed = json.loads(listed_text, object_hook=lambda d: d["__ansible_unsafe"] if d.keys() == {"__ansible_unsafe"}
                        else d)
    hostvars = listed["_meta"]["hostvars"]
    groups = dict((group, {"hosts": dict.fromkeys(body.get("hosts", []))}) for group, body in listed.items()
                  if group not in ("_meta", "all", "ungrouped"))
    same_path, bare_path = workdir / "same.yml", workdir / "bare.yml"
    same_path.write_text(json.dumps({"all": {"hosts": hostvars, "children": groups}}))
    bare_path.write_text(json.dumps({"all": {"hosts": dict.fromkeys(hostvars)}}))
    return same_path, bare_path


def playbook_wall(inventory: Path, env: dict, cwd: Path) -> float:
    """Wall seconds of ansible-playbook running a play on localhost with no tasks against the inventory."""
    play = cwd / "noop.yml"
    play.write_text("- hosts: localhost\n  gather_facts: false\n  tasks: []\n")
    proc, wall, _rss, _cpu = run_measured(
        [str(BIN / "ansible-playbook"), "-i", str(inventory), str(play)], env, cwd)
    if proc.returncode != 0:
        raise RuntimeError("ansible-playbook failed: %s" % (proc.stdout + proc.stderr)[-2000:])
    return wall


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--parse-runs", type=int, default=3, help="in-process parse timings; the best is reported")
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
            proc, wall, peak_mb, cpu = run_measured(
                [str(BIN / "ansible-inventory"), "-i", str(source), "--list"], env, workdir)
            requests = emu.requests()
            empty = workdir / "empty.yml"
            empty.write_text("all: {}\n")
            _empty, startup_wall, _rss, startup_cpu = run_measured(
                [str(BIN / "ansible-inventory"), "-i", str(empty), "--list"], env, workdir)
            parses = [parse_time(source, env, workdir) for _run in range(max(args.parse_runs, 0))]
            runs = range(max(args.parse_runs, 1))
            playbook_with = min(playbook_wall(source, env, workdir) for _run in runs)
            playbook_empty = min(playbook_wall(empty, env, workdir) for _run in runs)
            static_wall = bare_wall = None
            if proc.returncode == 0:
                same, bare = static_copies(proc.stdout, workdir)
                static_wall = min(run_measured([str(BIN / "ansible-inventory"), "-i", str(same), "--list"],
                                               env, workdir)[1] for _run in runs)
                bare_wall = min(run_measured([str(BIN / "ansible-inventory"), "-i", str(bare), "--list"],
                                             env, workdir)[1] for _run in runs)
    hosts = 0
    if proc.returncode == 0:
        inventory = json.loads(proc.stdout)
        hosts = len(inventory.get("_meta", {}).get("hostvars", {}))
    result = {
        "instances": args.instances,
        "hosts": hosts,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "startup_wall_s": round(startup_wall, 2),
        "startup_cpu_s": round(startup_cpu, 2),
        "parse_wall_s": round(min(p["wall"] for p in parses), 3) if parses else None,
        "parse_cpu_s": round(min(p["cpu"] for p in parses), 3) if parses else None,
        "playbook_inventory_s": round(playbook_with - playbook_empty, 2),
        "playbook_wall_s": round(playbook_with, 2),
        "playbook_empty_wall_s": round(playbook_empty, 2),
        "static_file_wall_s": round(static_wall, 2) if static_wall is not None else None,
        "bare_hosts_wall_s": round(bare_wall, 2) if bare_wall is not None else None,
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
