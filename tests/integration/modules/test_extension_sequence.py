"""vmss_extension_sequence through ansible-playbook against the emulator (real SDK over HTTPS)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

# extension_helpers sits next to this file; found whatever pytest's import mode
sys.path.insert(0, str(Path(__file__).resolve().parent))

from extension_helpers import HEALTH, ext_named, run_steps, scenario, step, writes  # noqa: E402

APP = {
    "name": "app", "publisher": "Microsoft.Azure.Extensions", "type": "CustomScript",
    "type_handler_version": "2.1", "settings": {"fileUris": ["https://example.invalid/app-1.sh"]},
    "protected_settings": {"commandToExecute": "sh app-1.sh --token first-token-value"},
    "provision_after": ["health"],
}


def test_check_real_idempotent_update_and_remove(fresh_emulator, run_playbook, tmp_path):
    fresh_emulator.load_scenario(scenario())
    rotated = dict(APP, protected_settings={"commandToExecute": "sh app-1.sh --token second-token-value"})
    steps = [
        step("vmss_extension_sequence", check=True, extensions=[APP]),                            # 0
        step("vmss_extension_sequence", extensions=[APP]),                                        # 1
        step("vmss_extension_sequence", extensions=[APP]),                                        # 2
        step("vmss_extension_sequence", extensions=[{"name": "app", "force_update_tag": "run-2"}]),  # 3
        step("vmss_extension_sequence", extensions=[rotated]),                                    # 4 on_create
        step("vmss_extension_sequence", extensions=[rotated], protected_settings_update="always"),  # 5
        step("vmss_extension_sequence", extensions=[{"name": "app"}], state="absent"),             # 6
        step("vmss_extension_sequence", extensions=[{"name": "app"}], state="absent"),             # 7
    ]
    out, res = run_steps(run_playbook, fresh_emulator, steps, tmp_path)
    r = [o["result"] for o in out]
    assert not any(x.get("failed") for x in r), [x.get("msg") for x in r]

    # 0: check mode predicts, writes nothing, and shows a diff without the secret
    assert r[0]["changed"] is True and writes(out[0]) == 0
    assert r[0]["provisioning_order"] == ["health", "app"]
    assert r[0]["diff"]["after"]["extensions"]["app"]["protected_settings"] == "(set, value hidden)"
    assert "app" not in r[0]["diff"]["before"]["extensions"]

    # 1: one PATCH of the scale set, nothing else written
    assert r[1]["changed"] is True and writes(out[1]) == 1
    assert out[1]["requests"]["by_operation"].get("VirtualMachineScaleSets_Update") == 1
    assert [e["name"] for e in r[1]["previous_extensions"]] == ["health"]
    app = ext_named(r[1]["extensions"], "app")
    assert app["type"] == "CustomScript" and app["provision_after"] == ["health"]
    assert "protected_settings" not in app

    # 2: identical run: no change, zero writes; the model read back holds the order
    assert r[2]["changed"] is False and writes(out[2]) == 0
    assert ext_named(r[2]["extensions"], "app")["provision_after"] == ["health"]
    assert r[2]["provisioning_order"] == ["health", "app"]

    # 3: only force_update_tag given: compared alone, other options kept
    assert r[3]["changed"] is True and writes(out[3]) == 1
    assert r[3]["changes"] == [{"name": "app", "action": "update", "fields": ["force_update_tag"]}]
    assert ext_named(r[3]["extensions"], "app")["settings"] == APP["settings"]

    # 4: a new protected value with on_create is not sent: no change, zero writes
    assert r[4]["changed"] is False and writes(out[4]) == 0

    # 5: always sends it: changed, one write, value hidden in the diff
    assert r[5]["changed"] is True and writes(out[5]) == 1
    assert r[5]["diff"]["after"]["extensions"]["app"]["protected_settings"] == "(changed, value hidden)"

    # 6/7: removal, then removal of an absent extension is idempotent
    assert r[6]["changed"] is True and writes(out[6]) == 1
    assert [e["name"] for e in r[6]["extensions"]] == ["health"]
    assert r[7]["changed"] is False and writes(out[7]) == 0

    # diff mode printed the change, never the secrets
    assert "(set, value hidden)" in res.output
    for secret in ("first-token-value", "second-token-value"):
        assert secret not in res.output
        assert secret not in json.dumps(out)


def test_exclusive_replaces_the_whole_set_in_dependency_order(fresh_emulator, run_playbook, tmp_path):
    extra = {"name": "old-agent", "properties": {"publisher": "Contoso", "type": "Agent", "typeHandlerVersion": "1.0",
                                                 "settings": {}}}
    fresh_emulator.load_scenario(scenario(extensions=[HEALTH, extra]))
    wanted = [
        {"name": "last", "publisher": "P", "type": "Last", "type_handler_version": "1.0", "settings": {},
         "provision_after": ["middle"]},
        {"name": "middle", "publisher": "P", "type": "Middle", "type_handler_version": "1.0", "settings": {},
         "provision_after": ["health"]},
        {"name": "health"},
    ]
    out, _counters = run_steps(run_playbook, fresh_emulator, [
        step("vmss_extension_sequence", extensions=wanted, exclusive=True),
        step("vmss_extension_sequence", extensions=wanted, exclusive=True),
        step("vmss_instance_upgrade", instance_ids=["0"]),
    ], tmp_path, diff=False)
    first, second, upgrade = (o["result"] for o in out)
    assert first["changed"] is True and writes(out[0]) == 1, first.get("msg")
    assert sorted(e["name"] for e in first["extensions"]) == ["health", "last", "middle"]
    assert first["provisioning_order"] == ["health", "middle", "last"]
    assert {"name": "old-agent", "action": "remove", "fields": []} in first["changes"]
    assert second["changed"] is False and writes(out[1]) == 0

    # the upgraded instance provisioned its extensions in the order the model now declares
    assert not upgrade.get("failed"), upgrade.get("msg")
    events = [e for e in fresh_emulator.events(type="extension_provisioned") if e["instance_id"] == "0"]
    last_run = sorted(events, key=lambda e: e["seq"])[-3:]
    assert [e["extension"] for e in sorted(last_run, key=lambda e: e["order"])] == ["health", "middle", "last"]


def test_automatic_scale_set_is_refused_unless_allowed(fresh_emulator, run_playbook, tmp_path):
    """Under upgradePolicy Automatic an extension change reaches every instance at once: refused (check mode
    too), nothing written, unless allow_automatic_upgrade; an unchanged list is still fine."""
    fresh_emulator.load_scenario(scenario(upgrade_policy="Automatic"))
    steps = [
        step("vmss_extension_sequence", extensions=[APP]),                                        # 0 refused
        step("vmss_extension_sequence", check=True, extensions=[APP]),                            # 1 refused
        step("vmss_extension_sequence", extensions=[APP], allow_automatic_upgrade=True),          # 2 allowed
        step("vmss_extension_sequence", extensions=[APP]),                                        # 3 no change: ok
    ]
    out, _res = run_steps(run_playbook, fresh_emulator, steps, tmp_path)
    r = [o["result"] for o in out]
    for refused in (0, 1):
        assert r[refused]["failed"] and writes(out[refused]) == 0
        assert "mode is Automatic" in r[refused]["msg"] and "allow_automatic_upgrade" in r[refused]["msg"]
    assert r[2]["changed"] is True and writes(out[2]) == 1, r[2].get("msg")
    assert r[3]["changed"] is False and not r[3].get("failed"), r[3].get("msg")


def test_protected_settings_not_sent_under_on_create_are_warned_about(fresh_emulator, run_playbook, tmp_path):
    """Changing only protected_settings of an existing extension under the default on_create is `ok` and sends
    nothing: the user is told so (and a new extension, whose protected settings are sent, gives no warning)."""
    app = {"name": "app", "publisher": "Microsoft.Azure.Extensions", "type": "CustomScript",
           "type_handler_version": "2.1", "settings": {}, "protected_settings": {"commandToExecute": "v1-hidden"}}
    fresh_emulator.load_scenario(scenario())
    steps = [step("vmss_extension_sequence", extensions=[app]),
             step("vmss_extension_sequence", extensions=[dict(app, protected_settings={"commandToExecute": "v2-x"})]),
             step("vmss_extension_sequence", extensions=[dict(app, protected_settings={"commandToExecute": "v3-x"})],
                  protected_settings_update="always")]
    out, res = run_steps(run_playbook, fresh_emulator, steps, tmp_path)
    created, unchanged, sent = (entry["result"] for entry in out)
    assert created["changed"] and not created.get("warnings"), created
    assert unchanged["changed"] is False and writes(out[1]) == 0
    assert any("protected_settings of 'app' not sent and not compared" in w and "protected_settings_update: always"
               in w for w in unchanged.get("warnings", [])), unchanged
    assert sent["changed"] and writes(out[2]) == 1 and not sent.get("warnings"), sent
    assert "v2-x" not in res.output and "v1-hidden" not in res.output
