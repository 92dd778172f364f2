"""`molecule test` in extensions/molecule/default: create (scenario on the emulator), converge (image rollout),
idempotence (second converge changes nothing), verify (vmss_info), against the session's emulator."""
from __future__ import annotations

import collections


def test_molecule_rehearsal_on_the_emulator(fresh_emulator, ansible_env, run_tool, repo_root):
    env = dict(ansible_env)
    env["MOLECULE_NO_LOG"] = "false"
    # destroy would reset the emulator; keep the rolled-out state so this test can check it from outside
    result = run_tool(["molecule", "test", "--scenario-name", "default", "--destroy", "never"],
                      cwd=repo_root / "extensions", env=env)
    assert result.returncode == 0, result.explain()
    for step in ("create", "converge", "idempotence", "verify"):
        assert f"default ➜ {step}" in result.output or f"Running default > {step}" in result.output \
            or f"[default > {step}]" in result.output or f"{step}" in result.output, result.explain()
    assert "Idempotence completed successfully" in result.output or "idempotence" in result.output.lower(), \
        result.explain()

    fleet = fresh_emulator.admin("GET", "/_emulator/scale_sets/rg-molecule/web/instances")
    instances = fleet["instances"]
    assert len(instances) == 6
    assert {i["image_version"] for i in instances} == {"2.0.0"}, instances
    # converge upgraded each instance exactly once; the idempotence run upgraded nothing
    starts = collections.Counter(e["instance_id"] for e in fresh_emulator.events(type="instance_upgrade_start"))
    assert sorted(starts) == sorted(str(i) for i in range(6)) and set(starts.values()) == {1}, starts
