"""`make demo-mixed`: the mixed estate on the local Azure emulator, end to end.

Starts the emulator with emulator/scenarios/mixed.yml (rg-mixed: a Uniform scale set `web`, a Flexible scale set
`api` over zones and fault domains, plain VMs db-1..3 in an availability set), runs playbooks/mixed_estate.yml over
the three targets with its output streamed live (automatic extension upgrade of `health` everywhere, then a new
`app` extension rolled out batch by batch: web by update domain, api by zone and fault domain, the VMs by
availability-set update domain), then checks the emulator's own view: every machine carries the new extension, and
the health extension upgrades automatically on all of them. Exits non-zero when anything is off.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from demo import ansible_env, say  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SCENARIO = REPO / "emulator" / "scenarios" / "mixed.yml"
PLAYBOOK = REPO / "playbooks" / "mixed_estate.yml"
RG = "rg-mixed"
VMS = ["db-1", "db-2", "db-3"]
APP = {"name": "app", "publisher": "Microsoft.Azure.Extensions", "type": "CustomScript", "type_handler_version": "2.1",
       "settings": {"commandToExecute": "./deploy.sh 2.0"}}


def run_playbook(emulator, workdir: Path) -> int:
    extra_vars = {
        "mixed_estate_targets": [
            {"kind": "scale_set", "resource_group": RG, "name": "web"},
            {"kind": "scale_set", "resource_group": RG, "name": "api"},
            {"kind": "virtual_machines", "resource_group": RG, "names": VMS},
        ],
        "mixed_estate_auto_upgrade_extensions": ["health"],
        "mixed_estate_rollout_extensions": [APP],
        "mixed_estate_rollout_options": {"batch": 2, "poll_interval": 1, "http_delay": 1, "health_timeout": 120},
    }
    vars_file = workdir / "mixed_vars.json"
    vars_file.write_text(json.dumps(extra_vars))
    command = [str(Path(sys.executable).parent / "ansible-playbook"), str(PLAYBOOK), "-e", f"@{vars_file}"]
    return subprocess.run(command, env=ansible_env(emulator), cwd=workdir, check=False).returncode


def machines(emulator) -> dict:
    """name -> the emulator's row, for the Uniform instances, the Flexible members and the plain VMs."""
    rows = {f"web_{row['instance_id']}": row
            for row in emulator.admin("GET", f"/_emulator/scale_sets/{RG}/web/instances")["instances"]}
    for row in emulator.admin("GET", f"/_emulator/virtual_machines/{RG}")["virtual_machines"]:
        if row["kind"] == "flexible_member" or row["name"] in VMS:
            rows[row["name"]] = row
    return rows


def auto_upgrade_off(compute, scale_sets, vms) -> list:
    """Targets whose health extension is not enrolled in automatic upgrade, read through the Azure SDK."""
    off = [name for name in scale_sets if not [
        e for e in compute.virtual_machine_scale_sets.get(RG, name).virtual_machine_profile.extension_profile.extensions
        if e.name == "health" and e.enable_automatic_upgrade]]
    off += [name for name in vms if not compute.virtual_machine_extensions.get(RG, name, "health").enable_automatic_upgrade]
    return off


def main() -> int:
    from vmss_emulator.testing import EmulatorProcess

    sys.path.insert(0, str(REPO / "tests" / "integration" / "emulator"))
    from emu_sdk import compute_for

    with tempfile.TemporaryDirectory(prefix="vmss-demo-mixed-") as tmp:
        workdir = Path(tmp)
        say(f"Starting the Azure emulator with {SCENARIO.relative_to(REPO)} ...")
        with EmulatorProcess(workdir / "emulator", port=0, scenario=str(SCENARIO)) as emulator:
            before = machines(emulator)
            say(f"Emulator at {emulator.url}: {RG} holds a Uniform scale set web, a Flexible scale set api and the "
                f"plain VMs {', '.join(VMS)}: {len(before)} machines.")
            say("Automatic extension upgrade everywhere, then extension 'app' rolled out batch by batch ...")
            say("")
            started = time.monotonic()
            rc = run_playbook(emulator, workdir)
            elapsed = time.monotonic() - started
            after = machines(emulator)
            off = auto_upgrade_off(compute_for(emulator), ["web", "api"], VMS)
        without_app = sorted(name for name, row in after.items() if "app" not in (row.get("extension_order") or []))
        say("")
        say("=" * 72)
        say(f"Playbook {'succeeded' if rc == 0 else 'FAILED'} in {elapsed:.0f} s: {len(after) - len(without_app)}/"
            f"{len(after)} machines carry extension 'app'.")
        say("Emulator stopped.")
    problems = []
    if rc != 0:
        problems.append(f"ansible-playbook exited with {rc}")
    if without_app:
        problems.append("no extension 'app' on " + ", ".join(without_app))
    if off:
        problems.append("automatic upgrade of 'health' is off on " + ", ".join(off))
    if problems:
        say("Demo FAILED: " + "; ".join(problems) + ".")
        return 1
    say("Demo passed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
