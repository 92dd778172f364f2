"""The Azure CLI against the emulator, by the recipe in emulator/README.md ("The Azure CLI"): register the emulator
as a cloud, sign in with the env.sh principal, then the common `az vmss` commands. Judged from the emulator's
state. Skipped when `az` is not on PATH (install it in a venv of its own: pip install azure-cli)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from emu_sdk import compute_for, web_scenario

AZ = shutil.which("az")
pytestmark = pytest.mark.skipif(AZ is None, reason="the Azure CLI (az) is not on PATH")


@pytest.fixture
def az(fresh_emulator, tmp_path):
    """Run az in a config dir of its own, signed in to the emulator by the README's recipe; returns parsed JSON."""
    emu = fresh_emulator
    emu.load_scenario(web_scenario(capacity=4))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZURE_")}
    env.update(emu.env)
    env.update({"AZURE_CONFIG_DIR": str(tmp_path / "azure-cli"), "AZURE_CORE_COLLECT_TELEMETRY": "false"})

    def run(*args, parse=True):
        done = subprocess.run([AZ, *args, "--only-show-errors", "-o", "json"], env=env, capture_output=True,
                              text=True, timeout=300, check=False)
        assert done.returncode == 0, f"az {' '.join(args[:3])}: {done.stderr[-2000:]}"
        return json.loads(done.stdout) if parse and done.stdout.strip() else None

    # the recipe, as written in emulator/README.md
    run("config", "set", "core.instance_discovery=false", parse=False)
    run("cloud", "register", "-n", "VmssEmulator", "--endpoint-resource-manager", emu.env["VMSS_EMULATOR_URL"],
        parse=False)
    run("cloud", "set", "-n", "VmssEmulator", parse=False)
    accounts = run("login", "--service-principal", "-u", emu.env["AZURE_CLIENT_ID"], "-p", emu.env["AZURE_SECRET"],
                   "--tenant", emu.env["AZURE_TENANT"])
    assert [a["id"] for a in accounts] == [emu.env["AZURE_SUBSCRIPTION_ID"]]
    run.emu = emu
    return run


def _model(emu):
    client = compute_for(emu)
    try:
        return client.virtual_machine_scale_sets.get("rg-demo", "web")
    finally:
        client.close()


def test_common_az_vmss_commands(az):
    emu = az.emu
    g = ["-g", "rg-demo"]
    assert [s["name"] for s in az("vmss", "list")] == ["web"]
    assert az("vmss", "show", *g, "-n", "web")["etag"] == _model(emu).etag
    assert sorted(i["instanceId"] for i in az("vmss", "list-instances", *g, "-n", "web")) == ["0", "1", "2", "3"]
    view = az("vmss", "get-instance-view", *g, "-n", "web", "--instance-id", "0")
    assert "PowerState/running" in [s["code"] for s in view["statuses"]]

    # update --set: a GET, a change, a PUT carrying only the image's version
    az("vmss", "update", *g, "-n", "web", "--set", "virtualMachineProfile.storageProfile.imageReference.version=2.0.0")
    image = _model(emu).virtual_machine_profile.storage_profile.image_reference
    assert (image.publisher, image.offer, image.sku, image.version) == ("Canonical", "ubuntu-24_04-lts", "server", "2.0.0")
    az("vmss", "update-instances", *g, "-n", "web", "--instance-ids", "0", parse=False)
    rows = {i["instance_id"]: i for i in emu.instances("rg-demo", "web")}
    assert rows["0"]["image_version"] == "2.0.0" and rows["0"]["latest_model_applied"]
    assert rows["1"]["image_version"] == "1.0.0" and not rows["1"]["latest_model_applied"]

    # extensions: set (same type as 'script', so az replaces it), list, delete
    az("vmss", "extension", "set", *g, "--vmss-name", "web", "-n", "CustomScript", "--publisher",
       "Microsoft.Azure.Extensions", "--version", "2.1", "--extension-instance-name", "script",
       "--settings", json.dumps({"commandToExecute": "echo release-2"}))
    stored = {e.name: e for e in _model(emu).virtual_machine_profile.extension_profile.extensions}
    assert stored["script"].settings == {"commandToExecute": "echo release-2"}
    assert sorted(e["name"] for e in az("vmss", "extension", "list", *g, "--vmss-name", "web")) == ["health", "script"]
    az("vmss", "extension", "delete", *g, "--vmss-name", "web", "-n", "script", parse=False)
    assert [e.name for e in _model(emu).virtual_machine_profile.extension_profile.extensions] == ["health"]

    # a rolling upgrade brings every instance onto the model
    az("vmss", "rolling-upgrade", "start", *g, "-n", "web", parse=False)
    latest = az("vmss", "rolling-upgrade", "get-latest", *g, "-n", "web")
    assert latest["runningStatus"]["code"] == "Completed"
    assert all(i["latest_model_applied"] for i in emu.instances("rg-demo", "web"))

    before = emu.requests()["by_operation"]
    az("vmss", "reimage", *g, "-n", "web", "--instance-ids", "1", parse=False)
    az("vmss", "restart", *g, "-n", "web", "--instance-ids", "2", parse=False)
    after = emu.requests()["by_operation"]
    reimages = sum(after.get(k, 0) - before.get(k, 0) for k in ("VirtualMachineScaleSets_Reimage", "VirtualMachineScaleSets_ReimageAll"))
    assert reimages == 1
    assert after.get("VirtualMachineScaleSets_Restart", 0) - before.get("VirtualMachineScaleSets_Restart", 0) == 1

    # scale: a PUT of only location and sku; the model stays
    etag = _model(emu).etag
    az("vmss", "scale", *g, "-n", "web", "--new-capacity", "6", parse=False)
    model = _model(emu)
    assert model.sku.capacity == 6 and model.etag != etag
    assert model.virtual_machine_profile.storage_profile.image_reference.version == "2.0.0"
    assert [e.name for e in model.virtual_machine_profile.extension_profile.extensions] == ["health"]
    assert len(emu.instances("rg-demo", "web")) == 6
