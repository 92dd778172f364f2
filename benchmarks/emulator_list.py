#!/usr/bin/env python
"""Benchmark: create a 1000-instance scale set through the SDK and list it with instanceView.

Starts its own emulator, creates the scale set with azure-mgmt-compute (PUT + LRO), lists every instance with
`$expand=instanceView` (paged), and prints ONE JSON object: instances, create_seconds, list_seconds, seconds
(create + list), pages, and rss_mb of the emulator process afterwards. It never passes or fails on time; the goals
are under 2 s and under 300 MB.

    python benchmarks/emulator_list.py --instances 1000
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time

import psutil
from azure.identity import ClientSecretCredential
from azure.mgmt.compute import ComputeManagementClient

from vmss_emulator.testing import EmulatorProcess

BODY = {
    "location": "westeurope",
    "sku": {"name": "Standard_D2s_v3"},
    "properties": {
        "upgradePolicy": {"mode": "Manual"},
        "virtualMachineProfile": {
            "storageProfile": {"imageReference": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts",
                                                  "sku": "server", "version": "1.0.0"}},
            "extensionProfile": {"extensions": [
                {"name": "health", "properties": {
                    "publisher": "Microsoft.ManagedServices", "type": "ApplicationHealthLinux",
                    "typeHandlerVersion": "2.0", "settings": {"protocol": "http", "port": 8080,
                                                              "requestPath": "/health"}}},
                {"name": "script", "properties": {
                    "publisher": "Microsoft.Azure.Extensions", "type": "CustomScript", "typeHandlerVersion": "2.1",
                    "settings": {}, "provisionAfterExtensions": ["health"]}}]},
        },
    },
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--page-size", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vmss-bench-") as state_dir, EmulatorProcess(state_dir) as emu:
        emu.load_scenario({"config": {"upgrade_seconds": 0.1, "lro_retry_after": 0.05, "page_size": args.page_size},
                           "resource_groups": [{"name": "rg-bench", "location": "westeurope"}]})
        env = emu.env
        credential = ClientSecretCredential(env["AZURE_TENANT"], env["AZURE_CLIENT_ID"], env["AZURE_SECRET"],
                                            authority=emu.url, disable_instance_discovery=True,
                                            connection_verify=str(emu.ca_path))
        client = ComputeManagementClient(credential, env["AZURE_SUBSCRIPTION_ID"], base_url=emu.url,
                                         credential_scopes=["https://management.azure.com/.default"],
                                         connection_verify=str(emu.ca_path), polling_interval=0.05)
        credential.get_token("https://management.azure.com/.default")  # sign-in is not what we measure
        body = {**BODY, "sku": {**BODY["sku"], "capacity": args.instances}}
        start = time.perf_counter()
        client.virtual_machine_scale_sets.begin_create_or_update("rg-bench", "bench", body).result()
        created = time.perf_counter()
        emu.reset_requests()
        vms = list(client.virtual_machine_scale_set_vms.list("rg-bench", "bench", expand="instanceView"))
        listed = time.perf_counter()
        pages = emu.requests()["by_operation"].get("VirtualMachineScaleSetVMs_List", 0)
        rss_mb = psutil.Process(emu.process.pid).memory_info().rss / 2**20
        print(json.dumps({
            "instances": len(vms), "create_seconds": round(created - start, 3),
            "list_seconds": round(listed - created, 3), "seconds": round(listed - start, 3), "pages": pages,
            "with_instance_view": all(v.instance_view is not None for v in vms), "rss_mb": round(rss_mb, 1),
        }))
        client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
