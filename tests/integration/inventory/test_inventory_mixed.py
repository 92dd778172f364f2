"""One inventory for the whole estate: static hosts + plain VMs + a Uniform and a Flexible scale set, through
`ansible-inventory` (real SDK over HTTPS against the emulator). Judged against the emulator's own fleet view."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

# the plugin test sits next to this file; found whatever pytest's import mode
sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_inventory_plugin import group_hosts as hosts_of, plain  # noqa: E402

RG = "rg-estate"
IMAGE = {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "1.0.0"}
HEALTH = {"name": "health", "properties": {"publisher": "Microsoft.ManagedServices", "type": "ApplicationHealthLinux",
                                           "typeHandlerVersion": "2.0",
                                           "settings": {"protocol": "http", "port": 8080, "requestPath": "/health"}}}
SCENARIO = {
    "config": {"upgrade_seconds": 0.1, "health_grace_seconds": 0.1, "probe_interval": 0.1},
    "resource_groups": [{"name": RG, "location": "westeurope"}],
    "scale_sets": [
        {"name": "web", "resource_group": RG, "capacity": 3, "image": IMAGE, "extensions": [HEALTH],
         "app": {"port": 8080}},
        {"name": "api", "resource_group": RG, "capacity": 4, "orchestration_mode": "Flexible",
         "platform_fault_domain_count": 2, "zones": ["1", "2"], "image": IMAGE, "extensions": [HEALTH],
         "app": {"port": 8080}},
    ],
    "virtual_machines": [
        {"name": "db-1", "resource_group": RG, "availability_set": "db", "image": IMAGE, "extensions": [HEALTH],
         "app": {"port": 8080}, "tags": {"role": "db"}},
        {"name": "db-2", "resource_group": RG, "availability_set": "db", "image": IMAGE, "extensions": [HEALTH],
         "app": {"port": 8080}, "tags": {"role": "db"}},
        {"name": "jump", "resource_group": RG, "zones": ["1"], "image": IMAGE, "tags": {"role": "jump"},
         "load_balancer_group": "jump"},
    ],
}


def test_static_hosts_plain_vms_uniform_and_flexible_in_one_inventory(fresh_emulator, ansible_env, tmp_path):
    fresh_emulator.load_scenario(SCENARIO)
    fleet = {row["name"]: row for row in
             fresh_emulator.admin("GET", "/_emulator/virtual_machines/%s" % RG)["virtual_machines"]}
    members = sorted(name for name, row in fleet.items() if row["kind"] == "flexible_member")
    assert len(members) == 4
    fresh_emulator.reset_requests()

    inventory_dir = tmp_path / "inventory"
    inventory_dir.mkdir()
    (inventory_dir / "static.yml").write_text(textwrap.dedent("""\
        all:
          children:
            bastions:
              hosts:
                bastion-1: {ansible_host: 192.0.2.10, kind: static}
        """))
    (inventory_dir / "estate.vmss.yml").write_text(textwrap.dedent(f"""\
        plugin: vmss.rollout.vmss
        resource_groups: [{RG}]
        vm_names: ["db-*"]
        keyed_groups:
          - key: kind
            prefix: kind
        """))
    proc = subprocess.run([ansible_env["PATH"].split(":")[0] + "/ansible-inventory", "-i", str(inventory_dir),
                           "--list"], env=dict(ansible_env, ANSIBLE_INVENTORY_UNPARSED_FAILED="true"),
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Flexible" not in proc.stderr   # no "skipping" warning any more
    inventory = plain(json.loads(proc.stdout))
    hostvars = inventory["_meta"]["hostvars"]

    # every kind, side by side; jump is not selected by vm_names
    assert sorted(hostvars) == sorted(["bastion-1", "web_0", "web_1", "web_2", "db-1", "db-2"] + members)
    assert hostvars["bastion-1"] == {"ansible_host": "192.0.2.10", "kind": "static"}
    assert hosts_of(inventory, "kind_uniform_instance") == ["web_0", "web_1", "web_2"]
    assert hosts_of(inventory, "kind_flexible_member") == members
    assert hosts_of(inventory, "kind_virtual_machine") == ["db-1", "db-2"]

    # Flexible members: grouped by fault domain and zone as the emulator placed them, never by update domain
    assert hosts_of(inventory, "vmss_api") == members
    for name in members:
        row, host = fleet[name], hostvars[name]
        assert host["platform_fault_domain"] == row["fault_domain"] and host["zone"] == row["zone"]
        assert host["platform_update_domain"] is None and host["vmss_name"] == "api"
        assert name in hosts_of(inventory, "vmss_api_fd_%s" % row["fault_domain"])
        assert name in hosts_of(inventory, "zone_%s" % row["zone"])
        assert host["ansible_host"] == row["ip"] and host["health_state"] == "healthy"
        assert host["latest_model_applied"] is True
    assert not [g for g in inventory if g.startswith("vmss_api_ud")]

    # plain VMs: the availability set's update and fault domains
    for name in ("db-1", "db-2"):
        row, host = fleet[name], hostvars[name]
        assert row["update_domain"] is not None and host["platform_update_domain"] == row["update_domain"]
        assert host["platform_fault_domain"] == row["fault_domain"]
        assert host["ansible_host"] == row["ip"] and host["latest_model_applied"] is None
        assert host["azure_tags"] == {"role": "db"} and host["health_state"] == "healthy"
        assert name in hosts_of(inventory, "availability_set_db_ud_%s" % row["update_domain"])
    assert hosts_of(inventory, "virtual_machines") == ["db-1", "db-2"]
    assert hostvars["web_1"]["kind"] == "uniform_instance" and hostvars["web_1"]["platform_update_domain"] == 1

    # the resource group's NICs are read once for the members and the VMs together
    requests = fresh_emulator.requests()["by_operation"]
    assert requests.get("NetworkInterfaces_List") == 1, requests
    assert requests.get("VirtualMachines_List") == 1, requests     # the Flexible set's members (filter)
    assert requests.get("VirtualMachines_ListAll") == 1, requests  # vm_names without vm_resource_groups
    # the Flexible members' instance views come in their list ($expand=instanceView with the scale-set filter);
    # only the plain VMs are read one by one (Azure's VM list takes $expand only with that filter)
    assert requests.get("VirtualMachines_InstanceView") == 2, requests
    # the Flexible and VM reads share the scale-set reader's credential: one sign-in for the whole source
    assert fresh_emulator.requests()["token_requests"] == 1
