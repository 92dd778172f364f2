"""An AWX-style job: playbooks/os_image_rollout.yml through ansible-runner (the engine AWX runs jobs with), with the
credential injected as environment variables exactly as AWX's Microsoft Azure Resource Manager credential does."""
from __future__ import annotations

import json
import sys

import ansible_runner

IMAGE_OLD = {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "1.0.0"}
IMAGE_NEW = dict(IMAGE_OLD, version="1.1.0")
SCENARIO = {
    "config": {"upgrade_seconds": 0.2, "lro_retry_after": 0.2, "health_grace_seconds": 0.2, "probe_interval": 0.2},
    "resource_groups": [{"name": "rg-awx", "location": "westeurope"}],
    "scale_sets": [{
        "name": "web", "resource_group": "rg-awx", "capacity": 2, "upgrade_policy": "Manual", "image": IMAGE_OLD,
        "extensions": [{"name": "health", "properties": {
            "publisher": "Microsoft.ManagedServices", "type": "ApplicationHealthLinux", "typeHandlerVersion": "2.0",
            "settings": {"protocol": "http", "port": 8080, "requestPath": "/health"}}}],
        "app": {"port": 8080},
    }],
}
# What AWX's "Microsoft Azure Resource Manager" credential type injects (AZURE_CLOUD_ENVIRONMENT only when set).
AWX_AZURE_CREDENTIAL_ENV = ("AZURE_SUBSCRIPTION_ID", "AZURE_CLIENT_ID", "AZURE_SECRET", "AZURE_TENANT",
                            "AZURE_CLOUD_ENVIRONMENT")


def test_os_image_rollout_job_through_ansible_runner(fresh_emulator, ansible_env, tmp_path, repo_root, monkeypatch):
    fresh_emulator.load_scenario(SCENARIO)
    envvars = {name: fresh_emulator.env[name] for name in AWX_AZURE_CREDENTIAL_ENV}
    # The execution environment's trust store would hold the CA in production; here it is the emulator's CA.
    envvars["REQUESTS_CA_BUNDLE"] = fresh_emulator.env["REQUESTS_CA_BUNDLE"]
    # The collection as an execution environment has it installed; no AZURE_* reaches the job any other way.
    for name in list(ansible_env):
        if name.startswith("AZURE_"):
            monkeypatch.delenv(name, raising=False)
    for name in ("ANSIBLE_COLLECTIONS_PATH", "HOME", "PATH", "ANSIBLE_LOCAL_TEMP", "ANSIBLE_NOCOLOR"):
        envvars[name] = ansible_env[name]

    (tmp_path / "job").mkdir()
    result = ansible_runner.run(
        private_data_dir=str(tmp_path / "job"),
        project_dir=str(repo_root / "playbooks"),
        playbook="os_image_rollout.yml",
        inventory={"all": {"hosts": {"localhost": {"ansible_connection": "local",
                                                   "ansible_python_interpreter": sys.executable}}}},
        extravars={"image_rollout_resource_group": "rg-awx", "image_rollout_name": "web",
                   "image_rollout_image": IMAGE_NEW, "image_rollout_poll_interval": 1},
        envvars=envvars,
        quiet=True,
        timeout=600,
    )
    events = list(result.events)
    stdout = result.stdout.read()
    assert result.status == "successful" and result.rc == 0, stdout

    kinds = [event["event"] for event in events]
    assert kinds[0] == "playbook_on_start" and kinds[-1] == "playbook_on_stats", kinds
    stats = events[-1]["event_data"]
    assert stats["failures"] == {} and stats["dark"] == {}, stats
    assert stats["changed"].get("localhost", 0) >= 1, stats
    task_results = {e["event_data"].get("task_action") for e in events if e["event"] == "runner_on_ok"}
    assert {"vmss.rollout.vmss_model_image", "vmss.rollout.vmss_rollout_batches"} <= task_results, task_results
    # the batch engine's lines reach the job output as they are printed
    assert "Batch 1/" in stdout and "HTTP check:" in stdout, stdout[-2000:]
    # the secret AWX injected never shows in the job's events or output
    assert envvars["AZURE_SECRET"] not in json.dumps(events) + stdout

    fleet = fresh_emulator.admin("GET", "/_emulator/scale_sets/rg-awx/web/instances")
    instances = fleet["instances"]
    assert {i["image_version"] for i in instances} == {"1.1.0"}, instances
