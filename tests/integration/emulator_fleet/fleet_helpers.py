"""Helpers for the fleet tests: a real azure-identity + azure-mgmt-compute client against the emulator, a
scenario with the App Health extension, short timings and a load balancer, and small waits and app calls."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

RG = "rg-fleet"
VMSS = "web"
OLD_VERSION = "1.0.0"
NEW_VERSION = "2.0.0"
HEALTH_EXTENSION = {"name": "health", "properties": {
    "publisher": "Microsoft.ManagedServices", "type": "ApplicationHealthLinux", "typeHandlerVersion": "2.0",
    "settings": {"protocol": "http", "port": 8080, "requestPath": "/health"}}}


def scenario(capacity=3, grace=0.3, probe_interval=0.1, upgrade_seconds=0.4, load_balancer=None, extensions=None,
             page_size=100):
    return {
        "config": {"health_grace_seconds": grace, "probe_interval": probe_interval,
                   "upgrade_seconds": upgrade_seconds, "lro_retry_after": 1, "page_size": page_size},
        "resource_groups": [{"name": RG, "location": "westeurope"}],
        "scale_sets": [{
            "name": VMSS, "resource_group": RG, "capacity": capacity, "upgrade_policy": "Manual",
            "image": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": OLD_VERSION},
            "extensions": [HEALTH_EXTENSION] if extensions is None else extensions,
            "app": {"port": 8080},
            "load_balancer": {"frontend_port": 0, **(load_balancer or {})},
        }],
    }


def make_client(emulator, **kwargs):
    from azure.identity import ClientSecretCredential
    from azure.mgmt.compute import ComputeManagementClient

    env = emulator.env
    credential = ClientSecretCredential(env["AZURE_TENANT"], env["AZURE_CLIENT_ID"], env["AZURE_SECRET"],
                                        authority=emulator.url, disable_instance_discovery=True,
                                        connection_verify=str(emulator.ca_path))
    return ComputeManagementClient(credential, env["AZURE_SUBSCRIPTION_ID"], base_url=emulator.url,
                                   credential_scopes=["https://management.azure.com/.default"],
                                   connection_verify=str(emulator.ca_path), polling_interval=0.1, **kwargs)


def wait_for(predicate, timeout=20.0, interval=0.05, what="condition"):
    """Poll until predicate() is truthy; returns its value (a bounded wait, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def fleet_row(emulator, instance_id):
    return next(r for r in emulator.instances(RG, VMSS) if r["instance_id"] == instance_id)


def app_request(ip, port=8080, method="GET", path="/health"):
    """(status, JSON body) from an instance's app, or (None, None) when the connection is refused."""
    request = urllib.request.Request(f"http://{ip}:{port}{path}", method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - loopback app
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, ConnectionRefusedError):
            return None, None
        raise


def vm_health(sdk, instance_id):
    view = sdk.virtual_machine_scale_set_vms.get_instance_view(RG, VMSS, instance_id)
    return view.vm_health.status.code if view.vm_health else None


def set_image_version(sdk, version):
    from azure.mgmt.compute.models import (ImageReference, VirtualMachineScaleSetUpdate,
                                           VirtualMachineScaleSetUpdateStorageProfile,
                                           VirtualMachineScaleSetUpdateVMProfile)

    image = ImageReference(publisher="Canonical", offer="ubuntu-24_04-lts", sku="server", version=version)
    update = VirtualMachineScaleSetUpdate(virtual_machine_profile=VirtualMachineScaleSetUpdateVMProfile(
        storage_profile=VirtualMachineScaleSetUpdateStorageProfile(image_reference=image)))
    sdk.virtual_machine_scale_sets.begin_update(RG, VMSS, update).result()


def upgrade(sdk, *instance_ids):
    """Start a manual upgrade of the instances (one LRO); returns the poller."""
    from azure.mgmt.compute.models import VirtualMachineScaleSetVMInstanceRequiredIDs

    return sdk.virtual_machine_scale_sets.begin_update_instances(
        RG, VMSS, VirtualMachineScaleSetVMInstanceRequiredIDs(instance_ids=list(instance_ids)))
