"""Every module's, filter's and the inventory plugin's EXAMPLES, run as written (the tasks in order, in a
gather_facts: false play; each inventory source through ansible-inventory) against the emulator.

The examples all use the demo scale set rg-demo/web; the scenario below is that scale set: ten instances on
Ubuntu 1.0.0, the App Health extension `health`, its app answering on port 8080. Each module's examples run in one
playbook on a fresh scenario, judged from the emulator's state and requests, never from the modules' returns.
"""
from __future__ import annotations

import ast
import json
import subprocess
from pathlib import Path

import pytest
import yaml
from rollout_testlib import plain

REPO = Path(__file__).resolve().parents[2]
MODULES = sorted(p for p in (REPO / "plugins" / "modules").glob("vmss_*.py"))
HEALTH = {"name": "health", "properties": {
    "publisher": "Microsoft.ManagedServices", "type": "ApplicationHealthLinux", "typeHandlerVersion": "2.0",
    "settings": {"protocol": "http", "port": 8080, "requestPath": "/health"}}}
DEMO = {
    "config": {"upgrade_seconds": 0.1, "lro_retry_after": 0.1, "health_grace_seconds": 0.2, "probe_interval": 0.1},
    "resource_groups": [{"name": "rg-demo", "location": "westeurope"}],
    "scale_sets": [{"name": "web", "resource_group": "rg-demo", "capacity": 10, "upgrade_policy": "Manual",
                    "image": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server",
                              "version": "1.0.0"},
                    "extensions": [HEALTH], "app": {"port": 8080}}],
}
# Waits in the examples are realistic; the emulator is fast, so only the polling is shortened (as an operator
# would through module_defaults), never an option an example sets.
FAST_POLL = {"poll_interval": 0.2}


def module_examples(path: Path) -> list[dict]:
    """The EXAMPLES string of a module file, as YAML (read from the source, as ansible-doc does)."""
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "EXAMPLES" for t in node.targets):
            return yaml.safe_load(node.value.value)
    raise AssertionError(f"{path.name} has no EXAMPLES")


def test_every_module_has_examples_on_the_demo_scale_set():
    for path in MODULES:
        tasks = module_examples(path)
        assert tasks, path.name
        for task in tasks:
            args = task.get(f"vmss.rollout.{path.stem}")
            if isinstance(args, dict) and "resource_group" in args:
                assert (args["resource_group"], args.get("name")) == ("rg-demo", "web"), (path.name, task["name"])


@pytest.mark.parametrize("path", MODULES, ids=[p.stem for p in MODULES])
def test_module_examples_run_as_written(path, fresh_emulator, run_playbook):
    emulator = fresh_emulator
    emulator.load_scenario(DEMO)
    emulator.clear_events()
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False,
             "module_defaults": {"group/vmss.rollout.vmss": FAST_POLL},
             "tasks": module_examples(path)}]

    run = run_playbook(yaml.safe_dump(play, sort_keys=False))

    assert run.rc == 0, run.output[-4000:]
    assert "Traceback" not in run.output
    fleet = emulator.admin("GET", "/_emulator/scale_sets/rg-demo/web/instances")["instances"]
    assert len(fleet) == 10
    # no example takes the service down: every instance runs, and at most one update domain (a batch) is drained
    assert all(inst["running"] for inst in fleet), fleet
    out_of_rotation = [inst for inst in fleet if inst.get("drained") or not inst.get("in_rotation", True)]
    assert len({inst["update_domain"] for inst in out_of_rotation}) <= 1, [i["instance_id"] for i in out_of_rotation]
    assert len(out_of_rotation) < len(fleet)


def plugin_examples(path: Path) -> str:
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "EXAMPLES" for t in node.targets):
            return node.value.value
    raise AssertionError(f"{path.name} has no EXAMPLES")


FILTERS = sorted(p for p in (REPO / "plugins" / "filter").glob("*.py") if p.stem != "__init__")
# what each filter's examples print about the demo scale set, its model moved to a new image, instance 3 protected
FILTER_OUTPUT = {
    "batch_exclusions": '"reason": "protected from scale-set actions"',
    "misspelt_options": "my_role_bach is not an option of the my_role role (did you mean my_role_batch?)",
    "plan_batches": "Batch 1 (update domain 0): instances 0",
    "rollout_option_errors": "All assertions passed",
    "rollout_plan": "Plan for the scale set: 3 batch(es), 4 instance(s).",
}


@pytest.mark.parametrize("path", FILTERS, ids=[p.stem for p in FILTERS])
def test_filter_examples_run_as_written(path, fresh_emulator, run_playbook, run_module):
    """Each filter's EXAMPLES (ansible-doc -t filter) in a play of their own: they read the demo scale set and
    show what they compute; none writes to Azure."""
    emulator = fresh_emulator
    emulator.load_scenario(dict(DEMO, scale_sets=[dict(DEMO["scale_sets"][0], protected_instances=["3"])]))
    changed = run_module("vmss_model_image", {"resource_group": "rg-demo", "name": "web", "image": dict(
        DEMO["scale_sets"][0]["image"], version="2.0.0")})
    assert changed["changed"], changed
    emulator.reset_requests()
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False,
             "tasks": yaml.safe_load(plugin_examples(path))}]

    run = run_playbook(yaml.safe_dump(play, sort_keys=False))

    assert run.rc == 0, run.output[-4000:]
    assert FILTER_OUTPUT[path.stem] in run.output, run.output[-4000:]
    assert emulator.requests()["writes"] == 0


