"""The vmss.rollout.vmss inventory plugin through `ansible-inventory`, real SDK over HTTPS against the emulator."""
from __future__ import annotations

import json
import math
import subprocess
import textwrap

import pytest
from rollout_testlib import plain

PAGE_SIZE = 4
SCENARIO = {
    "config": {"page_size": PAGE_SIZE, "upgrade_seconds": 0.1},
    "resource_groups": [
        {"name": "rg-inv", "location": "westeurope"},
        {"name": "rg-other", "location": "northeurope"},
    ],
    "scale_sets": [
        {"name": "web-tier", "resource_group": "rg-inv", "capacity": 7, "tags": {"env": "prod", "team": "web"},
         "image": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "1.0.0"}},
        {"name": "api", "resource_group": "rg-inv", "capacity": 4, "zones": ["1", "2"], "tags": {"env": "dev"},
         "image": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "1.0.0"}},
        {"name": "batch", "resource_group": "rg-other", "capacity": 2,
         "image": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "1.0.0"}},
        # same name as rg-inv/api: host names collide unless the resource group is part of them
        {"name": "api", "resource_group": "rg-other", "capacity": 1,
         "image": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "1.0.0"}},
    ],
}


@pytest.fixture
def scenario(fresh_emulator):
    fresh_emulator.load_scenario(SCENARIO)
    fresh_emulator.reset_requests()
    return fresh_emulator


def ansible_inventory(ansible_env, source, *args, env=None):
    cmd = [ansible_env["PATH"].split(":")[0] + "/ansible-inventory", "-i", str(source), "--list", *args]
    full_env = dict(ansible_env, ANSIBLE_INVENTORY_UNPARSED_FAILED="true", **(env or {}))
    proc = subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=300, check=False)
    return proc


def listed(proc):
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return plain(json.loads(proc.stdout))


def group_hosts(inventory, group):
    return sorted(inventory.get(group, {}).get("hosts", []))


def write(path, text):
    path.write_text(textwrap.dedent(text))
    return path


def test_hosts_groups_and_hostvars_match_the_emulator(scenario, ansible_env, tmp_path):
    source = write(tmp_path / "azure.vmss.yml", """\
        plugin: vmss.rollout.vmss
        resource_groups: [rg-inv]
        """)
    inventory = listed(ansible_inventory(ansible_env, source))
    hostvars = inventory["_meta"]["hostvars"]

    assert sorted(hostvars) == sorted([f"web-tier_{i}" for i in range(7)] + [f"api_{i}" for i in range(4)])
    for name, size in (("web-tier", 7), ("api", 4)):
        fleet = {inst["instance_id"]: inst
                 for inst in _fleet(scenario, "rg-inv", name)}
        assert len(fleet) == size
        for instance_id, instance in fleet.items():
            host = hostvars[f"{name}_{instance_id}"]
            assert host["instance_id"] == instance_id
            assert host["vmss_name"] == name
            assert host["vmss_id"].endswith(f"/resourceGroups/rg-inv/providers/Microsoft.Compute/"
                                            f"virtualMachineScaleSets/{name}")
            assert host["resource_group"] == "rg-inv"
            assert host["location"] == "westeurope"
            assert host["private_ip"] == instance["ip"] == host["ansible_host"]
            assert host["latest_model_applied"] is True
            assert host["provisioning_state"] == "Succeeded"
            assert host["image"]["version"] == "1.0.0"
    web = {h: v for h, v in hostvars.items() if h.startswith("web-tier_")}
    assert {h: v["platform_update_domain"] for h, v in web.items()} == {
        f"web-tier_{i}": i % 5 for i in range(7)}
    assert all(v["zone"] is None for v in web.values())
    assert [hostvars[f"api_{i}"]["zone"] for i in range(4)] == ["1", "2", "1", "2"]

    # groups: per scale set (invalid characters replaced), per update domain, per zone
    assert group_hosts(inventory, "vmss_web_tier") == sorted(web)
    assert group_hosts(inventory, "vmss_web_tier_ud_0") == ["web-tier_0", "web-tier_5"]
    assert group_hosts(inventory, "vmss_web_tier_ud_4") == ["web-tier_4"]
    assert group_hosts(inventory, "zone_1") == ["api_0", "api_2"]
    assert group_hosts(inventory, "zone_2") == ["api_1", "api_3"]
    assert "batch_0" not in hostvars  # rg-other was not selected

    # reads only: one scale-set list, then per scale set one paged VM list and one NIC list; never per instance
    requests = scenario.requests()
    ops = requests["by_operation"]
    assert requests["writes"] == 0
    assert ops.get("VirtualMachineScaleSets_List") == 1
    assert ops.get("VirtualMachineScaleSetVMs_List") == math.ceil(7 / PAGE_SIZE) + math.ceil(4 / PAGE_SIZE)
    assert ops.get("VirtualMachineScaleSetVMs_Get", 0) == 0
    assert ops.get("VirtualMachineScaleSetVMs_GetInstanceView", 0) == 0


