"""The emulator's log: a name sent by a client cannot add a line of its own (real SDK over HTTPS)."""
from __future__ import annotations

import pytest
from azure.core.exceptions import ResourceNotFoundError

FORGED = "2026-01-01 00:00:00,000 INFO POST /forged -> 200 Forged 1.0ms"


@pytest.mark.parametrize("separator", ["\n", "\r\n", "\u2028"])
def test_a_scale_set_name_with_a_newline_does_not_forge_a_log_line(emu, compute, separator):
    name = f"web{separator}{FORGED}"
    with pytest.raises(ResourceNotFoundError):
        compute.virtual_machine_scale_sets.get("rg-log", name)

    lines = emu.log_path.read_text(encoding="utf-8").splitlines()
    assert not [line for line in lines if line.startswith(FORGED)], lines[-3:]
    logged = [line for line in lines if "/virtualMachineScaleSets/web" in line and "/forged" in line]
    assert logged and all("-> 404" in line for line in logged), lines[-3:]
