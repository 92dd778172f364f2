"""Fixtures shared by every test: the emulator, and ways to run Ansible against it.

The contract is in docs/architecture.md. Integration tests run the real azure-identity and
azure-mgmt-compute clients (inside Ansible modules) over HTTPS against the emulator.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
COLLECTIONS = REPO / ".tmp" / "collections"
BIN = Path(sys.executable).parent

# Tests run with --import-mode=importlib (test files in different folders share names), so the
# folders holding shared helper modules (any .py that is neither a test nor a conftest) go on sys.path.
_HELPER_DIRS = {
    p.parent for p in Path(__file__).parent.rglob("*.py")
    if not p.name.startswith("test_") and p.name != "conftest.py" and "output" not in p.parts
}
for _helpers_dir in sorted(_HELPER_DIRS):
    if str(_helpers_dir) not in sys.path:
        sys.path.insert(0, str(_helpers_dir))


def _ensure_collection_link() -> None:
    link = COLLECTIONS / "ansible_collections" / "vmss" / "rollout"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink():
            link.unlink()
        link.symlink_to(Path("../../../.."))


@pytest.fixture(scope="session")
def emulator(tmp_path_factory):
    """One emulator per test session (per xdist worker)."""
    from vmss_emulator.testing import EmulatorProcess

    state_dir = tmp_path_factory.mktemp("emulator")
    emu = EmulatorProcess(state_dir, port=0)
    emu.start(timeout=60)
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def fresh_emulator(emulator):
    """The session's emulator, reset: no resources, events, counters or faults."""
    emulator.reset()
    return emulator


@pytest.fixture
def ansible_env(emulator, tmp_path):
    """Environment for ansible subprocesses: the emulator's env.sh plus quiet, hermetic Ansible settings."""
    _ensure_collection_link()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "ANSIBLE_"))}
    env.update(emulator.env)
    env.update(
        {
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
            # the venv's python runs the modules (it has the Azure SDK); discovery could pick a pyenv shim
            # that fails under the test's HOME
            "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
            "ANSIBLE_LOCALHOST_WARNING": "false",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
            "ANSIBLE_RETRY_FILES_ENABLED": "false",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_HOST_KEY_CHECKING": "false",
            "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-local"),
            "ANSIBLE_REMOTE_TEMP": str(tmp_path / "ansible-remote"),
            "HOME": str(tmp_path / "home"),
        }
    )
    (tmp_path / "home").mkdir(exist_ok=True)
    return env


@dataclass
class PlaybookResult:
    rc: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture
def run_playbook(ansible_env, tmp_path):
    """Run ansible-playbook; the playbook is a path or YAML text (a list of plays)."""
    counter = {"n": 0}

    def run(playbook, extra_vars=None, check=False, diff=False, verbosity=0, env=None,
            inventory=None, args=(), timeout=600) -> PlaybookResult:
        counter["n"] += 1
        path = Path(playbook) if isinstance(playbook, Path) or (
            isinstance(playbook, str) and "\n" not in playbook and playbook.endswith((".yml", ".yaml"))
        ) else None
        if path is None:
            path = tmp_path / f"playbook_{counter['n']}.yml"
            path.write_text(textwrap.dedent(playbook) if isinstance(playbook, str) else yaml.safe_dump(playbook))
        cmd = [str(BIN / "ansible-playbook"), str(path)]
        cmd += ["-i", inventory] if inventory else ["-i", "localhost,", "-c", "local"]
        if extra_vars:
            vars_file = tmp_path / f"extra_vars_{counter['n']}.json"
            vars_file.write_text(json.dumps(extra_vars))
            cmd += ["-e", f"@{vars_file}"]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        if verbosity:
            cmd.append("-" + "v" * verbosity)
        cmd += list(args)
        full_env = dict(ansible_env)
        full_env.update(env or {})
        proc = subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=timeout, cwd=tmp_path,
                              check=False)
        return PlaybookResult(proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture
def run_module(run_playbook, tmp_path):
    """Run one collection module on localhost and return its result dict (plus 'rc' and 'output')."""

    def run(module, args, check=False, diff=False, verbosity=0, env=None):
        out = tmp_path / f"result_{module}_{os.urandom(4).hex()}.json"
        play = [{
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {"name": "module under test", f"vmss.rollout.{module}": args,
                 "register": "result", "ignore_errors": True},
                {"name": "save result", "ansible.builtin.copy": {
                    "content": "{{ result | to_json }}", "dest": str(out)},
                 "check_mode": False, "diff": False},
            ],
        }]
        res = run_playbook(yaml.safe_dump(play, sort_keys=False), check=check, diff=diff,
                           verbosity=verbosity, env=env)
        data = json.loads(out.read_text()) if out.exists() else {"failed": True, "msg": "no result"}
        data["rc"] = res.rc
        data["output"] = res.output
        return data

    return run


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


def pytest_configure(config):
    _ensure_collection_link()
    tempfile.tempdir = tempfile.gettempdir()
