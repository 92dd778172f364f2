"""Fixtures for the emulator conformance tests (helpers live in emu_sdk.py)."""
from __future__ import annotations

import pytest
from emu_sdk import compute_for, web_scenario


@pytest.fixture
def emu(fresh_emulator):
    return fresh_emulator


@pytest.fixture
def compute(emu):
    client = compute_for(emu)
    yield client
    client.close()


@pytest.fixture
def web(emu):
    """The emulator with the 15-instance 'web' scale set loaded."""
    emu.load_scenario(web_scenario())
    return emu
