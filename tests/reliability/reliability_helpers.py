"""Helpers for the reliability and security suites: small scenarios, rollout plays, event arithmetic.

Every scenario here is tiny (a handful of instances, sub-second emulator timings) so the suite stays fast.
The fixtures `fresh_emulator`, `run_playbook`, `run_module` and `ansible_env` come from tests/conftest.py;
`sdk` (sdk_client below: a real azure-mgmt-compute client for the test's own reads and edits) from
tests/reliability/conftest.py. The fault campaign (tests/campaign/campaign_lib.py, also run by tools/campaign.py
outside pytest) uses sdk_client, wait_for and processes_mentioning from here too.
"""
from __future__ import annotations

import json
import ssl
import time
import urllib.request
from collections import Counter
from pathlib import Path

RG = "rg-rel"
VMSS = "rel"
OLD_VERSION = "1.0.0"
NEW_VERSION = "2.0.0"
APP_PORT = 8080


def image(version: str) -> dict:
    return {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": version}


HEALTH_EXTENSION = {
    "name": "health",
    "properties": {
        "publisher": "Microsoft.ManagedServices", "type": "ApplicationHealthLinux", "typeHandlerVersion": "2.0",
        "settings": {"protocol": "http", "port": APP_PORT, "requestPath": "/health"},
    },
}

# Fast but realistic: every wait in a rollout is a fraction of a second.
FAST_CONFIG = {
    "upgrade_seconds": 0.3,
    "lro_retry_after": 0.2,
    "health_grace_seconds": 0.2,
    "probe_interval": 0.1,
}


def scenario(capacity: int = 5, extensions=None, load_balancer: bool = False, **scale_set) -> dict:
    """One Manual-policy scale set on image 1.0.0 with App Health and an app on every instance."""
    vmss = {
        "name": VMSS, "resource_group": RG, "capacity": capacity, "upgrade_policy": "Manual",
        "image": image(OLD_VERSION),
        "extensions": [HEALTH_EXTENSION] if extensions is None else extensions,
        "app": {"port": APP_PORT},
    }
    if load_balancer:
        vmss["load_balancer"] = {"frontend_port": 0, "probe_interval": 0.1, "traffic_rps": 20}
    vmss.update(scale_set)
    return {"config": dict(FAST_CONFIG), "resource_groups": [{"name": RG, "location": "westeurope"}],
            "scale_sets": [vmss]}


def rollout_play(version: str = NEW_VERSION, **engine) -> list:
    """A play running the image_rollout role (which hands over to rolling_upgrade) with fast settings."""
    role_vars = {
        "image_rollout_resource_group": RG,
        "image_rollout_name": VMSS,
        "image_rollout_image": image(version),
    }
    settings = {
        "poll_interval": 1,
        "http_delay": 1,
        "http_retries": 5,
        "health_timeout": 30,
        "wait_timeout": 60,
        "show_heatmap": False,
    }
    settings.update(engine)
    role_vars.update({f"image_rollout_{key}": value for key, value in settings.items()})
    return [{
        "name": "Reliability rollout",
        "hosts": "localhost",
        "gather_facts": False,
        "tasks": [{"name": "Roll out the image", "ansible.builtin.include_role": {"name": "vmss.rollout.image_rollout"},
                   "vars": role_vars}],
    }]


def fleet(emulator, rg: str = RG, name: str = VMSS) -> list[dict]:
    """The emulator's fleet view: id, ip, app port, running, health, image version."""
    view = emulator.admin("GET", f"/_emulator/scale_sets/{rg}/{name}/instances")
    return view["instances"] if isinstance(view, dict) else view


def image_versions(emulator) -> dict[str, str]:
    return {str(i.get("instance_id", i.get("id"))): i.get("image_version") for i in fleet(emulator)}


def upgrade_starts(emulator, operation: str | None = None) -> Counter:
    """How many times each instance started an upgrade (optionally only one kind of operation)."""
    return Counter(
        str(e["instance_id"]) for e in emulator.events("instance_upgrade_start")
        if operation is None or e.get("operation") == operation)


def fired(emulator, kind: str) -> list[dict]:
    return [e for e in emulator.events("fault_fired") if e.get("kind") == kind]


def model_image_version(emulator, sdk) -> str:
    vmss = sdk.virtual_machine_scale_sets.get(RG, VMSS)
    return vmss.virtual_machine_profile.storage_profile.image_reference.version


def sdk_client(emulator):
    """A real azure-mgmt-compute client on ``emulator`` (its cloud metadata, credentials and CA), not the
    collection's code."""
    from azure.identity import ClientSecretCredential
    from azure.mgmt.compute import ComputeManagementClient

    env, url = emulator.env, emulator.url
    with urllib.request.urlopen(  # noqa: S310 - the emulator on loopback
            f"{url}/metadata/endpoints?api-version=2022-09-01",
            context=ssl.create_default_context(cafile=str(emulator.ca_path))) as answer:
        clouds = json.loads(answer.read())
    cloud = clouds[0] if isinstance(clouds, list) else clouds
    audience = cloud["authentication"]["audiences"][0].rstrip("/")
    credential = ClientSecretCredential(
        env["AZURE_TENANT"], env["AZURE_CLIENT_ID"], env["AZURE_SECRET"], authority=url,
        disable_instance_discovery=True, connection_verify=str(emulator.ca_path))
    return ComputeManagementClient(credential, env["AZURE_SUBSCRIPTION_ID"], base_url=url,
                                   credential_scopes=[f"{audience}/.default"],
                                   connection_verify=str(emulator.ca_path), polling_interval=0.2)


def processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line contains ``text`` (zombies have none)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and text.encode() in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
        except OSError:   # gone meanwhile
            continue
    return pids


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.05, what: str = "condition"):
    """Poll `predicate` until it returns something truthy (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def fail_messages(output: str) -> list[str]:
    """The task failure lines Ansible printed ("fatal: [...]: FAILED! => ...")."""
    return [line for line in output.splitlines() if "FAILED!" in line]
