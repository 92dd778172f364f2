"""Fixtures for the reliability and security suites (helpers live in reliability_helpers.py)."""
from __future__ import annotations

import pytest

from reliability_helpers import sdk_client


@pytest.fixture
def sdk(emulator):
    """A real azure-mgmt-compute client for the test's own reads and edits (not the collection's code)."""
    return sdk_client(emulator)