# Parses the source in-process and reports what was imported: the Uniform-only path reads through a bare ARM pipeline.
IMPORT_PROBE = """
import json, sys
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
init_plugin_loader()
inventory = InventoryManager(loader=DataLoader(), sources=[sys.argv[1]])
print(json.dumps({"hosts": sorted(inventory.hosts), "mgmt_compute": "azure.mgmt.compute" in sys.modules}))
"""


def test_uniform_sets_are_read_without_importing_azure_mgmt_compute(scenario, ansible_env, tmp_path):
    source = write(tmp_path / "azure.vmss.yml", """\
        plugin: vmss.rollout.vmss
        resource_groups: [rg-inv]
        names: [api]
        """)
    python = ansible_env["ANSIBLE_PYTHON_INTERPRETER"]
    proc = subprocess.run([python, "-c", IMPORT_PROBE, str(source)], env=ansible_env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"hosts": ["api_%d" % i for i in range(4)], "mgmt_compute": False}
    requests = scenario.requests()
    assert requests["by_operation"].get("VirtualMachineScaleSets_List") == 1
    assert requests["by_operation"].get("VirtualMachineScaleSetVMs_List") == 1
    assert requests["token_requests"] == 1


def _fleet(emulator, resource_group, name):
    return emulator.admin("GET", f"/_emulator/scale_sets/{resource_group}/{name}/instances")["instances"]


def test_inventory_directory_with_static_hosts_filters_and_constructed_features(scenario, ansible_env, tmp_path):
    directory = tmp_path / "inventory"
    directory.mkdir()
    write(directory / "01-static.ini", """\
        [legacy]
        plain-vm-1 ansible_host=192.0.2.10

        [legacy:vars]
        role=legacy
        """)
    write(directory / "02-fleet.vmss.yml", """\
        plugin: vmss.rollout.vmss
        names: ["web-*", "batch"]
        tags:
          env: prod
        strict: true
        compose:
          health_url: "'http://' ~ private_ip ~ ':8080/health'"
        groups:
          first_update_domain: platform_update_domain == 0
        keyed_groups:
          - key: platform_fault_domain | string   # strict keyed_groups reject the integer 0 as "empty"
            prefix: fd
          - key: (health_url is defined) | string
            prefix: composed
        """)
    inventory = listed(ansible_inventory(ansible_env, directory))
    hostvars = inventory["_meta"]["hostvars"]

    # the static source and the plugin's hosts sit side by side
    assert group_hosts(inventory, "legacy") == ["plain-vm-1"]
    assert hostvars["plain-vm-1"]["role"] == "legacy"
    # names and tags filters: web-tier matches both; api (env dev) and batch (no tags) do not
    assert sorted(h for h in hostvars if h != "plain-vm-1") == sorted(f"web-tier_{i}" for i in range(7))
    assert hostvars["web-tier_3"]["health_url"] == f"http://{hostvars['web-tier_3']['private_ip']}:8080/health"
    assert group_hosts(inventory, "first_update_domain") == ["web-tier_0", "web-tier_5"]
    assert group_hosts(inventory, "fd_1") == ["web-tier_1", "web-tier_6"]
    assert len(group_hosts(inventory, "composed_True")) == 7  # keyed_groups see composed variables


