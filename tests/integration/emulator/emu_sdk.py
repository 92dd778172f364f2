"""Helpers for the emulator conformance tests: the real azure-identity and azure-mgmt-compute, over HTTPS."""
from __future__ import annotations

from azure.identity import ClientSecretCredential
from azure.mgmt.compute import ComputeManagementClient

ARM_SCOPE = "https://management.azure.com/.default"
HEALTH_EXT = {"name": "health", "properties": {
    "publisher": "Microsoft.ManagedServices", "type": "ApplicationHealthLinux", "typeHandlerVersion": "2.0",
    "settings": {"protocol": "http", "port": 8080, "requestPath": "/health"}}}
SCRIPT_EXT = {"name": "script", "properties": {
    "publisher": "Microsoft.Azure.Extensions", "type": "CustomScript", "typeHandlerVersion": "2.1",
    "settings": {"fileUris": []}, "protectedSettings": {"commandToExecute": "echo TOPSECRET-42"},
    "provisionAfterExtensions": ["health"]}}
IMAGE = {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "1.0.0"}


def credential_for(emulator, secret=None, tenant=None, client_id=None):
    env = emulator.env
    return ClientSecretCredential(tenant or env["AZURE_TENANT"], client_id or env["AZURE_CLIENT_ID"],
                                  secret or env["AZURE_SECRET"], authority=emulator.url,
                                  disable_instance_discovery=True, connection_verify=str(emulator.ca_path))


def compute_for(emulator, credential=None, subscription=None):
    return ComputeManagementClient(credential or credential_for(emulator),
                                   subscription or emulator.env["AZURE_SUBSCRIPTION_ID"], base_url=emulator.url,
                                   credential_scopes=[ARM_SCOPE], connection_verify=str(emulator.ca_path),
                                   polling_interval=0.05, retry_total=0)


def web_scenario(capacity=15, **overrides):
    """A Manual scale set 'rg-demo/web' with App Health and a script ordered after it; fast timings."""
    scale_set = {"name": "web", "resource_group": "rg-demo", "capacity": capacity, "upgrade_policy": "Manual",
                 "image": dict(IMAGE), "extensions": [HEALTH_EXT, SCRIPT_EXT]}
    scale_set.update(overrides)
    return {"config": {"upgrade_seconds": 0.3, "lro_retry_after": 0.05, "health_grace_seconds": 0},
            "resource_groups": [{"name": "rg-demo", "location": "westeurope"}], "scale_sets": [scale_set]}
