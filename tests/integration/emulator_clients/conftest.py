"""Clients this project did not write (the Azure CLI, azure.azcollection) against the emulator; each test is
skipped when its client is not installed (they are not dependencies of the collection)."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "emulator"))  # emu_sdk
