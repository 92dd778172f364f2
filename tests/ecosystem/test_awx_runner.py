"""AWX-style jobs: the os_image_rollout playbook through ansible-runner (the engine AWX runs jobs with), with the
credential injected as environment variables exactly as AWX's Microsoft Azure Resource Manager credential does.

As in AWX, the project is not this repository: a directory of its own whose playbook imports the collection's by
FQCN, with the collection installed elsewhere (a copy of what the tarball ships, no git checkout). The outcome a
workflow branches on is read from the job's artifacts (the custom stats of the playbook_on_stats event)."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

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
# What the collection tarball ships (galaxy.yml build_ignore leaves out the rest).
SHIPPED = ("galaxy.yml", "README.md", "requirements.txt", "meta", "plugins", "roles", "playbooks")
# What AWX's "Microsoft Azure Resource Manager" credential type injects (AZURE_CLOUD_ENVIRONMENT only when set).
AWX_AZURE_CREDENTIAL_ENV = ("AZURE_SUBSCRIPTION_ID", "AZURE_CLIENT_ID", "AZURE_SECRET", "AZURE_TENANT",
                            "AZURE_CLOUD_ENVIRONMENT")


def installed_collection(repo_root: Path, tmp_path: Path) -> Path:
    """The collection copied as ansible-galaxy installs it, outside any git checkout; returns the collections path."""
    root = tmp_path / "collections"
    target = root / "ansible_collections" / "vmss" / "rollout"
    target.mkdir(parents=True)
    for name in SHIPPED:
        source = repo_root / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target / name)
    return root


def run_job(emulator, ansible_env, tmp_path, repo_root, monkeypatch, extravars):
    """One job of the project playbook `rollout.yml` (an import of vmss.rollout.os_image_rollout by FQCN)."""
    envvars = {name: emulator.env[name] for name in AWX_AZURE_CREDENTIAL_ENV}
    # The execution environment's trust store would hold the CA in production; here it is the emulator's CA.
    envvars["REQUESTS_CA_BUNDLE"] = emulator.env["REQUESTS_CA_BUNDLE"]
    # The collection as an execution environment has it installed; no AZURE_* reaches the job any other way.
    for name in list(ansible_env):
        if name.startswith("AZURE_"):
            monkeypatch.delenv(name, raising=False)
    for name in ("HOME", "PATH", "ANSIBLE_LOCAL_TEMP", "ANSIBLE_NOCOLOR"):
        envvars[name] = ansible_env[name]
    envvars["ANSIBLE_COLLECTIONS_PATH"] = str(installed_collection(repo_root, tmp_path))

    project = tmp_path / "project"
    project.mkdir()
    (project / "rollout.yml").write_text(
        "- name: Roll out\n  ansible.builtin.import_playbook: vmss.rollout.os_image_rollout\n")
    (tmp_path / "job").mkdir()
    result = ansible_runner.run(
        private_data_dir=str(tmp_path / "job"),
        project_dir=str(project),
        playbook="rollout.yml",
        inventory={"all": {"hosts": {"localhost": {"ansible_connection": "local",
                                                   "ansible_python_interpreter": sys.executable}}}},
        extravars={"image_rollout_resource_group": "rg-awx", "image_rollout_name": "web",
                   "image_rollout_poll_interval": 1, "image_rollout_http_delay": 1, **extravars},
        envvars=envvars,
        quiet=True,
        timeout=600,
    )
    events = list(result.events)
    return result, events, result.stdout.read(), envvars


def artifacts(events) -> dict:
    """The custom stats of the job (AWX's artifacts): what a workflow's next nodes receive as extra variables."""
    stats = [e for e in events if e["event"] == "playbook_on_stats"]
    assert stats, [e["event"] for e in events]
    return stats[-1]["event_data"].get("artifact_data") or {}


def upgrade_ends(emulator) -> list[str]:
    return [str(e["instance_id"]) for e in emulator.events("instance_upgrade_end")]


def test_os_image_rollout_job_through_ansible_runner(fresh_emulator, ansible_env, tmp_path, repo_root, monkeypatch):
    fresh_emulator.load_scenario(SCENARIO)
    fresh_emulator.clear_events()
    result, events, stdout, envvars = run_job(fresh_emulator, ansible_env, tmp_path, repo_root, monkeypatch,
                                              {"image_rollout_image": IMAGE_NEW})
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
    # the artifacts a workflow branches on: completed, and the instances the emulator saw upgraded
    outcome = artifacts(events)
    assert outcome["vmss_rollout_outcome"] == "completed", outcome
    record = outcome["vmss_rollout"]["rg-awx/web"]
    assert record["outcome"] == "completed"
    assert sorted(record["upgraded"]) == sorted(upgrade_ends(fresh_emulator)) == ["0", "1"]
    assert [len(b["instance_ids"]) for b in record["batches"]] == [1, 1] and record["failed"] == []


def test_breached_and_rolled_back_job_reports_it_in_its_artifacts(fresh_emulator, ansible_env, tmp_path, repo_root,
                                                                  monkeypatch):
    """The new image turns its instances unhealthy: the first batch breaches, the rollback restores 1.0.0 on it,
    the job fails and its artifacts say rolled_back with the instance rolled back; the JSON report says the same."""
    fresh_emulator.load_scenario(SCENARIO)
    fresh_emulator.set_faults([{"kind": "unhealthy_after_upgrade", "image_version": "1.1.0"}])
    fresh_emulator.clear_events()
    report = tmp_path / "report.json"
    result, events, stdout, _job_dir = run_job(fresh_emulator, ansible_env, tmp_path, repo_root, monkeypatch, {
        "image_rollout_image": IMAGE_NEW, "image_rollout_rollback": True, "image_rollout_http_retries": 0,
        "image_rollout_health_timeout": 20, "rolling_upgrade_report_file": str(report)})
    assert result.status == "failed" and result.rc != 0, stdout

    # judged from the emulator: instance 0 upgraded, then upgraded back; instance 1 never touched
    assert upgrade_ends(fresh_emulator) == ["0", "0"], fresh_emulator.events("instance_upgrade_end")
    versions = {i["instance_id"]: i["image_version"]
                for i in fresh_emulator.admin("GET", "/_emulator/scale_sets/rg-awx/web/instances")["instances"]}
    assert versions == {"0": "1.0.0", "1": "1.0.0"}
    outcome = artifacts(events)
    assert outcome["vmss_rollout_outcome"] == "rolled_back", outcome
    record = outcome["vmss_rollout"]["rg-awx/web"]
    assert record["rolled_back"] == ["0"] and record["upgraded"] == ["0"], record
    assert [b["instance_ids"] for b in record["batches"]] == [["0"]] and record["batches"][0]["unhealthy"] == ["0"]
    assert "unhealthy" in record["reason"]
    assert json.loads(report.read_text()) == record


def test_job_refused_before_start_reports_failed_before_start(fresh_emulator, ansible_env, tmp_path, repo_root,
                                                              monkeypatch):
    """Bad input: nothing is written to Azure, the job fails, and its artifacts say failed_before_start."""
    fresh_emulator.load_scenario(SCENARIO)
    fresh_emulator.reset_requests()
    result, events, stdout, _job_dir = run_job(fresh_emulator, ansible_env, tmp_path, repo_root, monkeypatch, {
        "image_rollout_image": IMAGE_NEW, "image_rollout_batch": "0%"})
    assert result.status == "failed" and result.rc != 0, stdout

    assert fresh_emulator.requests()["writes"] == 0
    outcome = artifacts(events)
    assert outcome["vmss_rollout_outcome"] == "failed_before_start", outcome
    record = outcome["vmss_rollout"]["rg-awx/web"]
    assert record["upgraded"] == [] and record["batches"] == [], record
