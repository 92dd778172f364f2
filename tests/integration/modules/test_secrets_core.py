"""A client secret passed in `secret` never appears: not at -vvv, not in returns or diffs, not in the emulator."""
from __future__ import annotations

import json
from pathlib import Path

from core_helpers import NEW, core_step, run_steps, scale_set, scenario


def test_secret_never_leaks(fresh_emulator, run_playbook, ansible_env, tmp_path):
    fresh_emulator.load_scenario(scenario(scale_set("web", capacity=2)))
    secret = ansible_env.pop("AZURE_SECRET")          # passed only as a module option
    wrong = "wrong-secret-8c2d4e6f1a"
    steps = [
        core_step("vmss_model_image", check=True, image=NEW, secret=secret),
        core_step("vmss_model_image", image=NEW, secret=secret),
        core_step("vmss_instance_upgrade", instance_ids=["0"], secret=secret),
        core_step("vmss_info", secret=secret),
        core_step("vmss_info", secret=wrong),            # a failing sign-in must not echo it either
    ]
    out, res = run_steps(run_playbook, fresh_emulator, steps, tmp_path, diff=True, verbosity=3)
    r = [o["result"] for o in out]
    assert r[1]["changed"] and r[2]["upgraded"] == ["0"] and r[3]["vmss"]["name"] == "web", [x.get("msg") for x in r]
    assert r[4]["failed"] and "sign-in failed" in r[4]["msg"]

    log_path = Path(fresh_emulator.log_path)
    places = {
        "ansible output (-vvv, --diff)": res.output,
        "returns and diffs": json.dumps(r),
        "emulator log": log_path.read_text(errors="replace") if log_path.exists() else "",
        "emulator events": json.dumps(fresh_emulator.events()),
    }
    # the -vvv run really printed module invocations (so the search is not vacuous)
    assert "module_args" in res.output and "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in res.output
    for value in (secret, wrong):
        for where, text in places.items():
            assert value not in text, "a secret was found in %s" % where
    assert "Bearer " not in res.output and "access_token" not in res.output
