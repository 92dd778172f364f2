"""Invalid inputs of vmss_extension_sequence and vmss_auto_ext_upgrade: one clear message naming the option,
and zero ARM writes. All cases run in one ansible-playbook run (each with its own request counts)."""
from __future__ import annotations

import sys
from pathlib import Path

# extension_helpers sits next to this file; found whatever pytest's import mode
sys.path.insert(0, str(Path(__file__).resolve().parent))

from extension_helpers import HEALTH, run_steps, scenario, step, writes  # noqa: E402

SEQ = "vmss_extension_sequence"
AUTO = "vmss_auto_ext_upgrade"

APP = {"name": "app", "properties": {"publisher": "Microsoft.Azure.Extensions", "type": "CustomScript",
                                     "typeHandlerVersion": "2.1", "settings": {}, "provisionAfterExtensions": ["health"]}}
BARE = {"name": "bare", "properties": {"publisher": "Contoso", "type": "Bare", "typeHandlerVersion": "1.0"}}


def new(name, after=None, **extra):
    ext = {"name": name, "publisher": "P", "type": "T" + name, "type_handler_version": "1.0", "settings": {}}
    if after:
        ext["provision_after"] = after
    ext.update(extra)
    return ext


# (id, step, substrings the message must contain)
CASES = [
    ("unknown provision_after", step(SEQ, extensions=[new("x", after=["helth"])]),
     ["provision_after of extension 'x' names 'helth'", "health"]),
    ("cycle", step(SEQ, extensions=[new("a", after=["c"]), new("b", after=["a"]), new("c", after=["b"])]),
     ["cycle", "a -> b -> c -> a"]),
    ("cycle through the model", step(SEQ, extensions=[{"name": "health", "provision_after": ["app"]}]),
     ["cycle", "health -> app -> health"]),
    ("dependency without settings", step(SEQ, extensions=[new("y", after=["bare"])]),
     ["'bare'", "settings: {}"]),
    ("remove a dependency (absent)", step(SEQ, extensions=[{"name": "health"}], state="absent"),
     ["cannot remove extension 'health'", "'app'"]),
    ("remove a dependency (exclusive)", step(SEQ, extensions=[{"name": "app"}], exclusive=True),
     ["cannot remove extension 'health'"]),
    ("exclusive with absent", step(SEQ, extensions=[{"name": "bare"}], state="absent", exclusive=True),
     ["exclusive", "state=present"]),
    ("duplicate names", step(SEQ, extensions=[new("d"), new("d")]), ["extensions", "listed twice"]),
    ("new extension without publisher", step(SEQ, extensions=[{"name": "n", "type": "T", "settings": {}}]),
     ["extensions[0]", "publisher and type_handler_version are required"]),
    ("bad state", step(SEQ, extensions=[new("s")], state="gone"), ["state", "present, absent"]),
    ("bad protected_settings_update", step(SEQ, extensions=[new("s")], protected_settings_update="never"),
     ["protected_settings_update", "always, on_create"]),
    ("unknown suboption", step(SEQ, extensions=[dict(new("s"), provison_after=["health"])]),
     ["provison_after", "extensions"]),
    ("settings not a dict", step(SEQ, extensions=[dict(new("s"), settings=["port", 80])]),
     ["settings", "dict"]),
    ("missing scale set", step(SEQ, extensions=[new("s")], name="nope"),
     ["ResourceNotFound", "request id"]),
    ("auto: unsupported extension", step(AUTO, extensions=["app"], enabled=True),
     ["'app' (Microsoft.Azure.Extensions/CustomScript) is not upgraded automatically",
      "Microsoft.ManagedServices/ApplicationHealthLinux"]),
    ("auto: unknown extension", step(AUTO, extensions=["nope"], enabled=True),
     ["extensions: 'nope' is not an extension of the scale set model", "health"]),
    ("auto: enabled missing", step(AUTO, extensions=["health"]), ["enabled"]),
    ("auto: empty list", step(AUTO, extensions=[], enabled=False), ["extensions", "at least one"]),
]


def test_each_invalid_input_fails_clearly_with_zero_writes(fresh_emulator, run_playbook, tmp_path):
    fresh_emulator.load_scenario(scenario(extensions=[HEALTH, APP, BARE]))
    out, res = run_steps(run_playbook, fresh_emulator, [c[1] for c in CASES], tmp_path, diff=False)
    problems = []
    for (case_id, _step, needles), entry in zip(CASES, out):
        result = entry["result"]
        msg = result.get("msg", "")
        if not result.get("failed"):
            problems.append("%s: did not fail: %r" % (case_id, result))
        elif not all(n in msg for n in needles):
            problems.append("%s: message %r lacks %r" % (case_id, msg, needles))
        if writes(entry) != 0:
            problems.append("%s: %d writes" % (case_id, writes(entry)))
        if "Traceback" in msg:
            problems.append("%s: traceback in message" % case_id)
    assert not problems, "\n".join(problems)
    assert "Traceback" not in res.output
