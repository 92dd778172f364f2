"""Shared helpers for the role and playbook integration tests: scenarios, plays and timeline checks.

Everything here reads the emulator (fleet view, events, availability) or writes test inputs; nothing mocks Azure.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import yaml

RG = "rg-roll"
OLD = "1.0.0"
NEW = "2.0.0"
APP_PORT = 8080
# Short emulator timings keep each rollout to seconds (fractions are sent as retry-after-ms).
FAST = {"upgrade_seconds": 0.2, "lro_retry_after": 0.1, "health_grace_seconds": 0.2, "probe_interval": 0.1}
# Engine settings for tests: smallest integer waits; every other option keeps its default.
FAST_ENGINE = {"poll_interval": 1, "http_delay": 1, "http_retries": 3, "health_timeout": 30, "wait_timeout": 120,
               "show_heatmap": False}

HEALTH_EXTENSION = {
    "name": "health",
    "properties": {"publisher": "Microsoft.ManagedServices", "type": "ApplicationHealthLinux",
                   "typeHandlerVersion": "2.0",
                   "settings": {"protocol": "http", "port": APP_PORT, "requestPath": "/health"}},
}


def image(version: str) -> dict:
    return {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": version}


def scale_set(name: str = "web", capacity: int = 5, rg: str = RG, extensions=None, load_balancer: bool = False,
              **extra) -> dict:
    entry = {"name": name, "resource_group": rg, "capacity": capacity, "upgrade_policy": "Manual",
             "image": image(OLD), "extensions": [HEALTH_EXTENSION] if extensions is None else extensions,
             "app": {"port": APP_PORT}}
    if load_balancer:
        # The emulator's probe times out after one interval; 0.5 s leaves room for a loaded test machine.
        entry["load_balancer"] = {"frontend_port": 0, "probe_interval": 0.5, "traffic_rps": 30}
    entry.update(extra)
    return entry


def scenario(*scale_sets: dict, locations: dict | None = None) -> dict:
    """A scenario with FAST timings; one resource group per distinct rg (location from `locations`)."""
    sets = list(scale_sets) or [scale_set()]
    groups = sorted({s["resource_group"] for s in sets})
    locations = locations or {}
    return {"config": dict(FAST),
            "resource_groups": [{"name": g, "location": locations.get(g, "westeurope")} for g in groups],
            "scale_sets": sets}


def role_play(role: str, result_file: Path | None = None, engine: dict | None = None, **role_vars) -> list:
    """A play running one of our roles with FAST_ENGINE settings (prefixed with the role name), then saving
    rolling_upgrade_result (or the role's own result fact) to `result_file`."""
    variables = {f"{role}_{key}": value for key, value in role_vars.items()}
    if role in ("image_rollout", "extension_rollout", "rolling_upgrade"):
        for key, value in {**FAST_ENGINE, **(engine or {})}.items():
            variables.setdefault(f"{role}_{key}", value)
    tasks = [{"name": f"Run {role}", "ansible.builtin.include_role": {"name": f"vmss.rollout.{role}"},
              "vars": variables}]
    play = {"name": f"Test {role}", "hosts": "localhost", "gather_facts": False, "tasks": tasks}
    if result_file is not None:
        fact = "auto_extension_upgrade_result" if role == "auto_extension_upgrade" else "rolling_upgrade_result"
        # `always` so a failed rollout still leaves its result behind.
        play["tasks"] = [{"name": "Run and keep the result", "block": tasks, "always": [
            {"name": "Save the result", "ansible.builtin.copy": {
                "content": "{{ %s | default({}) | to_json }}" % fact, "dest": str(result_file)}}]}]
    return [play]


def change_model_behind_the_engine(run_playbook, module: str, args: dict) -> None:
    """Change the model with one module call, as a colleague would, then leave the instances to the engine."""
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [{
        "name": "Change the model", f"vmss.rollout.{module}": {"resource_group": RG, "poll_interval": 1, **args}}]}]
    result = run_playbook(yaml.safe_dump(play))
    assert result.rc == 0, result.output


def standalone_engine_with_rollback(run_playbook, result_file: Path):
    """rolling_upgrade on its own, one instance per batch, rollback on and no rollback model given."""
    return run_playbook(yaml.safe_dump(role_play(
        "rolling_upgrade", result_file, resource_group=RG, name="web", rollback=True, batch=1,
        engine={"http_retries": 1})))


def read_json(path: Path):
    return json.loads(path.read_text()) if path.exists() else None


def fleet(emulator, name: str = "web", rg: str = RG) -> list[dict]:
    return emulator.admin("GET", f"/_emulator/scale_sets/{rg}/{name}/instances")["instances"]


def image_versions(emulator, name: str = "web", rg: str = RG) -> dict[str, str]:
    return {row["instance_id"]: row["image_version"] for row in fleet(emulator, name, rg)}


def upgrade_events(emulator, name: str | None = None) -> list[dict]:
    """instance_upgrade_start/end events in timeline order (optionally of one scale set)."""
    events = [e for e in emulator.events() if e["type"] in ("instance_upgrade_start", "instance_upgrade_end")]
    if name is not None:
        events = [e for e in events if e.get("vmss", "").lower() == name.lower()]
    return sorted(events, key=lambda e: e["seq"])


def upgrade_starts(emulator, name: str | None = None) -> Counter:
    return Counter(str(e["instance_id"]) for e in upgrade_events(emulator, name)
                   if e["type"] == "instance_upgrade_start")


def in_flight_sets(events: list[dict]) -> list[frozenset]:
    """Every set of instances out of service at the same time, from the start/end timeline."""
    in_flight: set[str] = set()
    seen = []
    for event in events:
        instance = str(event["instance_id"])
        if event["type"] == "instance_upgrade_start":
            in_flight.add(instance)
            seen.append(frozenset(in_flight))
        else:
            in_flight.discard(instance)
    return seen


def failure_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if "FAILED!" in line]


def wait_for_rotation(emulator, count: int, name: str = "web", rg: str = RG, timeout: float = 60.0) -> None:
    """Wait (bounded) until the load balancer has `count` instances in rotation, so availability is measured
    from a settled start rather than from the instances' first boot."""
    import time
    deadline = time.monotonic() + timeout
    while len(emulator.availability()["load_balancers"][f"{rg}/{name}"]["in_rotation"]) < count:
        assert time.monotonic() < deadline, "the load balancer never had every instance in rotation"
        time.sleep(0.05)


def plain(value):
    """ansible-core 2.19 lists strings that came from Azure (not trusted as templates) as {"__ansible_unsafe": s}."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def kill_playbook_when(ansible_env, playbook: Path, cwd: Path, reached, what: str, timeout: float = 120.0) -> None:
    """Start ansible-playbook on `playbook` and kill its whole process group (as an operator's Ctrl-C / a killed
    job would) once `reached()` is true; fails if the run ends first or `what` never happens in time."""
    import os
    import signal
    import subprocess
    import time
    first = subprocess.Popen(
        [str(ansible_env["PATH"].split(os.pathsep)[0] + "/ansible-playbook"), str(playbook), "-i", "localhost,",
         "-c", "local"], env=ansible_env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while not reached():
            assert first.poll() is None, "the first run ended before it could be interrupted"
            assert time.monotonic() < deadline, f"the rollout never {what}"
            time.sleep(0.05)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
