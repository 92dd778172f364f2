"""Fixtures for the VM / Flexible conformance tests: the real SDK against the emulator with the mixed estate."""
from __future__ import annotations

import pytest
from emu_sdk import compute_for
from vm_helpers import mixed_scenario


@pytest.fixture
def emu(fresh_emulator):
    fresh_emulator.load_scenario(mixed_scenario())
    return fresh_emulator


@pytest.fixture
def compute(emu):
    client = compute_for(emu)
    yield client
    client.close()
