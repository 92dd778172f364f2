"""vm_extension, vm_auto_ext_upgrade and vm_info on plain VMs, and a vmss_* module pointed at a VM, through
ansible-playbook against the emulator (real SDK over HTTPS). Judged from the emulator's request counts, state and
events."""
from __future__ import annotations

import json
import sys
from pathlib import Path

# extension_helpers sits next to this file; found whatever pytest's import mode
sys.path.insert(0, str(Path(__file__).resolve().parent))

from extension_helpers import HEALTH, run_steps, step, writes  # noqa: E402

RG = "rg-vm"
SECRET = "vm-s3cr3t-0451"
IMAGE = {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "1.0.0"}
APP = {"name": "app", "publisher": "Microsoft.Azure.Extensions", "type": "CustomScript", "type_handler_version": "2.1",
       "settings": {"commandToExecute": "./install.sh 1"}, "protected_settings": {"storageAccountKey": SECRET}}


def vm_scenario():
    db = {"name": "db-1", "resource_group": RG, "availability_set": "db", "image": dict(IMAGE),
          "extensions": [HEALTH], "app": {"port": 8080}, "tags": {"role": "db"}}
    return {
        "config": {"upgrade_seconds": 0.1, "lro_retry_after": 0.1, "health_grace_seconds": 0.1, "probe_interval": 0.1},
        "resource_groups": [{"name": RG, "location": "westeurope"}],
        "virtual_machines": [db, dict(db, name="db-2")],
    }


def vm_step(module, name="db-1", check=False, **args):
    return step(module, check=check, resource_group=RG, name=name, **args)


def by_operation(entry, operation):
    return entry["requests"]["by_operation"].get(operation, 0)


def test_vm_extension_modules_idempotent_check_diff_secrets_and_the_scale_set_hint(
        fresh_emulator, run_playbook, tmp_path):
    fresh_emulator.load_scenario(vm_scenario())
    loaded = max([e["seq"] for e in fresh_emulator.events()] or [0])
    changed_app = dict(APP, settings={"commandToExecute": "./install.sh 2"})
    out, res = run_steps(run_playbook, fresh_emulator, [
        vm_step("vm_auto_ext_upgrade", check=True, extensions=["health"], enabled=True),            # 0
        vm_step("vm_auto_ext_upgrade", extensions=["health"], enabled=True,
                auto_upgrade_minor_version=True),                                                     # 1
        vm_step("vm_auto_ext_upgrade", extensions=["health"], enabled=True),                         # 2
        vm_step("vm_extension", extensions=[APP]),                                                   # 3 create
        vm_step("vm_extension", extensions=[APP]),                                                   # 4 no change
        vm_step("vm_extension", check=True, extensions=[changed_app]),                               # 5
        vm_step("vm_extension", extensions=[changed_app]),                                           # 6
        vm_step("vm_extension", state="absent", extensions=[{"name": "health"}]),                    # 7 refused
        vm_step("vmss_auto_ext_upgrade", extensions=["health"], enabled=True),                       # 8 not a set
        vm_step("vm_info"),                                                                          # 9
        vm_step("vm_auto_ext_upgrade", extensions=["app"], enabled=True),                            # 10 refused
        vm_step("vm_extension", state="absent", extensions=[{"name": "app"}]),                       # 11 remove
        vm_step("vm_info", name="web"),                                                              # 12 missing
    ], tmp_path)
    r = [o["result"] for o in out]

    assert r[0]["changed"] is True and writes(out[0]) == 0
    assert r[0]["diff"]["before"]["extensions"][0]["enable_automatic_upgrade"] is False
    assert r[0]["diff"]["after"]["extensions"][0]["enable_automatic_upgrade"] is True
    # one PATCH of the one extension, carrying the flags
    assert r[1]["changed"] is True and writes(out[1]) == 1, out[1]
    assert by_operation(out[1], "VirtualMachineExtensions_Update") == 1
    assert r[1]["extensions"] == [{"name": "health", "enable_automatic_upgrade": True,
                                   "auto_upgrade_minor_version": True}]
    assert r[2]["changed"] is False and writes(out[2]) == 0

    assert r[3]["changed"] is True and by_operation(out[3], "VirtualMachineExtensions_CreateOrUpdate") == 1
    assert writes(out[3]) == 1
    assert r[4]["changed"] is False and writes(out[4]) == 0
    assert r[5]["changed"] is True and writes(out[5]) == 0
    assert r[5]["diff"]["after"]["extensions"]["app"]["settings"] == {"commandToExecute": "./install.sh 2"}
    assert r[6]["changed"] is True and by_operation(out[6], "VirtualMachineExtensions_Update") == 1
    assert writes(out[6]) == 1 and r[6]["changes"] == [{"name": "app", "action": "update", "fields": ["settings"]}]

    assert r[7].get("failed") and "allow_health_extension_removal" in r[7]["msg"] and writes(out[7]) == 0

    assert r[8].get("failed") and writes(out[8]) == 0
    assert "is a virtual machine" in r[8]["msg"] and "vmss.rollout.vm_auto_ext_upgrade" in r[8]["msg"], r[8]["msg"]
    assert r[8]["error_code"] == "NotAScaleSet"

    vm = r[9]["vm"]
    assert vm["name"] == "db-1" and vm["kind"] == "virtual_machine" and vm["scale_set_id"] is None
    assert vm["availability_set"].lower().endswith("/availabilitysets/db")
    assert isinstance(vm["update_domain"], int) and isinstance(vm["fault_domain"], int)
    assert vm["power_state"] == "running" and vm["health_state"] == "healthy"
    names = {e["name"]: e for e in vm["extensions"]}
    assert names["app"]["settings"] == {"commandToExecute": "./install.sh 2"}
    assert names["health"]["enable_automatic_upgrade"] is True

    assert r[10].get("failed") and "not upgraded automatically" in r[10]["msg"] and writes(out[10]) == 0
    assert r[11]["changed"] is True and by_operation(out[11], "VirtualMachineExtensions_Delete") == 1
    assert [e["name"] for e in r[11]["extensions"]] == ["health"]
    assert r[12].get("failed") and "ResourceNotFound" in r[12]["msg"]

    # every write went to db-1 (never to its neighbour), and the secret never left the write
    written = [e for e in fresh_emulator.events("model_write", since=loaded) if e.get("vm")]
    assert written and {e["vm"] for e in written} == {"db-1"}, written
    assert SECRET not in res.output
    assert SECRET not in json.dumps(r)
    assert SECRET not in json.dumps(fresh_emulator.events())
