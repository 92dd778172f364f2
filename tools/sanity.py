"""Run `ansible-test sanity` on the collection, offline, from a copy of the working tree.

ansible-test only runs inside `.../ansible_collections/<namespace>/<name>/` and resolves symlinks, so the
tracked and untracked-not-ignored files are copied to a temporary `.../ansible_collections/vmss/rollout/`
outside the repository (inside it, ansible-test would ask git for the file list and find the copy ignored).

ansible-test builds one virtual environment per sanity test and bootstraps pip into it with a script it
downloads from ci-files.testing.ansible.com. That host is not reachable here, so a small stand-in (ensurepip,
then pip from the package index) is placed in ansible-test's cache. HOME points at `.tmp/ansible-test-home`
so the cache and the sanity venvs stay inside the repository's scratch space and are reused between runs.

Usage: tools/sanity.py [extra ansible-test sanity arguments, e.g. --test pep8]
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRATCH = REPO / ".tmp"
TEST_HOME = SCRATCH / "ansible-test-home"
PYTHON_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"

# Stand-in for get-pip.py: ansible-test runs it as `python get_pip.py [pip options] pip==X --no-setuptools --no-wheel`
# inside a venv created --without-pip. The repository venv's own (recent) pip installs into that venv through
# `pip --python`: the pip bundled with ensurepip may not trust this machine's certificate store.
GET_PIP_SHIM = '''\
"""Offline stand-in for get-pip.py, written by tools/sanity.py."""
import subprocess
import sys

args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([{host_python!r}, "-m", "pip", "--python", sys.executable, "install", "--quiet"] + args)
'''


def collection_files() -> list[str]:
    """Tracked plus untracked files that .gitignore does not exclude (what ansible-test itself would see)."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO, check=True, capture_output=True,
    ).stdout.decode()
    return sorted({name for name in out.split("\0") if name and (REPO / name).is_file()})


def copy_tree(destination: Path) -> None:
    for name in collection_files():
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)


def install_get_pip_shim() -> None:
    import ansible_test._internal.python_requirements as requirements  # pylint: disable=import-outside-toplevel

    pip_version = requirements.get_venv_packages(
        type("Python", (), {"version": PYTHON_VERSION})()
    )["pip"]
    cache = TEST_HOME / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    (cache / f"get_pip_{pip_version.replace('.', '_')}.py").write_text(GET_PIP_SHIM.format(host_python=sys.executable))


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="vmss-rollout-sanity-") as temp:
        collection_copy = Path(temp) / "ansible_collections" / "vmss" / "rollout"
        copy_tree(collection_copy)
        return run_sanity(collection_copy, argv)


def run_sanity(collection_copy: Path, argv: list[str]) -> int:
    install_get_pip_shim()
    env = dict(os.environ)
    env["PIP_CACHE_DIR"] = env.get("PIP_CACHE_DIR") or str(Path.home() / ".cache" / "pip")
    env["HOME"] = str(TEST_HOME)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("ANSIBLE_COLLECTIONS_PATH", None)  # ansible-test sets its own, from the copy's location
    cmd = [str(Path(sys.executable).parent / "ansible-test"), "sanity", "--python", PYTHON_VERSION,
           "--color", "no", *argv]
    print("+", " ".join(cmd), f"(in {collection_copy})", flush=True)
    return subprocess.run(cmd, cwd=collection_copy, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
