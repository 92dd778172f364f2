"""A secret in protected_settings never shows: not at -vvv, not in returns or diffs, not in the emulator's log."""
from __future__ import annotations

import json
import sys
from pathlib import Path

# extension_helpers sits next to this file; found whatever pytest's import mode
sys.path.insert(0, str(Path(__file__).resolve().parent))

from extension_helpers import run_steps, scenario, step  # noqa: E402

SECRET_CREATE = "pw-create-7f3a9c1e5d"
SECRET_ROTATE = "pw-rotate-2b8e4f6a0c"
SECRET_FAILED = "pw-failed-9d1c3e5a7b"


def app(secret, **extra):
    ext = {"name": "app", "publisher": "Microsoft.Azure.Extensions", "type": "CustomScript",
           "type_handler_version": "2.1", "settings": {"fileUris": ["https://example.invalid/a.sh"]},
           "protected_settings": {"commandToExecute": "sh a.sh", "storageAccountKey": secret},
           "provision_after": ["health"]}
    ext.update(extra)
    return ext


def test_protected_settings_never_leak(fresh_emulator, run_playbook, tmp_path):
    fresh_emulator.load_scenario(scenario())
    steps = [
        step("vmss_extension_sequence", check=True, extensions=[app(SECRET_CREATE)]),
        step("vmss_extension_sequence", extensions=[app(SECRET_CREATE)]),
        step("vmss_extension_sequence", extensions=[app(SECRET_ROTATE)], protected_settings_update="always"),
        # a failing task (ordering error) must not echo its arguments either
        step("vmss_extension_sequence", extensions=[app(SECRET_FAILED, provision_after=["missing"])]),
    ]
    out, res = run_steps(run_playbook, fresh_emulator, steps, tmp_path, diff=True, verbosity=3)
    results = [o["result"] for o in out]
    assert results[1]["changed"] and results[2]["changed"], [r.get("msg") for r in results]
    assert results[3]["failed"] and "missing" in results[3]["msg"]

    log_path = Path(fresh_emulator.log_path)
    places = {
        "ansible output (-vvv, --diff)": res.output,
        "returns and diffs": json.dumps(results),
        "emulator log": log_path.read_text(errors="replace") if log_path.exists() else "",
        "emulator events": json.dumps(fresh_emulator.events()),
    }
    # the -vvv run really printed module arguments and results (the search is not vacuous)
    assert "provision_after" in res.output and "(changed, value hidden)" in res.output
    for secret in (SECRET_CREATE, SECRET_ROTATE, SECRET_FAILED):
        for where, text in places.items():
            assert secret not in text, "%s found in %s" % (secret, where)