VM_MODULES = sorted(p for p in (REPO / "plugins" / "modules").glob("vm_*.py"))
# the plain VM of the vm_* modules' examples, beside the demo scale set
VM_DEMO = dict(DEMO, virtual_machines=[{
    "name": "vm-db-1", "resource_group": "rg-demo", "availability_set": "db", "extensions": [HEALTH],
    "image": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "1.0.0"},
    "app": {"port": 8080}}])


def test_inventory_plugin_examples_run_as_written(fresh_emulator, ansible_env, tmp_path):
    """Each inventory source of the vmss.rollout.vmss plugin's EXAMPLES, as a file of its own, through
    ansible-inventory: the demo scale set's instances, its tags matching the second source, and the cache it
    writes where the example says."""
    emulator = fresh_emulator
    demo = dict(VM_DEMO, scale_sets=[dict(DEMO["scale_sets"][0], tags={"environment": "production", "owner": "web"}),
                                     dict(DEMO["scale_sets"][0], name="web-canary", capacity=1,
                                          tags={"environment": "production", "owner": "web"})])
    emulator.load_scenario(demo)
    sources = [doc for doc in yaml.safe_load_all(plugin_examples(REPO / "plugins" / "inventory" / "vmss.py")) if doc]
    assert len(sources) == 3
    listed = []
    for number, source in enumerate(sources):
        path = tmp_path / f"example{number}.vmss.yml"
        path.write_text(yaml.safe_dump(source))
        proc = subprocess.run([ansible_env["PATH"].split(":")[0] + "/ansible-inventory", "-i", str(path), "--list"],
                              env=dict(ansible_env, ANSIBLE_INVENTORY_UNPARSED_FAILED="true"), capture_output=True,
                              text=True, timeout=300, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        listed.append(plain(json.loads(proc.stdout)))
    # names: [web] in rg-demo: the ten instances of web, not web-canary
    assert len(listed[0]["_meta"]["hostvars"]) == 10
    assert {v["vmss_name"] for v in listed[0]["_meta"]["hostvars"].values()} == {"web"}
    # the estate of rg-demo: both scale sets' instances and the plain VM, grouped by kind
    assert len(listed[1]["kind_uniform_instance"]["hosts"]) == 11
    assert len(listed[1]["kind_virtual_machine"]["hosts"]) == 1
    # tagged scale sets, web-canary excluded, the example's groups and composed variable
    hostvars = listed[2]["_meta"]["hostvars"]
    assert {v["vmss_name"] for v in hostvars.values()} == {"web"} and len(hostvars) == 10
    assert len(listed[2]["location_westeurope"]["hosts"]) == 10
    assert len(listed[2]["model_current"]["hosts"]) == 10
    assert all(v["app_url"] == "http://%s:8080/health" % v["private_ip"] for v in hostvars.values())
    cache = Path(ansible_env["HOME"]) / ".cache" / "vmss-inventory"
    assert cache.is_dir() and any(cache.iterdir())


@pytest.mark.parametrize("path", VM_MODULES, ids=[p.stem for p in VM_MODULES])
def test_vm_module_examples_run_as_written(path, fresh_emulator, run_playbook):
    emulator = fresh_emulator
    emulator.load_scenario(VM_DEMO)
    emulator.clear_events()
    tasks = module_examples(path)
    for task in tasks:
        args = task.get(f"vmss.rollout.{path.stem}")
        if isinstance(args, dict):
            assert (args["resource_group"], args["name"]) == ("rg-demo", "vm-db-1"), (path.name, task["name"])
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False,
             "module_defaults": {"group/vmss.rollout.vmss": FAST_POLL}, "tasks": tasks}]

    # the one variable an example takes from the operator's vault
    run = run_playbook(yaml.safe_dump(play, sort_keys=False), extra_vars={"vault_storage_key": "example-key"})

    assert run.rc == 0, run.output[-4000:]
    assert "Traceback" not in run.output and "example-key" not in run.output
    row = emulator.admin("GET", "/_emulator/virtual_machines/rg-demo/vm-db-1")
    assert row["running"] and row["health"] == "healthy", row
    if path.stem == "vm_extension":   # added app, then removed it again
        assert "app" not in row["extension_order"], row
        writes = [e["operation"] for e in emulator.events("model_write") if e.get("vm") == "vm-db-1"]
        assert writes == ["VirtualMachineExtensions_CreateOrUpdate", "VirtualMachineExtensions_Delete"], writes
