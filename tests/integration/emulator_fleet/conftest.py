"""Fixtures for the fleet tests (helpers are in fleet_helpers.py)."""
from __future__ import annotations

import pytest
from fleet_helpers import make_client


@pytest.fixture
def sdk(fresh_emulator):
    """The real SDK client (default retry policy; short polling)."""
    return make_client(fresh_emulator)