def test_cache_serves_a_second_run_without_calling_azure(scenario, ansible_env, tmp_path):
    source = write(tmp_path / "cached.vmss.yml", f"""\
        plugin: vmss.rollout.vmss
        resource_groups: [rg-inv, rg-other]
        names: [batch, web-tier]
        cache: true
        cache_plugin: ansible.builtin.jsonfile
        cache_connection: {tmp_path / 'cache'}
        cache_timeout: 3600
        """)
    first = listed(ansible_inventory(ansible_env, source))
    assert sorted(first["_meta"]["hostvars"]) == sorted(["batch_0", "batch_1"] + [f"web-tier_{i}" for i in range(7)])
    assert scenario.requests()["reads"] > 0
    assert list((tmp_path / "cache").iterdir()), "the cache plugin wrote nothing"

    scenario.reset_requests()
    second = listed(ansible_inventory(ansible_env, source))
    assert second == first
    assert scenario.requests()["total"] == 0, scenario.requests()

    # another selection in the same file is not served the cached hosts of the first
    scenario.reset_requests()
    source.write_text(source.read_text().replace("names: [batch, web-tier]", "names: [batch]"))
    narrowed = listed(ansible_inventory(ansible_env, source))
    assert sorted(narrowed["_meta"]["hostvars"]) == ["batch_0", "batch_1"]
    assert scenario.requests()["reads"] > 0
    source.write_text(source.read_text().replace("names: [batch]", "names: [batch, web-tier]"))
    scenario.reset_requests()

    # --flush-cache goes back to Azure
    third = listed(ansible_inventory(ansible_env, source, "--flush-cache"))
    assert third == first
    assert scenario.requests()["by_operation"].get("VirtualMachineScaleSetVMs_List", 0) == math.ceil(7 / PAGE_SIZE) + 1


def test_same_scale_set_name_in_two_resource_groups(scenario, ansible_env, tmp_path):
    source = write(tmp_path / "both.vmss.yml", """\
        plugin: vmss.rollout.vmss
        names: [api]
        """)
    clash = ansible_inventory(ansible_env, source)
    assert clash.returncode != 0
    assert "two instances are both named 'api_0'" in clash.stdout + clash.stderr
    assert "hostnames: resource_group_instance_name" in clash.stdout + clash.stderr

    source.write_text(source.read_text() + "hostnames: resource_group_instance_name\n")
    inventory = listed(ansible_inventory(ansible_env, source))
    assert sorted(inventory["_meta"]["hostvars"]) == ["rg-inv_api_0", "rg-inv_api_1", "rg-inv_api_2", "rg-inv_api_3",
                                                      "rg-other_api_0"]
    # groups are as unique as the host names: one per resource group and scale set, and per update domain
    assert group_hosts(inventory, "vmss_rg_inv_api") == ["rg-inv_api_0", "rg-inv_api_1", "rg-inv_api_2",
                                                         "rg-inv_api_3"]
    assert group_hosts(inventory, "vmss_rg_other_api") == ["rg-other_api_0"]
    assert group_hosts(inventory, "vmss_rg_other_api_ud_0") == ["rg-other_api_0"]
    assert "rg-inv_api_0" not in group_hosts(inventory, "vmss_rg_other_api_ud_0")
    assert "vmss_api" not in inventory and "vmss_api_ud_0" not in inventory
    assert inventory["_meta"]["hostvars"]["rg-other_api_0"]["resource_group"] == "rg-other"


def test_a_hostname_collision_leaves_no_half_inventory(scenario, ansible_env, tmp_path):
    """Even where Ansible only warns about a failed source (its default), none of the source's hosts stay."""
    directory = tmp_path / "inventory"
    directory.mkdir()
    write(directory / "01-static.ini", "plain-vm-1 ansible_host=192.0.2.10\n")
    write(directory / "02-both.vmss.yml", """\
        plugin: vmss.rollout.vmss
        names: [api]
        """)
    cmd = [ansible_env["PATH"].split(":")[0] + "/ansible-inventory", "-i", str(directory), "--list"]
    proc = subprocess.run(cmd, env=dict(ansible_env, ANSIBLE_INVENTORY_UNPARSED_FAILED="false"),
                          capture_output=True, text=True, timeout=300, check=False)
    assert "two instances are both named 'api_0'" in proc.stdout + proc.stderr
    hosts = sorted(plain(json.loads(proc.stdout))["_meta"]["hostvars"]) if proc.returncode == 0 else []
    assert hosts in ([], ["plain-vm-1"]), hosts


