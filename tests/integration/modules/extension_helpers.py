"""Helpers for the extension modules' integration tests: many module calls in ONE ansible-playbook run.

Each step runs a module task (its own check mode), and around it the playbook resets and reads the
emulator's request counters through the admin API, so every step gets its own request counts while the
suite pays for a single ansible-playbook start (~3-5 s) per test.
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
        "config": {"upgrade_seconds": 0.1, "lro_retry_after": 1},
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
    """Run the steps in one playbook. Returns (list of {"result", "requests"}, PlaybookResult)."""
    out = tmp_path / ("steps_%s.json" % os.urandom(4).hex())
    admin = emulator.url + "/_emulator/requests"
    uri = {"url": admin, "ca_path": str(emulator.ca_path), "return_content": True}
    tasks = []
    for i, s in enumerate(steps):
        tasks += [
            {"name": "reset counters %d" % i, "ansible.builtin.uri": dict(uri, method="DELETE", status_code=[200, 204]),
             "check_mode": False, "diff": False},
            {"name": "step %d %s" % (i, s["module"]), "vmss.rollout." + s["module"]: s["args"],
             "register": "r%d" % i, "ignore_errors": True, "check_mode": s["check"]},
            {"name": "count requests %d" % i, "ansible.builtin.uri": dict(uri, method="GET"),
             "register": "q%d" % i, "check_mode": False, "diff": False},
        ]
    collected = "[" + ", ".join("{'result': r%d, 'requests': q%d.json}" % (i, i) for i in range(len(steps))) + "]"
    tasks.append({"name": "save", "ansible.builtin.copy": {"content": "{{ %s | to_json }}" % collected,
                                                            "dest": str(out)},
                  "check_mode": False, "diff": False})
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    res = run_playbook(yaml.safe_dump(play, sort_keys=False), diff=diff, verbosity=verbosity)
    assert out.exists(), res.output[-3000:]
    return json.loads(out.read_text()), res


def writes(entry):
    return entry["requests"]["writes"]


def ext_named(extensions, name):
    return next(e for e in extensions if e["name"] == name)
