"""`ansible-galaxy collection build` gives a tarball that installs cleanly, ships only the collection, and whose
installed copy `ansible-doc` renders: every module, the inventory plugin, the filter plugin, every role."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml

LEFT_OUT = ("emulator/", "tests/", "benchmarks/", "tools/", ".venv/", ".tmp/", "docs/", "extensions/", ".git/",
            "Makefile", "requirements-dev.txt", "pytest.ini", ".ci/")
SHIPPED = ("MANIFEST.json", "FILES.json", "README.md", "meta/runtime.yml",
           "meta/execution-environment.yml", "requirements.txt", "bindep.txt", "changelogs/changelog.yaml",
           "plugins/inventory/vmss.py")


class Installed(NamedTuple):
    tarball: Path
    path: Path          # .../ansible_collections/vmss/rollout of the installed copy
    env: dict


@pytest.fixture(scope="module")
def installed(tmp_path_factory, repo_root):
    """Build the tarball and install it into an empty collections path."""
    work = tmp_path_factory.mktemp("galaxy")
    bin_dir = os.path.dirname(sys.executable)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "AZURE_"))}
    env.update({
        "PATH": bin_dir + os.pathsep + env.get("PATH", ""),
        "HOME": str(work / "home"),  # no ~/.ansible/collections leaking in
        "ANSIBLE_COLLECTIONS_PATH": str(work / "collections"),
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
        "ANSIBLE_NOCOLOR": "1",
    })
    build = subprocess.run([f"{bin_dir}/ansible-galaxy", "collection", "build", "--output-path", str(work),
                            str(repo_root)], cwd=work, env=env, capture_output=True, text=True, check=False)
    assert build.returncode == 0, build.stdout + build.stderr
    tarball = next(work.glob("vmss-rollout-*.tar.gz"))
    install = subprocess.run([f"{bin_dir}/ansible-galaxy", "collection", "install", "--offline", "-p",
                              str(work / "collections"), str(tarball)],
                             cwd=work, env=env, capture_output=True, text=True, check=False)
    assert install.returncode == 0, install.stdout + install.stderr
    assert "was installed successfully" in install.stdout, install.stdout
    return Installed(tarball, work / "collections" / "ansible_collections" / "vmss" / "rollout", env)


def test_tarball_ships_the_collection_and_leaves_out_tooling(installed):
    with tarfile.open(installed.tarball) as archive:
        names = [name[2:] if name.startswith("./") else name for name in archive.getnames()]
    leaked = sorted(n for n in names if n.startswith(LEFT_OUT) or n in {p.rstrip("/") for p in LEFT_OUT})
    assert leaked == [], leaked
    missing = [n for n in SHIPPED if n not in names]
    assert missing == [], missing
    assert any(n.startswith("plugins/modules/") for n in names)
    assert any(n.startswith("roles/") for n in names)


def _expected_plugins(repo_root):
    modules = sorted(p.stem for p in (repo_root / "plugins" / "modules").glob("*.py") if p.stem != "__init__")
    roles = sorted(p.parent.parent.name for p in (repo_root / "roles").glob("*/meta/argument_specs.yml"))
    return modules, roles


def _doc(run_tool, env, installed_path, plugin_type, names):
    result = run_tool(["ansible-doc", "--json", "-t", plugin_type, *[f"vmss.rollout.{n}" for n in names]],
                      cwd=installed_path.parents[3], env=env)
    assert result.returncode == 0, result.explain()
    docs = json.loads(result.output[result.output.index("{"):])
    assert sorted(docs) == sorted(f"vmss.rollout.{n}" for n in names), result.explain()
    return docs


def test_ansible_doc_renders_every_module_from_the_installed_tarball(installed, run_tool, repo_root):
    path, env = installed.path, installed.env
    modules = _expected_plugins(repo_root)[0]
    assert modules, "no modules in plugins/modules"
    assert sorted(p.stem for p in (path / "plugins" / "modules").glob("*.py")) == modules
    docs = _doc(run_tool, env, path, "module", modules)
    # The Azure modules (the action group of meta/runtime.yml) all address a scale set.
    azure_modules = yaml.safe_load((repo_root / "meta" / "runtime.yml").read_text())["action_groups"]["vmss"]
    assert azure_modules and set(azure_modules) <= set(modules)
    for name, entry in docs.items():
        doc = entry["doc"]
        assert doc["filename"].startswith(str(path)), f"{name} was not read from the installed tarball"
        assert doc["short_description"] and doc["options"], name
        if name.rsplit(".", 1)[1] in azure_modules:
            assert doc["options"]["resource_group"] and doc["options"]["name"], name
        assert entry["examples"].strip() and entry["return"], f"{name} lacks EXAMPLES or RETURN"


def test_ansible_doc_renders_the_inventory_and_filter_plugins(installed, run_tool):
    path, env = installed.path, installed.env
    inventory = _doc(run_tool, env, path, "inventory", ["vmss"])["vmss.rollout.vmss"]["doc"]
    assert inventory["filename"].startswith(str(path))
    for option in ("resource_groups", "names", "tags", "compose", "keyed_groups", "cache", "secret",
                   "cloud_environment"):
        assert option in inventory["options"], option
    text = run_tool(["ansible-doc", "-t", "inventory", "vmss.rollout.vmss"], cwd=path.parents[3], env=env)
    assert text.returncode == 0 and "plugin: vmss.rollout.vmss" in text.output, text.explain()
    filters = _doc(run_tool, env, path, "filter", ["plan_batches"])
    assert filters["vmss.rollout.plan_batches"]["doc"]["filename"].startswith(str(path))


def test_ansible_doc_renders_every_role_entry_point(installed, run_tool, repo_root):
    path, env = installed.path, installed.env
    roles = _expected_plugins(repo_root)[1]
    assert roles, "no roles with meta/argument_specs.yml"
    docs = _doc(run_tool, env, path, "role", roles)
    for name, entry in docs.items():
        main = entry["entry_points"]["main"]
        assert main["short_description"], name
        role = name.split(".")[-1]
        assert main["options"] and all(opt.startswith(role + "_") for opt in main["options"]), name
