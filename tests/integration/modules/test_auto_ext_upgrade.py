"""vmss_auto_ext_upgrade through ansible-playbook against the emulator (real SDK over HTTPS)."""
from __future__ import annotations

import sys
from pathlib import Path

# extension_helpers sits next to this file; found whatever pytest's import mode
sys.path.insert(0, str(Path(__file__).resolve().parent))

from extension_helpers import HEALTH, run_steps, scenario, step, writes  # noqa: E402

AUTO = "vmss_auto_ext_upgrade"
APP = {"name": "app", "properties": {"publisher": "Microsoft.Azure.Extensions", "type": "CustomScript",
                                     "typeHandlerVersion": "2.1", "settings": {}, "provisionAfterExtensions": ["health"]}}


def test_enable_check_real_idempotent_then_disable(fresh_emulator, run_playbook, tmp_path):
    fresh_emulator.load_scenario(scenario(extensions=[HEALTH, APP]))
    enable = dict(extensions=["health"], enabled=True, auto_upgrade_minor_version=True, use_rolling_upgrade_policy=True)
    out, res = run_steps(run_playbook, fresh_emulator, [
        step(AUTO, check=True, **enable),                                # 0
        step(AUTO, **enable),                                            # 1
        step(AUTO, **enable),                                            # 2
        step(AUTO, extensions=["health", "app"], enabled=False),         # 3 disabling is allowed for any extension
        step("vmss_extension_sequence", check=True, extensions=[{"name": "app"}]),  # 4 read the model back
    ], tmp_path)
    r = [o["result"] for o in out]
    assert not any(x.get("failed") for x in r), [x.get("msg") for x in r]

    assert r[0]["changed"] is True and writes(out[0]) == 0
    assert r[0]["diff"]["before"]["extensions"][0]["enable_automatic_upgrade"] is False
    assert r[0]["diff"]["after"]["extensions"][0]["enable_automatic_upgrade"] is True
    assert r[0]["diff"]["after"]["use_rolling_upgrade_policy"] is True

    # one PATCH carries both the extension flags and the upgrade policy flag
    assert r[1]["changed"] is True and writes(out[1]) == 1
    assert out[1]["requests"]["by_operation"].get("VirtualMachineScaleSets_Update") == 1
    assert r[1]["extensions"] == [{"name": "health", "enable_automatic_upgrade": True,
                                   "auto_upgrade_minor_version": True}]
    assert r[1]["use_rolling_upgrade_policy"] is True

    assert r[2]["changed"] is False and writes(out[2]) == 0

    assert r[3]["changed"] is True and writes(out[3]) == 1
    assert [e["enable_automatic_upgrade"] for e in r[3]["extensions"]] == [False, False]

    # the rewrite of the extension list kept the order and settings of the other extension
    app = next(e for e in r[4]["extensions"] if e["name"] == "app")
    assert app["provision_after"] == ["health"] and app["type"] == "CustomScript"
    assert "enable_automatic_upgrade" in res.output  # diff printed


def test_start_upgrade_follows_the_rolling_upgrade(fresh_emulator, run_playbook, tmp_path):
    fresh_emulator.load_scenario(scenario(extensions=[HEALTH], upgrade_policy="Rolling", capacity=3))
    out, _counters = run_steps(run_playbook, fresh_emulator, [
        step(AUTO, check=True, extensions=["health"], enabled=True, start_upgrade=True),
        step(AUTO, extensions=["health"], enabled=True, start_upgrade=True),
    ], tmp_path, diff=False)
    check, real = out[0]["result"], out[1]["result"]
    assert check["changed"] is True and writes(out[0]) == 0 and "rolling_upgrade" not in check
    assert not real.get("failed"), real.get("msg")
    assert real["rolling_upgrade"]["status"] == "Completed"
    ops = out[1]["requests"]["by_operation"]
    assert ops.get("VirtualMachineScaleSetRollingUpgrades_StartExtensionUpgrade") == 1
    assert ops.get("VirtualMachineScaleSets_Update") == 1
