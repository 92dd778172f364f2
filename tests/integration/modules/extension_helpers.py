"""Helpers for the extension modules' integration tests: many module calls in ONE ansible-playbook run.

Each step runs a module task (its own check mode), and after it the playbook reads the emulator's request
counters through the admin API, so every step gets its own request counts while the suite pays for a
single ansible-playbook start (~3-5 s) per test.
"""
from __future__ import annotations

import json
import os

import yaml

SCALE_SET = {"resource_group": "rg-ext", "name": "web"}

HEALTH = {"name": "health", "properties": {
    "publisher": "Microsoft.ManagedServices", "type": "ApplicationHealthLinux", "typeHandlerVersion": "2.0",
    "settings": {"protocol": "http", "port": 8080, "requestPath": "/health"}}}


def scenario(extensions=None, upgrade_policy="Manual", capacity=2):
    return {
        "config": {"upgrade_seconds": 0.1, "lro_retry_after": 0.1},
        "resource_groups": [{"name": SCALE_SET["resource_group"], "location": "westeurope"}],
        "scale_sets": [{
            "name": SCALE_SET["name"], "resource_group": SCALE_SET["resource_group"], "capacity": capacity,
            "upgrade_policy": upgrade_policy,
            "image": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "1.0.0"},
            "extensions": [HEALTH] if extensions is None else extensions,
        }],
    }


def step(module, check=False, **args):
    """One module call; resource_group/name default to the test scale set; poll fast."""
    full = dict(SCALE_SET, poll_interval=0.2, wait_timeout=60)
    full.update(args)
    return {"module": module, "args": full, "check": check}


def run_steps(run_playbook, emulator, steps, tmp_path, diff=True, verbosity=0):
    """Run the steps in one playbook. Returns (list of {"result", "requests"}, PlaybookResult).

    ``requests`` holds the step's own counts: the difference between the emulator's counters read just
    before and just after the step (one admin GET per step keeps the playbook short).
    """
    out = tmp_path / ("steps_%s.json" % os.urandom(4).hex())
    uri = {"url": emulator.url + "/_emulator/requests", "ca_path": str(emulator.ca_path), "method": "GET"}
    tasks = [{"name": "count requests before", "ansible.builtin.uri": uri, "register": "q0",
              "check_mode": False, "diff": False}]
    for i, s in enumerate(steps):
        tasks += [
            {"name": "step %d %s" % (i, s["module"]), "vmss.rollout." + s["module"]: s["args"],
             "register": "r%d" % i, "ignore_errors": True, "check_mode": s["check"]},
            {"name": "count requests %d" % i, "ansible.builtin.uri": uri, "register": "q%d" % (i + 1),
             "check_mode": False, "diff": False},
        ]
    collected = "{'results': [%s], 'counters': [%s]}" % (
        ", ".join("r%d" % i for i in range(len(steps))),
        ", ".join("q%d.json" % i for i in range(len(steps) + 1)))
    tasks.append({"name": "save", "ansible.builtin.copy": {"content": "{{ %s | to_json }}" % collected,
                                                           "dest": str(out)},
                  "check_mode": False, "diff": False})
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    res = run_playbook(yaml.safe_dump(play, sort_keys=False), diff=diff, verbosity=verbosity)
    assert out.exists(), res.output[-3000:]
    data = json.loads(out.read_text())
    counters = data["counters"]
    entries = [{"result": result, "requests": _delta(counters[i], counters[i + 1])}
               for i, result in enumerate(data["results"])]
    return entries, res


def _delta(before, after):
    ops = after.get("by_operation") or {}
    old = before.get("by_operation") or {}
    delta = dict((k, after[k] - before.get(k, 0)) for k in after if isinstance(after[k], int))
    delta["by_operation"] = dict((k, v - old.get(k, 0)) for k, v in ops.items() if v - old.get(k, 0))
    return delta


def writes(entry):
    return entry["requests"]["writes"]


def ext_named(extensions, name):
    return next(e for e in extensions if e["name"] == name)
