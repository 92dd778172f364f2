"""Extension sub-resource and ordering rules; rolling upgrades following the policy."""
from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError
from emu_sdk import HEALTH_EXT, web_scenario

from vmss_emulator.testing import EmulatorError

NEW_IMAGE = {"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"version": "2.0.0"}}}}}
ROLLING = {"mode": "Rolling", "rollingUpgradePolicy": {
    "maxBatchInstancePercent": 20, "maxUnhealthyInstancePercent": 50, "maxUnhealthyUpgradedInstancePercent": 20,
    "pauseTimeBetweenBatches": "PT0S"}}


def _ext(name, after=None, settings=True):
    props = {"publisher": "Contoso", "type": f"{name}Type", "typeHandlerVersion": "1.0"}
    if settings:
        props["settings"] = {}
    if after:
        props["provisionAfterExtensions"] = after
    return {"name": name, "properties": props}


def test_extension_sub_resource_crud(web, compute):
    exts = compute.virtual_machine_scale_set_extensions
    assert [e.name for e in exts.list("rg-demo", "web")] == ["health", "script"]
    assert exts.get("rg-demo", "web", "script").protected_settings is None
    created = exts.begin_create_or_update("rg-demo", "web", "monitor", _ext("monitor", after=["script"])).result()
    assert created.provision_after_extensions == ["script"]
    updated = exts.begin_update("rg-demo", "web", "monitor", {"properties": {"settings": {"level": 2}}}).result()
    assert updated.settings == {"level": 2} and updated.type_handler_version == "1.0"
    exts.begin_delete("rg-demo", "web", "monitor").result()
    assert [e.name for e in exts.list("rg-demo", "web")] == ["health", "script"]
    assert compute.virtual_machine_scale_sets.get("rg-demo", "web").etag == '"4"'


@pytest.mark.parametrize("case", ["undefined", "cycle", "no_settings", "remove_dependency"])
def test_extension_ordering_errors_are_400_bad_request_and_change_nothing(web, compute, case):
    exts = compute.virtual_machine_scale_set_extensions
    before = compute.virtual_machine_scale_sets.get("rg-demo", "web").etag
    with pytest.raises(HttpResponseError) as err:
        if case == "undefined":
            exts.begin_create_or_update("rg-demo", "web", "late", _ext("late", after=["ghost"]))
        elif case == "cycle":
            extensions = [_ext("a", after=["c"]), _ext("b", after=["a"]), _ext("c", after=["b"])]
            compute.virtual_machine_scale_sets.begin_update("rg-demo", "web", {"properties": {"virtualMachineProfile": {
                "extensionProfile": {"extensions": extensions}}}})
        elif case == "no_settings":
            extensions = [_ext("base", settings=False), _ext("top", after=["base"])]
            compute.virtual_machine_scale_sets.begin_update("rg-demo", "web", {"properties": {"virtualMachineProfile": {
                "extensionProfile": {"extensions": extensions}}}})
        else:
            exts.begin_delete("rg-demo", "web", "health")
    assert err.value.status_code == 400
    assert err.value.error.code == "BadRequest"
    expected = {"undefined": "'ghost' is not configured", "cycle": "circular", "no_settings": "'settings'",
                "remove_dependency": "will no longer exist"}[case]
    assert expected in err.value.error.message
    after = compute.virtual_machine_scale_sets.get("rg-demo", "web")
    assert after.etag == before
    assert [e.name for e in after.virtual_machine_profile.extension_profile.extensions] == ["health", "script"]


def test_rolling_upgrade_runs_to_completed_in_update_domain_batches(emu, compute):
    emu.load_scenario(web_scenario(upgrade_policy=ROLLING, capacity=10))
    compute.virtual_machine_scale_sets.begin_update("rg-demo", "web", NEW_IMAGE).result()
    # a model change under Rolling starts a platform rolling upgrade; an explicit start follows it
    compute.virtual_machine_scale_set_rolling_upgrades.begin_start_os_upgrade("rg-demo", "web").result()
    latest = compute.virtual_machine_scale_set_rolling_upgrades.get_latest("rg-demo", "web")
    assert latest.running_status.code == "Completed"
    assert latest.progress.successful_instance_count == 10
    assert latest.progress.failed_instance_count == 0
    batches = [e["instance_ids"] for e in emu.events(type="rolling_batch")]
    assert batches == [["0", "5"], ["1", "6"], ["2", "7"], ["3", "8"], ["4", "9"]]  # 20% of 10, one UD each
    assert all(v.latest_model_applied for v in compute.virtual_machine_scale_set_vms.list("rg-demo", "web"))
    history = list(compute.virtual_machine_scale_sets.get_os_upgrade_history("rg-demo", "web"))
    assert history[0].properties.running_status.code == "Completed"
    assert history[0].properties.target_image_reference.version == "2.0.0"


def test_rolling_upgrade_stops_when_upgraded_instances_are_unhealthy(emu, compute):
    emu.load_scenario(web_scenario(upgrade_policy=ROLLING, capacity=10, fail_upgrade_instances=["1"]))
    compute.virtual_machine_scale_sets.begin_update("rg-demo", "web", NEW_IMAGE).result()
    with pytest.raises(HttpResponseError) as err:
        compute.virtual_machine_scale_set_rolling_upgrades.begin_start_os_upgrade("rg-demo", "web").result()
    assert "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade" in str(err.value)
    latest = compute.virtual_machine_scale_set_rolling_upgrades.get_latest("rg-demo", "web")
    assert latest.running_status.code == "Faulted"
    assert latest.error.code == "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade"
    stale = [v.instance_id for v in compute.virtual_machine_scale_set_vms.list(
        "rg-demo", "web", filter="properties/latestModelApplied eq false")]
    assert stale == ["1", "2", "3", "4", "7", "8", "9"]  # 1 failed; batches after the breach never ran


def test_rolling_upgrade_cancel(emu, compute):
    emu.load_scenario(web_scenario(upgrade_policy="Manual", capacity=10))
    emu.set_faults([{"kind": "upgrade_hangs", "instance_ids": ["0"]}])  # the first batch stays in flight
    compute.virtual_machine_scale_sets.begin_update("rg-demo", "web", NEW_IMAGE).result()
    compute.virtual_machine_scale_sets.begin_update(
        "rg-demo", "web", {"properties": {"upgradePolicy": {"mode": "Manual", "rollingUpgradePolicy": {
            "maxBatchInstancePercent": 20}}}}).result()
    upgrade = compute.virtual_machine_scale_set_rolling_upgrades.begin_start_os_upgrade("rg-demo", "web")
    compute.virtual_machine_scale_set_rolling_upgrades.begin_cancel("rg-demo", "web").result()
    with pytest.raises(HttpResponseError):
        upgrade.result()
    emu.clear_faults()
    latest = compute.virtual_machine_scale_set_rolling_upgrades.get_latest("rg-demo", "web")
    assert latest.running_status.code == "Cancelled"
    assert latest.running_status.last_action == "Cancel"
    stale = list(compute.virtual_machine_scale_set_vms.list(
        "rg-demo", "web", filter="properties/latestModelApplied eq false"))
    assert len(stale) == 10  # the first batch was interrupted before it finished


def test_rolling_upgrade_does_not_start_a_batch_when_too_much_of_the_set_is_unhealthy(emu, compute):
    policy = {"mode": "Manual", "rollingUpgradePolicy": {"maxBatchInstancePercent": 20,
                                                         "maxUnhealthyInstancePercent": 20}}
    emu.load_scenario(web_scenario(upgrade_policy=policy, capacity=10))
    compute.virtual_machine_scale_sets.begin_power_off("rg-demo", "web", {"instanceIds": ["0", "1", "2"]}).result()
    compute.virtual_machine_scale_sets.begin_update("rg-demo", "web", NEW_IMAGE).result()
    with pytest.raises(HttpResponseError) as err:
        compute.virtual_machine_scale_set_rolling_upgrades.begin_start_os_upgrade("rg-demo", "web").result()
    assert "MaxUnhealthyInstancePercentExceededInRollingUpgrade" in str(err.value)
    assert compute.virtual_machine_scale_set_rolling_upgrades.get_latest("rg-demo", "web").running_status.code == \
        "Faulted"
    assert emu.events(type="rolling_batch") == []  # checked before the first batch


@pytest.mark.parametrize("case", ["rolling_put", "rolling_patch", "automatic_os_patch", "drop_health_under_rolling"])
def test_rolling_or_automatic_os_upgrade_without_a_health_signal_is_400_and_changes_nothing(emu, compute, case):
    sets = compute.virtual_machine_scale_sets
    if case == "drop_health_under_rolling":
        emu.load_scenario(web_scenario(capacity=3, upgrade_policy=ROLLING, extensions=[HEALTH_EXT, _ext("script")]))
    else:
        emu.load_scenario(web_scenario(capacity=3, extensions=[_ext("script")]))  # no Application Health
    before = sets.get("rg-demo", "web")
    with pytest.raises(HttpResponseError) as err:
        if case == "rolling_put":
            model = sets.get("rg-demo", "web")
            model.upgrade_policy.mode = "Rolling"
            sets.begin_create_or_update("rg-demo", "web", model)
        elif case == "rolling_patch":
            sets.begin_update("rg-demo", "web", {"properties": {"upgradePolicy": ROLLING}})
        elif case == "automatic_os_patch":
            sets.begin_update("rg-demo", "web", {"properties": {"upgradePolicy": {
                "mode": "Automatic", "automaticOSUpgradePolicy": {"enableAutomaticOSUpgrade": True}}}})
        else:
            compute.virtual_machine_scale_set_extensions.begin_delete("rg-demo", "web", "health")
    assert err.value.status_code == 400 and err.value.error.code == "BadRequest"
    expected = ("Automatic OS Upgrade is not supported" if case == "automatic_os_patch"
                else "Rolling Upgrade mode is not supported")
    assert expected in err.value.error.message and "health probe or health extension" in err.value.error.message
    after = sets.get("rg-demo", "web")
    assert after.etag == before.etag and after.upgrade_policy.mode == before.upgrade_policy.mode
    assert len(after.virtual_machine_profile.extension_profile.extensions) == len(
        before.virtual_machine_profile.extension_profile.extensions)


def test_rolling_mode_is_accepted_with_a_load_balancer_health_probe_instead_of_the_extension(emu, compute):
    emu.load_scenario(web_scenario(capacity=3, extensions=[_ext("script")]))
    probe = {"id": "/subscriptions/x/resourceGroups/rg-demo/providers/Microsoft.Network/loadBalancers/lb/probes/http"}
    done = compute.virtual_machine_scale_sets.begin_update("rg-demo", "web", {"properties": {
        "upgradePolicy": ROLLING, "virtualMachineProfile": {"networkProfile": {"healthProbe": probe}}}}).result()
    assert done.upgrade_policy.mode == "Rolling"


def test_a_scenario_with_rolling_mode_and_no_health_signal_is_refused(emu):
    with pytest.raises(EmulatorError, match="Rolling Upgrade mode is not supported"):
        emu.load_scenario(web_scenario(capacity=3, extensions=[_ext("script")], upgrade_policy=ROLLING))
