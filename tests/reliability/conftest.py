"""Fixtures for the reliability and security suites (helpers live in reliability_helpers.py)."""
from __future__ import annotations

import json
import ssl
import urllib.request

import pytest


@pytest.fixture
def sdk(emulator):
    """A real azure-mgmt-compute client for the test's own reads and edits (not the collection's code)."""
    from azure.identity import ClientSecretCredential
    from azure.mgmt.compute import ComputeManagementClient

    env = emulator.env
    url = emulator.url
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
