"""Unit tests for the pure parts of the vmss.rollout.vmss inventory plugin (no SDK, no emulator)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

# tests/conftest.py links the repository as .tmp/collections/ansible_collections/vmss/rollout
sys.path.insert(0, str(Path(__file__).resolve().parents[4] / ".tmp" / "collections"))

from ansible_collections.vmss.rollout.plugins.inventory import vmss as plugin  # noqa: E402

SCALE_SET = {
    "name": "web-tier",
    "id": "/subscriptions/s/resourceGroups/RG-Demo/providers/Microsoft.Compute/virtualMachineScaleSets/web-tier",
    "location": "westeurope",
    "tags": {"env": "prod", "team": "web"},
}


def vm(instance_id, ud, zone=None, latest=True, health=None):
    statuses = [{"code": "ProvisioningState/succeeded"}, {"code": "PowerState/running"}]
    view = {"platformUpdateDomain": ud, "platformFaultDomain": ud, "statuses": statuses}
    if health:
        view["vmHealth"] = {"status": {"code": "HealthState/" + health}}
    item = {
        "name": "web-tier_%s" % instance_id,
        "instanceId": instance_id,
        "id": SCALE_SET["id"] + "/virtualMachines/" + instance_id,
        "properties": {
            "latestModelApplied": latest,
            "provisioningState": "Succeeded",
            "instanceView": view,
            "storageProfile": {"imageReference": {"publisher": "Canonical", "offer": "o", "sku": "s",
                                                  "version": "1.0.0"}},
        },
    }
    if zone:
        item["zones"] = [zone]
    return item


def nic(instance_id, ip):
    return {
        "id": SCALE_SET["id"] + "/virtualMachines/%s/networkInterfaces/nic" % instance_id,
        "properties": {
            "primary": True,
            "virtualMachine": {"id": SCALE_SET["id"] + "/virtualMachines/" + instance_id},
            "ipConfigurations": [{"properties": {"primary": True, "privateIPAddress": ip}}],
        },
    }


@pytest.mark.parametrize("names, tags, expected", [
    ([], {}, True),
    (["web-tier"], {}, True),
    (["web-*"], {}, True),
    (["api", "web?tier"], {}, True),
    (["web"], {}, False),                      # exact names do not match prefixes
    ([], {"env": "prod"}, True),
    ([], {"env": "dev"}, False),
    ([], {"team": None}, True),                # null: any value, key must exist
    ([], {"owner": None}, False),
    (["web-*"], {"env": "prod", "team": "web"}, True),
    (["web-*"], {"env": "prod", "team": "api"}, False),
])
def test_scale_set_selected(names, tags, expected):
    assert plugin.scale_set_selected(SCALE_SET, names, tags) is expected


def test_group_names_replace_invalid_characters():
    assert plugin.group_name("vmss", "web-tier") == "vmss_web_tier"
    assert plugin.group_name("vmss", "web.tier", "ud", 3) == "vmss_web_tier_ud_3"
    assert plugin.group_name("zone", "2") == "zone_2"


def test_host_records_join_instances_with_nic_ips_and_keep_resource_group_case():
    vms = [vm("10", 0, zone="1"), vm("2", 2, zone="3", latest=False, health="unhealthy")]
    nics = [nic("2", "127.5.0.3"), nic("10", "127.5.0.11")]
    records = plugin.host_records(SCALE_SET, vms, nics)
    assert [r["instance_id"] for r in records] == ["2", "10"]   # numeric order
    second, tenth = records
    assert second["private_ip"] == "127.5.0.3"
    assert second["platform_update_domain"] == 2
    assert second["zone"] == "3"
    assert second["latest_model_applied"] is False
    assert second["health_state"] == "unhealthy"
    assert tenth["resource_group"] == "RG-Demo"
    assert tenth["vmss_name"] == "web-tier" and tenth["vmss_id"] == SCALE_SET["id"]
    assert tenth["image"]["version"] == "1.0.0"
    assert tenth["name"] == "web-tier_10"


def test_resource_group_of_is_case_insensitive_on_the_segment_name():
    assert plugin.resource_group_of("/subscriptions/s/resourcegroups/rg1/providers/x/y/z") == "rg1"


@pytest.mark.parametrize("properties, flexible", [
    ({}, False),
    ({"orchestrationMode": "Uniform"}, False),
    ({"orchestrationMode": "Flexible"}, True),
    ({"orchestrationMode": "flexible"}, True),
])
def test_flexible_orchestration_is_recognised(properties, flexible):
    assert plugin.is_flexible(dict(SCALE_SET, properties=properties)) is flexible


ALLOWED = {"plugin", "resource_groups", "names", "tags", "hostnames", "compose", "cache"}


@pytest.mark.parametrize("config, expected", [
    ({"plugin": "vmss.rollout.vmss", "resource_groups": ["rg"], "names": ["web-*"], "tags": {"env": None}}, None),
    ({"plugin": "vmss.rollout.vmss", "resource_group": "rg"},
     "unknown option 'resource_group' (did you mean 'resource_groups'?); allowed: cache, compose, hostnames, names, "
     "plugin, resource_groups, tags."),
    ({"plugin": "vmss.rollout.vmss", "zzz": 1}, "unknown option 'zzz'; allowed: cache, compose, hostnames, names, "
                                                "plugin, resource_groups, tags."),
    ({"names": ["web", 5]}, "names must be a list of scale set names or shell-style patterns such as web-* (strings); "
                            "5 is an integer: quote it if it is a name."),
    ({"resource_groups": "rg"}, "resource_groups must be a list of resource group names, got a str."),
    ({"resource_groups": [True]}, "resource_groups must be a list of resource group names (strings); True is a "
                                  "boolean: quote it if it is a name."),
    ({"tags": {"env": ["a", "b"]}}, "tags must map tag names (strings) to a value or null (any value); 'env': "
                                    "['a', 'b'] is not allowed."),
])
def test_config_problem_names_the_key_and_what_is_allowed(config, expected):
    assert plugin.config_problem(config, ALLOWED) == expected


class ListingService:
    """Answers list_instances / list_nics from tables, recording each call; a name in ``failing`` raises."""

    def __init__(self, failing=()):
        self.calls = []
        self.failing = failing

    def _answer(self, kind, resource_group, name):
        self.calls.append((kind, resource_group, name))
        if name in self.failing:
            raise plugin.VmssError("list the %s of scale set %s/%s: throttled" % (kind, resource_group, name))
        return ["%s of %s/%s" % (kind, resource_group, name)]

    def list_instances(self, resource_group, name):
        return self._answer("instances", resource_group, name)

    def list_nics(self, resource_group, name):
        return self._answer("nics", resource_group, name)


def test_read_uniform_sets_reads_each_set_once_and_keys_the_answers_by_set():
    other = dict(SCALE_SET, name="api", id=SCALE_SET["id"].replace("web-tier", "api"))
    service = ListingService()
    reads = plugin.read_uniform_sets(service, [SCALE_SET, other])
    assert {set_id: (vms.result(), nics.result()) for set_id, (vms, nics) in reads.items()} == {
        SCALE_SET["id"]: (["instances of RG-Demo/web-tier"], ["nics of RG-Demo/web-tier"]),
        other["id"]: (["instances of RG-Demo/api"], ["nics of RG-Demo/api"]),
    }
    assert sorted(service.calls) == [("instances", "RG-Demo", "api"), ("instances", "RG-Demo", "web-tier"),
                                     ("nics", "RG-Demo", "api"), ("nics", "RG-Demo", "web-tier")]
    assert plugin.read_uniform_sets(service, []) == {}


def test_read_uniform_sets_raises_a_failed_list_at_its_result():
    reads = plugin.read_uniform_sets(ListingService(failing=("web-tier",)), [SCALE_SET])
    vms, _nics = reads[SCALE_SET["id"]]
    with pytest.raises(plugin.VmssError, match="list the instances of scale set RG-Demo/web-tier: throttled"):
        vms.result()
