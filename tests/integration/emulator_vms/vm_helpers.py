"""Helpers for the VM / Flexible tests: the mixed scenario with fast timings, and an extension body."""
from __future__ import annotations

from pathlib import Path

import yaml

MIXED = Path(__file__).resolve().parents[3] / "emulator" / "scenarios" / "mixed.yml"
RG = "rg-mixed"
FAST = {"upgrade_seconds": 0.2, "lro_retry_after": 0.05, "health_grace_seconds": 0, "probe_interval": 0.1}


def mixed_scenario(**config):
    """emulator/scenarios/mixed.yml with fast timings (the demo's are human-paced)."""
    data = yaml.safe_load(MIXED.read_text())
    data["config"] = {**data.get("config", {}), **FAST, **config}
    return data


def vm_row(emu, name, rg=RG):
    return emu.admin("GET", f"/_emulator/virtual_machines/{rg}/{name}")


def ext_body(name_version="2.1", settings=None, protected=None, **props):
    body = {"location": "westeurope", "properties": {
        "publisher": "Microsoft.Azure.Extensions", "type": "CustomScript", "typeHandlerVersion": name_version,
        "settings": settings if settings is not None else {"fileUris": []}, **props}}
    if protected is not None:
        body["properties"]["protectedSettings"] = protected
    return body
