#!/usr/bin/env python
"""Benchmark: a 1000-instance scale set with its apps and load balancer in one emulator process.

Starts its own emulator, loads one scale set of N instances with the App Health extension, an app on every
instance and a load balancer sending traffic, waits until every instance is in rotation, and prints ONE JSON
object: instances, create_seconds (the scenario load), ready_seconds (until the load balancer has every instance
in rotation), rss_mb of the emulator process, and the load balancer's served/failed counts. It never passes or
fails on time; the goal for the memory is under 300 MB.

    python benchmarks/emulator_fleet.py --instances 1000
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

from vmss_emulator.testing import EmulatorProcess

RESOURCE_GROUP = "rg-fleet"
SCALE_SET = "fleet"


def scenario(instances: int, traffic_rps: float) -> dict:
    return {
        "config": {"health_grace_seconds": 1, "probe_interval": 0.5},
        "resource_groups": [{"name": RESOURCE_GROUP, "location": "westeurope"}],
        "scale_sets": [{
            "name": SCALE_SET, "resource_group": RESOURCE_GROUP, "capacity": instances, "upgrade_policy": "Manual",
            "image": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "1.0.0"},
            "extensions": [{"name": "health", "properties": {
                "publisher": "Microsoft.ManagedServices", "type": "ApplicationHealthLinux", "typeHandlerVersion": "2.0",
                "settings": {"protocol": "http", "port": 8080, "requestPath": "/health"}}}],
            "app": {"port": 8080},
            "load_balancer": {"frontend_port": 0, "traffic_rps": traffic_rps},
        }],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--traffic-rps", type=float, default=20)
    parser.add_argument("--settle", type=float, default=3.0, help="seconds of traffic before measuring memory")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as state_dir, EmulatorProcess(state_dir) as emu:
        started = time.monotonic()
        emu.load_scenario(scenario(args.instances, args.traffic_rps))
        create_seconds = time.monotonic() - started
        key = f"{RESOURCE_GROUP}/{SCALE_SET}"
        while True:
            balancer = emu.availability()["load_balancers"][key]
            if len(balancer.get("in_rotation", [])) == args.instances or time.monotonic() - started > 120:
                break
            time.sleep(0.2)
        ready_seconds = time.monotonic() - started
        time.sleep(args.settle)
        pid = json.loads((Path(emu.state_dir) / "emulator.json").read_text())["pid"]
        rss_mb = psutil.Process(pid).memory_info().rss / 2**20
        # one request by hand through the frontend, to show it answers
        with urllib.request.urlopen(balancer["frontend"] + "/", timeout=5) as answer:
            frontend_status = answer.status
        balancer = emu.availability()["load_balancers"][key]
        print(json.dumps({
            "instances": args.instances,
            "create_seconds": round(create_seconds, 3),
            "ready_seconds": round(ready_seconds, 3),
            "in_rotation": len(balancer["in_rotation"]),
            "rss_mb": round(rss_mb, 1),
            "rss_goal_mb": 300,
            "traffic_rps": args.traffic_rps,
            "served": balancer["served"],
            "failed": balancer["failed"],
            "frontend_status": frontend_status,
        }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