def test_tags_host_variable_and_exclude_option(scenario, ansible_env, tmp_path):
    source = write(tmp_path / "some.vmss.yml", """\
        plugin: vmss.rollout.vmss
        exclude: [batch, rg-inv/api]
        hostnames: resource_group_instance_name
        """)
    proc = ansible_inventory(ansible_env, source)
    hostvars = listed(proc)["_meta"]["hostvars"]
    # rg-inv/api and every batch are left out; rg-other/api (same name, other resource group) stays
    assert sorted(hostvars) == sorted(["rg-other_api_0"] + [f"rg-inv_web-tier_{i}" for i in range(7)])
    assert hostvars["rg-inv_web-tier_0"]["azure_tags"] == {"env": "prod", "team": "web"}
    assert hostvars["rg-other_api_0"]["azure_tags"] == {}
    # ansible-core reserves "tags": not set unless asked for, so no warning on every run
    assert "tags" not in hostvars["rg-inv_web-tier_0"]
    assert "reserved name" not in proc.stderr, proc.stderr

    compatible = write(tmp_path / "compat.vmss.yml", """\
        plugin: vmss.rollout.vmss
        names: [web-tier]
        tags_variable: true
        """)
    hostvars = listed(ansible_inventory(ansible_env, compatible))["_meta"]["hostvars"]
    assert hostvars["web-tier_0"]["tags"] == hostvars["web-tier_0"]["azure_tags"] == {"env": "prod", "team": "web"}

    bad = write(tmp_path / "bad.vmss.yml", """\
        plugin: vmss.rollout.vmss
        exclude: [3]
        """)
    proc = ansible_inventory(ansible_env, bad)
    assert proc.returncode != 0 and "exclude must be a list of scale set names" in proc.stdout + proc.stderr


def test_an_azure_error_is_one_clear_sentence_and_never_shows_the_secret(scenario, ansible_env, tmp_path):
    source = write(tmp_path / "missing.vmss.yml", """\
        plugin: vmss.rollout.vmss
        resource_groups: [rg-does-not-exist]
        """)
    proc = ansible_inventory(ansible_env, source, "-vvv")
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "list the scale sets of resource group rg-does-not-exist" in output
    assert "ResourceGroupNotFound" in output
    assert ansible_env["AZURE_SECRET"] not in output
    assert scenario.requests()["writes"] == 0


@pytest.mark.parametrize("option, value, allowed", [
    ("hostnames", "fqdn", "instance_name, resource_group_instance_name"),
    ("tags", "[env]", "dict"),
])
def test_bad_option_is_named_with_what_is_allowed_and_azure_is_not_called(
        scenario, ansible_env, tmp_path, option, value, allowed):
    source = write(tmp_path / "bad.vmss.yml", f"""\
        plugin: vmss.rollout.vmss
        {option}: {value}
        """)
    proc = ansible_inventory(ansible_env, source)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert option in output and allowed in output, output
    assert scenario.requests()["total"] == 0


@pytest.mark.parametrize("line, needles", [
    # a typo'd key used to be ignored, and the inventory listed every scale set of the subscription
    ("resource_group: rg-inv", ["unknown option 'resource_group'", "did you mean 'resource_groups'?",
                                "allowed: ", "names", "resource_groups", "tags"]),
    ("names: [5]", ["names must be a list of scale set names or shell-style patterns", "5 is an integer"]),
    ("resource_groups: [rg-inv, 7]", ["resource_groups must be a list of resource group names", "7 is an integer"]),
])
def test_unknown_key_or_non_string_selector_is_one_clear_error_and_azure_is_not_called(
        scenario, ansible_env, tmp_path, line, needles):
    source = write(tmp_path / "typo.vmss.yml", f"""\
        plugin: vmss.rollout.vmss
        {line}
        """)
    proc = ansible_inventory(ansible_env, source)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert all(needle in output for needle in needles), output
    assert "_AnsibleTagged" not in output and "Traceback" not in output, output
    assert scenario.requests()["total"] == 0
