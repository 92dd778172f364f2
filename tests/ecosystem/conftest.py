"""Helpers for the ecosystem gates: each gate runs a real tool as a subprocess and shows its output on failure."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


class ToolRun:
    """A finished tool run: return code, combined output, and how long it took (printed, never asserted)."""

    def __init__(self, cmd, returncode, output, seconds):
        self.cmd = cmd
        self.returncode = returncode
        self.output = output
        self.seconds = seconds

    def explain(self) -> str:
        return f"$ {' '.join(map(str, self.cmd))}\n(rc={self.returncode}, {self.seconds:.1f}s)\n{self.output}"


@pytest.fixture
def run_tool():
    """Run a command, return a ToolRun; the duration is printed so `pytest -s`/-rA shows each gate's cost."""

    def run(cmd, cwd=REPO, env=None, timeout=900) -> ToolRun:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("AZURE_")}
        full_env["PATH"] = f"{BIN}{os.pathsep}{full_env.get('PATH', '')}"
        full_env.update(env or {})
        started = time.monotonic()
        proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=full_env, capture_output=True, text=True,
                              timeout=timeout, check=False)
        result = ToolRun(cmd, proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started)
        print(f"{Path(str(cmd[0])).name} {' '.join(map(str, cmd[1:3]))}: {result.seconds:.1f}s")
        return result

    return run
