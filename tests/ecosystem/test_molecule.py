"""`molecule test` in extensions/molecule/default: create (scenario on the emulator), converge (image rollout),
idempotence (second converge changes nothing), verify (vmss_info), against the session's emulator."""
from __future__ import annotations

import collections
import re

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_molecule_rehearsal_on_the_emulator(fresh_emulator, ansible_env, run_tool, repo_root):
    env = dict(ansible_env)
    env["MOLECULE_NO_LOG"] = "false"
    # destroy would reset the emulator; keep the rolled-out state so this test can check it from outside
    result = run_tool(["molecule", "test", "--scenario-name", "default", "--destroy", "never"],
                      cwd=repo_root / "extensions", env=env)
    assert result.returncode == 0, result.explain()
    output = ANSI.sub("", result.output)
    for step in ("create", "converge", "idempotence", "verify"):
        # "[default > step] ..." without a terminal, "default ➜ step: ..." with one
        assert re.search(rf"(\[default > {step}\]|default ➜ {step}:) Executed: Successful", output), \
            result.explain()

    fleet = fresh_emulator.admin("GET", "/_emulator/scale_sets/rg-molecule/web/instances")
    instances = fleet["instances"]
    assert len(instances) == 2
    assert {i["image_version"] for i in instances} == {"2.0.0"}, instances
    # converge upgraded each instance exactly once; the idempotence run upgraded nothing
    starts = collections.Counter(e["instance_id"] for e in fresh_emulator.events(type="instance_upgrade_start"))
    assert sorted(starts) == ["0", "1"] and set(starts.values()) == {1}, starts
