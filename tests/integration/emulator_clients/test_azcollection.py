"""azure.azcollection's VMSS modules against the emulator (AZURE_CLOUD_ENVIRONMENT = the emulator's URL, read as a
metadata endpoint). Judged from the emulator's state. Skipped unless an ansible-playbook whose Python has
azure.azcollection and its requirements is found: $AZCOLLECTION_ANSIBLE_PLAYBOOK, or ansible-playbook on PATH
(e.g. a venv of its own: pip install ansible, then the collection's requirements.txt). azcollection 3.12 cannot
resolve a cloud from a metadata URL with its own pinned azure-cli-core; azcollection_shim/sitecustomize.py puts
the missing function back for this run only."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
from emu_sdk import compute_for, web_scenario

SHIM = str(Path(__file__).with_name("azcollection_shim"))  # see its docstring: azcollection 3.12's cloud bug
PROBE = "import ansible_collections.azure.azcollection, azure.cli.core, azure.mgmt.compute"


def _azcollection_playbook() -> str | None:
    for candidate in (os.environ.get("AZCOLLECTION_ANSIBLE_PLAYBOOK"), shutil.which("ansible-playbook")):
        if not candidate or not os.path.exists(candidate):
            continue
        with open(candidate, "rb") as script:
            shebang = script.readline().decode(errors="replace")
        python = shebang[2:].strip().split()[0] if shebang.startswith("#!") else None
        if python and subprocess.run([python, "-c", PROBE], capture_output=True, check=False).returncode == 0:
            return candidate
    return None


PLAYBOOK = _azcollection_playbook()
pytestmark = pytest.mark.skipif(PLAYBOOK is None, reason="no ansible-playbook with azure.azcollection installed")


def _play(emu, tmp_path, tasks: str) -> dict:
    """Run tasks with the emulator's env.sh; returns the registered results (the play's `out` fact)."""
    save = """\
        - ansible.builtin.copy:
            dest: "{{ playbook_dir }}/out.json"
            content: "{{ out | to_json }}"
        """
    play = "- hosts: localhost\n  gather_facts: false\n  tasks:\n" + textwrap.indent(
        textwrap.dedent(tasks) + textwrap.dedent(save), "    ")
    (tmp_path / "play.yml").write_text(play)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "ANSIBLE_"))}
    env.update(emu.env)
    env.update({"AZURE_DISABLE_INSTANCE_DISCOVERY": "true", "ANSIBLE_NOCOLOR": "1", "PYTHONPATH": SHIM,
                "ANSIBLE_LOCALHOST_WARNING": "false", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
                "ANSIBLE_PYTHON_INTERPRETER": "auto_silent"})
    done = subprocess.run([PLAYBOOK, str(tmp_path / "play.yml")], env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return json.loads((tmp_path / "out.json").read_text())


def test_azcollection_vmss_modules(fresh_emulator, tmp_path):
    emu = fresh_emulator
    emu.load_scenario(web_scenario(capacity=3))
    out = _play(emu, tmp_path, """\
        - azure.azcollection.azure_rm_virtualmachinescaleset_info:
            resource_group: rg-demo
            name: web
            format: curated
          register: info
        - azure.azcollection.azure_rm_virtualmachinescalesetinstance_info:
            resource_group: rg-demo
            vmss_name: web
          register: instances
        - azure.azcollection.azure_rm_virtualmachinescalesetextension:
            resource_group: rg-demo
            vmss_name: web
            name: monitor
            publisher: Microsoft.Azure.Monitor
            type: AzureMonitorLinuxAgent
            type_handler_version: "1.0"
            settings: {}
          register: extension
        # azcollection 3.12 bug: updating an existing extension copies the resource type
        # (Microsoft.Compute/virtualMachineScaleSets/extensions) into properties.type; Azure refuses that
        - azure.azcollection.azure_rm_virtualmachinescalesetextension:
            resource_group: rg-demo
            vmss_name: web
            name: script
            publisher: Microsoft.Azure.Extensions
            type: CustomScript
            type_handler_version: "2.1"
            settings: {"fileUris": [], "commandToExecute": "echo release-2"}
          register: type_rewrite
          ignore_errors: true
        - azure.azcollection.azure_rm_virtualmachinescalesetinstance:
            resource_group: rg-demo
            vmss_name: web
            instance_id: "0"
            latest_model: true
          register: upgraded
        - ansible.builtin.set_fact:
            out: {info: "{{ info }}", instances: "{{ instances }}", extension: "{{ extension }}",
                  type_rewrite: "{{ type_rewrite }}"}
        """)
    scale_set = out["info"]["vmss"][0]
    assert scale_set["name"] == "web"
    assert scale_set["os_type"] == "Linux"  # from osProfile.linuxConfiguration (it said Windows without it)
    assert scale_set["load_balancer"] == "webLB"  # (its subnet_name reads a camelCase key: always None)
    assert sorted(i["instance_id"] for i in out["instances"]["instances"]) == ["0", "1", "2"]
    assert out["extension"]["changed"] is True
    assert out["type_rewrite"]["failed"] is True
    assert "PropertyChangeNotAllowed" in out["type_rewrite"]["msg"]
    client = compute_for(emu)
    try:
        extensions = {e.name: e for e in client.virtual_machine_scale_set_extensions.list("rg-demo", "web")}
    finally:
        client.close()
    assert extensions["monitor"].properties.type == "AzureMonitorLinuxAgent"
    assert extensions["script"].properties.type == "CustomScript"  # the refused write changed nothing
    assert extensions["script"].properties.settings == {"fileUris": []}
    rows = {i["instance_id"]: i for i in emu.instances("rg-demo", "web")}
    assert rows["0"]["latest_model_applied"] and not rows["1"]["latest_model_applied"]
