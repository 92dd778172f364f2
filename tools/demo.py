"""`make demo`: an OS image rollout on the local Azure emulator, end to end.

Starts the emulator with emulator/scenarios/demo.yml (scale set `web`: 15 instances over 5 update domains, App
Health, a CustomScript extension after it, a load balancer with traffic), runs playbooks/os_image_rollout.yml with
the drain hook on and its output streamed live (heatmap before, batch by batch progress, heatmap and summary after),
then reports the requests the load balancer served and failed during the rollout, stops the emulator, and exits
non-zero when the rollout failed, a request failed, or an instance is not on the new image.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCENARIO = REPO / "emulator" / "scenarios" / "demo.yml"
PLAYBOOK = REPO / "playbooks" / "os_image_rollout.yml"
RESOURCE_GROUP, SCALE_SET = "rg-demo", "web"
NEW_VERSION = "2.0.0"


def say(text: str = "") -> None:
    print(text, flush=True)


def ansible_env(emulator) -> dict:
    """The emulator's AZURE_* exports (as AWX's Azure credential would set them) plus tidy, live output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZURE_")}
    env.update(emulator.env)
    collections = env.get("ANSIBLE_COLLECTIONS_PATH") or str(REPO / ".tmp" / "collections")
    link = Path(collections) / "ansible_collections" / "vmss" / "rollout"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(Path("../../../.."))
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": collections,
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,   # the venv with the Azure SDK
        "ANSIBLE_CALLBACK_RESULT_FORMAT": "yaml",
        "ANSIBLE_DISPLAY_SKIPPED_HOSTS": "false",
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "ANSIBLE_PIPELINING": "true",   # fewer file copies per module run on the controller
        "PYTHONUNBUFFERED": "1",
    })
    return env


def wait_for_rotation(emulator, count: int, timeout: float = 60.0) -> dict:
    """Wait (bounded) until every instance is in the load balancer's rotation, so traffic is measured from a
    settled start."""
    deadline = time.monotonic() + timeout
    while True:
        balancer = emulator.availability()["load_balancers"][f"{RESOURCE_GROUP}/{SCALE_SET}"]
        if len(balancer["in_rotation"]) >= count or time.monotonic() > deadline:
            return balancer
        time.sleep(0.1)


def run_rollout(emulator, workdir: Path, old_image: dict) -> int:
    import subprocess

    extra_vars = {
        "image_rollout_resource_group": RESOURCE_GROUP,
        "image_rollout_name": SCALE_SET,
        "image_rollout_image": dict(old_image, version=NEW_VERSION),
        "image_rollout_drain": True,
        "image_rollout_drain_seconds": 2,      # a few probe intervals (0.5 s) for the load balancer to notice
        "image_rollout_rollback": True,
        "image_rollout_poll_interval": 1,
        "image_rollout_http_delay": 1,
    }
    vars_file = workdir / "demo_vars.json"
    vars_file.write_text(json.dumps(extra_vars))
    command = [str(Path(sys.executable).parent / "ansible-playbook"), str(PLAYBOOK), "-e", f"@{vars_file}"]
    # Output goes straight to the terminal, so the rollout can be followed live.
    return subprocess.run(command, env=ansible_env(emulator), cwd=workdir, check=False).returncode


def main() -> int:
    import yaml
    from vmss_emulator.testing import EmulatorProcess

    scenario = yaml.safe_load(SCENARIO.read_text())
    web = next(s for s in scenario["scale_sets"] if s["name"] == SCALE_SET)
    capacity = web["capacity"]
    with tempfile.TemporaryDirectory(prefix="vmss-demo-") as tmp:
        workdir = Path(tmp)
        say(f"Starting the Azure emulator with {SCENARIO.relative_to(REPO)} ...")
        with EmulatorProcess(workdir / "emulator", port=0, scenario=str(SCENARIO)) as emulator:
            say(f"Emulator at {emulator.url}: scale set {RESOURCE_GROUP}/{SCALE_SET}, {capacity} instances on image "
                f"{web['image']['version']}, a load balancer with {web['load_balancer']['traffic_rps']} requests/s.")
            wait_for_rotation(emulator, capacity)
            emulator.reset_availability()
            say(f"Rolling image {NEW_VERSION} out, update domain by update domain, with the drain hook on ...")
            say("")
            started = time.monotonic()
            rc = run_rollout(emulator, workdir, web["image"])
            elapsed = time.monotonic() - started
            balancer = emulator.availability()["load_balancers"][f"{RESOURCE_GROUP}/{SCALE_SET}"]
            fleet = emulator.admin("GET", f"/_emulator/scale_sets/{RESOURCE_GROUP}/{SCALE_SET}/instances")["instances"]
        on_new = [row["instance_id"] for row in fleet if row["image_version"] == NEW_VERSION]
        say("")
        say("=" * 72)
        say(f"Rollout {'succeeded' if rc == 0 else 'FAILED'} in {elapsed:.0f} s: {len(on_new)}/{capacity} instances on "
            f"image {NEW_VERSION}.")
        say(f"Load balancer during the rollout: {balancer['served']} requests served, {balancer['failed']} failed.")
        say("Emulator stopped.")
    problems = []
    if rc != 0:
        problems.append(f"ansible-playbook exited with {rc}")
    if balancer["failed"]:
        problems.append(f"{balancer['failed']} requests failed through the load balancer")
    if len(on_new) != capacity:
        problems.append(f"only {len(on_new)} of {capacity} instances are on the new image")
    if problems:
        say("Demo FAILED: " + "; ".join(problems) + ".")
        return 1
    say("Demo passed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
