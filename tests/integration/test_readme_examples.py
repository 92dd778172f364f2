"""Every playbook example of README.md and roles/*/README.md runs as written against the emulator.

The fenced ```yaml blocks that are plays or task lists are extracted in order; task lists run in a play on
localhost. An HTML comment on the line before a block changes what happens to it:
`<!-- example: skip (reason) -->` leaves it out (an Azure feature the emulator lacks, or variables it needs from
elsewhere), `<!-- example: file NAME -->` writes it beside the playbook as NAME (a task file an example names).
The examples use the demo's names (rg-demo, web, and api beside it). Only timings are overridden (bake, drain
and pause times, poll and retry intervals: extra vars, and module_defaults for the modules' poll interval).
Judged from the emulator (the Azure SDK's view of the model, and the instances) after each README's examples.
"""
from __future__ import annotations

import re
from pathlib import Path

import yaml
from emu_sdk import compute_for
from rollout_testlib import HEALTH_EXTENSION, scale_set, scenario

REPO = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"(?:<!--\s*example:\s*(?P<marker>[^>]*?)\s*-->\s*\n)?```yaml\n(?P<body>.*?)```", re.S)
APP_CONFIG = {"name": "app-config", "properties": {
    "publisher": "Microsoft.Azure.Extensions", "type": "CustomScript", "typeHandlerVersion": "2.1",
    "settings": {"commandToExecute": "systemctl restart web"}, "provisionAfterExtensions": ["health"]}}
# timings only: every role's waits and intervals, under each role's prefix
TIMINGS = {f"{prefix}_{key}": value
           for prefix in ("rolling_upgrade", "image_rollout", "extension_rollout")
           for key, value in {"bake_seconds": 0, "drain_seconds": 0, "pause_seconds": 0, "poll_interval": 1,
                              "http_delay": 1, "health_timeout": 60, "show_heatmap": False}.items()}
TIMINGS["auto_extension_upgrade_poll_interval"] = 1
# the modules' own poll interval (5 s by default), for the task examples: a timing, added to every play
MODULE_TIMINGS = {"group/vmss.rollout.vmss": {"poll_interval": 1}}


def examples(markdown: Path, workdir: Path) -> list[dict]:
    """The plays of one markdown file's examples (task lists wrapped in a localhost play); marked files written."""
    plays = []
    for match in FENCE.finditer(markdown.read_text()):
        marker = (match.group("marker") or "").strip()
        if marker.startswith("skip"):
            assert "(" in marker, f"{markdown}: a skipped example says why: {marker}"
            continue
        if marker.startswith("file "):
            (workdir / marker.split()[1]).write_text(match.group("body"))
            continue
        data = yaml.safe_load(match.group("body"))
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            continue  # a vars file, an inventory source, a requirements file: not a play
        if all("hosts" in item for item in data):
            plays.extend(data)
        else:
            plays.append({"name": f"Example from {markdown.relative_to(REPO)}", "hosts": "localhost",
                          "gather_facts": False, "tasks": data})
    for play in plays:
        assert "module_defaults" not in play, "an example's own module_defaults would be replaced here"
        play["module_defaults"] = MODULE_TIMINGS
    return plays


def demo(compute):
    """The scale set web as the SDK sees it: image version and extensions by name."""
    model = compute.virtual_machine_scale_sets.get("rg-demo", "web")
    extensions = {e.name: e for e in model.virtual_machine_profile.extension_profile.extensions}
    return model.virtual_machine_profile.storage_profile.image_reference.version, extensions


def load_estate(emulator):
    """The demo's names: web and api, and the plain VM and the Flexible set of the README's VM/Flexible examples."""
    web = scale_set("web", capacity=1, rg="rg-demo", extensions=[HEALTH_EXTENSION, APP_CONFIG])
    estate = scenario(web, scale_set("api", capacity=1, rg="rg-demo"),
                      # the plain VM and the Flexible set of the "Plain VMs and Flexible scale sets" examples
                      scale_set("jobs", capacity=2, rg="rg-demo", orchestration_mode="Flexible",
                                platform_fault_domain_count=2))
    estate["virtual_machines"] = [{"name": "db-1", "resource_group": "rg-demo", "availability_set": "db",
                                   "image": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server",
                                             "version": "1.0.0"},
                                   "extensions": [HEALTH_EXTENSION], "app": {"port": 8080}}]
    emulator.load_scenario(estate)
    return compute_for(emulator)


def test_readme_examples_run_as_written(fresh_emulator, run_playbook, tmp_path):
    emulator = fresh_emulator
    compute = load_estate(emulator)
    readme = examples(REPO / "README.md", tmp_path)
    assert len(readme) >= 2, readme
    run = run_playbook(yaml.safe_dump(readme, sort_keys=False), extra_vars=TIMINGS)
    assert run.rc == 0, run.output[-6000:]
    version, extensions = demo(compute)
    # the Roles example rolled 1.0.1 onto every instance; the CustomScript example changed the app for real
    assert version == "1.0.1"
    assert {i["image_version"] for i in emulator.instances("rg-demo", "web")} == {"1.0.1"}
    assert extensions["app-config"].settings == {"fileUris": ["https://example.com/app-2.0.sh"]}
    assert extensions["app-config"].force_update_tag == "2.0"
    assert extensions["app-config"].provision_after_extensions == ["health"]
    # the plain VM and the Flexible set examples changed them for real
    db = {e.name: e for e in compute.virtual_machine_extensions.list("rg-demo", "db-1").value}
    assert db["health"].enable_automatic_upgrade is True
    assert db["app"].settings == {"fileUris": ["https://example.com/db-agent-2.0.sh"]}
    jobs = compute.virtual_machine_scale_sets.get("rg-demo", "jobs")
    assert [e.enable_automatic_upgrade for e in jobs.virtual_machine_profile.extension_profile.extensions] == [True]


def test_role_readme_examples_run_as_written(fresh_emulator, run_playbook, tmp_path):
    """The roles' READMEs, on the same estate (a test of their own, so the two halves run in parallel)."""
    emulator = fresh_emulator
    compute = load_estate(emulator)
    roles = [play for path in sorted(REPO.glob("roles/*/README.md")) for play in examples(path, tmp_path)]
    assert len(roles) >= 4, roles
    run = run_playbook(yaml.safe_dump(roles, sort_keys=False), extra_vars=TIMINGS)
    assert run.rc == 0, run.output[-6000:]
    version, extensions = demo(compute)
    assert version == "2.0.0"
    assert {i["image_version"] for i in emulator.instances("rg-demo", "web")} == {"2.0.0"}
    assert {i["latest_model_applied"] for i in emulator.instances("rg-demo", "web")} == {True}
    assert extensions["app-config"].settings["fileUris"] == ["https://example.org/app/deploy-v2.sh"]
    assert extensions["health"].enable_automatic_upgrade is True
    api = compute.virtual_machine_scale_sets.get("rg-demo", "api")
    assert [e.enable_automatic_upgrade for e in api.virtual_machine_profile.extension_profile.extensions] == [True]
