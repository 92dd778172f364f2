"""Every fault kind, driven through the real azure-identity + azure-mgmt-compute clients."""
from __future__ import annotations

import json

import jwt
import pytest
from azure.core.exceptions import HttpResponseError, ServiceResponseError
from fleet_helpers import (NEW_VERSION, RG, VMSS, app_request, fleet_row, make_client, scenario, set_image_version,
                           upgrade, vm_health, wait_for)


def fired(emulator, kind):
    return [e for e in emulator.events("fault_fired") if e["kind"] == kind]


def by_operation(emulator, operation_id):
    return emulator.requests()["by_operation"].get(operation_id, 0)


def test_throttle_is_retried_by_the_sdk_after_retry_after(fresh_emulator, sdk):
    emulator = fresh_emulator
    emulator.load_scenario(scenario(capacity=1))
    emulator.set_faults([{"kind": "throttle", "match": {"operation": "VirtualMachineScaleSets_Get"}, "count": 2,
                          "retry_after": 0.05}])
    emulator.reset_requests()
    assert sdk.virtual_machine_scale_sets.get(RG, VMSS).name == VMSS
    assert by_operation(emulator, "VirtualMachineScaleSets_Get") == 3   # two 429s, then the answer
    assert len(fired(emulator, "throttle")) == 2
    rules = emulator.admin("GET", "/_emulator/faults")["rules"]
    assert (rules[0]["matched"], rules[0]["fired"]) == (3, 2)


def test_throttle_answer_is_arms(fresh_emulator):
    emulator = fresh_emulator
    emulator.load_scenario(scenario(capacity=1))
    client = make_client(emulator, retry_total=0)
    emulator.set_faults([{"kind": "throttle", "match": {"method": "GET", "path": "/virtualMachines$"}, "count": 1,
                          "retry_after": 3}])
    with pytest.raises(HttpResponseError) as info:
        list(client.virtual_machine_scale_set_vms.list(RG, VMSS))
    response = info.value.response
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    assert "HighCostGet30Min;0" in response.headers["x-ms-ratelimit-remaining-resource"]
    error = response.json()["error"]
    assert error["code"] == "OperationNotAllowed"
    assert error["message"].startswith("The server rejected the request because too many requests")
    assert error["details"][0]["code"] == "TooManyRequests"
    assert json.loads(error["details"][0]["message"])["operationGroup"] == "HighCostGetVMScaleSet30Min"
    assert error["innererror"] == {"internalErrorCode": "TooManyRequestsReceived"}
    assert len(list(client.virtual_machine_scale_set_vms.list(RG, VMSS))) == 1   # count 1: only the first


def test_http_error_every_nth_request(fresh_emulator):
    emulator = fresh_emulator
    emulator.load_scenario(scenario(capacity=1))
    client = make_client(emulator, retry_total=0)
    emulator.set_faults([{"kind": "http_error", "status": 503, "match": {"operation": "VirtualMachineScaleSets_Get"},
                          "every": 2}])
    outcomes = []
    for _index in range(4):
        try:
            client.virtual_machine_scale_sets.get(RG, VMSS)
            outcomes.append("ok")
        except HttpResponseError as exc:
            outcomes.append((exc.status_code, exc.error.code))
    assert outcomes == ["ok", (503, "ServiceUnavailable"), "ok", (503, "ServiceUnavailable")]


def test_http_error_500_is_retried_by_the_sdk(fresh_emulator, sdk):
    emulator = fresh_emulator
    emulator.load_scenario(scenario(capacity=1))
    emulator.set_faults([{"kind": "http_error", "match": {"operation": "VirtualMachineScaleSets_Get"}, "count": 1,
                          "retry_after": 0.05}])
    emulator.reset_requests()
    assert sdk.virtual_machine_scale_sets.get(RG, VMSS).name == VMSS
    assert by_operation(emulator, "VirtualMachineScaleSets_Get") == 2


def test_probability_faults_repeat_exactly_for_a_seed(fresh_emulator):
    emulator = fresh_emulator
    emulator.load_scenario(scenario(capacity=1))
    client = make_client(emulator, retry_total=0)

    def run():
        emulator.clear_faults()
        emulator.set_faults([{"kind": "http_error", "match": {"operation": "VirtualMachineScaleSets_Get"},
                              "probability": 0.5, "seed": 11}])
        pattern = []
        for _index in range(12):
            try:
                client.virtual_machine_scale_sets.get(RG, VMSS)
                pattern.append(0)
            except HttpResponseError:
                pattern.append(1)
        return pattern

    first = run()
    assert first == run()
    assert 0 < sum(first) < 12


def test_drop_connection_closes_without_an_answer(fresh_emulator, sdk):
    emulator = fresh_emulator
    emulator.load_scenario(scenario(capacity=1))
    client = make_client(emulator, retry_total=0)
    emulator.set_faults([{"kind": "drop_connection", "match": {"operation": "VirtualMachineScaleSets_Get"},
                          "count": 1}])
    with pytest.raises(ServiceResponseError):
        client.virtual_machine_scale_sets.get(RG, VMSS)
    emulator.set_faults([{"kind": "drop_connection", "match": {"operation": "VirtualMachineScaleSets_Get"},
                          "count": 1}])
    emulator.reset_requests()
    assert sdk.virtual_machine_scale_sets.get(RG, VMSS).name == VMSS   # the default policy retries
    assert by_operation(emulator, "VirtualMachineScaleSets_Get") == 2
    assert len(fired(emulator, "drop_connection")) == 2


def test_upgrade_fails_for_chosen_instances(fresh_emulator, sdk):
    emulator = fresh_emulator
    emulator.load_scenario(scenario(capacity=3, upgrade_seconds=0.2))
    set_image_version(sdk, NEW_VERSION)
    emulator.set_faults([{"kind": "upgrade_fails", "instance_ids": ["1"]}])
    with pytest.raises(HttpResponseError) as info:
        upgrade(sdk, "0", "1").result()
    assert "VMExtensionProvisioningError" in str(info.value)
    vms = {vm.instance_id: vm for vm in sdk.virtual_machine_scale_set_vms.list(RG, VMSS)}
    assert vms["1"].provisioning_state == "Failed"
    assert vms["0"].provisioning_state == "Succeeded"
    assert vms["0"].latest_model_applied is True
    assert [e["instance_id"] for e in fired(emulator, "upgrade_fails")] == ["1"]


def test_upgrade_fails_for_a_fraction_is_the_same_instances_every_run(fresh_emulator, sdk):
    emulator = fresh_emulator
    emulator.load_scenario(scenario(capacity=10, upgrade_seconds=0.1))
    set_image_version(sdk, NEW_VERSION)
    failed_runs = []
    for _index in range(2):
        emulator.clear_faults()
        emulator.clear_events()
        emulator.set_faults([{"kind": "upgrade_fails", "fraction": 0.3, "seed": 5}])
        with pytest.raises(HttpResponseError):
            upgrade(sdk, "*").result()
        failed_runs.append(sorted(e["instance_id"] for e in fired(emulator, "upgrade_fails")))
    assert failed_runs[0] == failed_runs[1]
    assert 0 < len(failed_runs[0]) < 10
    states = {vm.instance_id: vm.provisioning_state for vm in sdk.virtual_machine_scale_set_vms.list(RG, VMSS)}
    assert sorted(i for i, state in states.items() if state == "Failed") == failed_runs[0]


def test_upgrade_hangs_until_the_rule_is_removed(fresh_emulator, sdk):
    emulator = fresh_emulator
    emulator.load_scenario(scenario(capacity=2, upgrade_seconds=0.1))
    set_image_version(sdk, NEW_VERSION)
    rule_id = emulator.set_faults([{"kind": "upgrade_hangs", "instance_ids": ["0"]}])["rules"][0]["id"]
    poller = upgrade(sdk, "0", "1")
    wait_for(lambda: fired(emulator, "upgrade_hangs"), what="the hang to fire")
    wait_for(lambda: fleet_row(emulator, "1")["provisioning_state"] == "Succeeded", what="instance 1 done")
    assert not poller.done()
    assert sdk.virtual_machine_scale_set_vms.get(RG, VMSS, "0").provisioning_state == "Updating"
    assert app_request(fleet_row(emulator, "0")["ip"]) == (None, None)   # still down

    emulator.admin("DELETE", f"/_emulator/faults/{rule_id}")
    poller.result()
    assert sdk.virtual_machine_scale_set_vms.get(RG, VMSS, "0").provisioning_state == "Succeeded"


@pytest.mark.parametrize("rule", [
    {"kind": "unhealthy_after_upgrade", "image_version": NEW_VERSION},
    {"kind": "unhealthy_after_upgrade", "instance_ids": ["0"]},
])
def test_unhealthy_after_upgrade(fresh_emulator, sdk, rule):
    emulator = fresh_emulator
    emulator.load_scenario(scenario(capacity=2, grace=0.1, upgrade_seconds=0.1))
    emulator.set_faults([rule])
    set_image_version(sdk, NEW_VERSION)
    upgrade(sdk, "0").result()
    wait_for(lambda: vm_health(sdk, "0") == "HealthState/unhealthy", what="unhealthy after the upgrade")
    status, body = app_request(fleet_row(emulator, "0")["ip"])
    assert (status, body["status"], body["imageVersion"]) == (503, "Unhealthy", NEW_VERSION)
    assert vm_health(sdk, "1") == "HealthState/healthy"   # not upgraded: not affected
    assert [e["instance_id"] for e in fired(emulator, "unhealthy_after_upgrade")] == ["0"]

    emulator.clear_faults()   # removing the rule heals the app
    assert app_request(fleet_row(emulator, "0")["ip"])[0] == 200
    assert vm_health(sdk, "0") == "HealthState/healthy"


def test_unhealthy_after_upgrade_by_extension_setting(fresh_emulator, sdk):
    from azure.mgmt.compute.models import VirtualMachineScaleSetExtensionUpdate

    emulator = fresh_emulator
    app_extension = {"name": "app", "properties": {
        "publisher": "Microsoft.Azure.Extensions", "type": "CustomScript", "typeHandlerVersion": "2.1",
        "settings": {"release": "good"}}}
    emulator.load_scenario(scenario(capacity=2, grace=0.1, upgrade_seconds=0.1,
                                    extensions=[scenario()["scale_sets"][0]["extensions"][0], app_extension]))
    emulator.set_faults([{"kind": "unhealthy_after_upgrade",
                          "extension_setting": {"extension": "app", "name": "release", "value": "bad"}}])
    upgrade(sdk, "1").result()   # same model: stays healthy
    sdk.virtual_machine_scale_set_extensions.begin_update(
        RG, VMSS, "app", VirtualMachineScaleSetExtensionUpdate(settings={"release": "bad"})).result()
    upgrade(sdk, "0").result()
    wait_for(lambda: vm_health(sdk, "0") == "HealthState/unhealthy", what="unhealthy after the bad release")
    assert vm_health(sdk, "1") == "HealthState/healthy"
    assert app_request(fleet_row(emulator, "0")["ip"])[1]["extensions"]["app"] == {"release": "bad"}


def test_token_lifetime_applies_to_tokens_issued_from_now_on(fresh_emulator):
    emulator = fresh_emulator
    emulator.load_scenario(scenario(capacity=1))
    before = make_client(emulator)
    token = before._config.credential.get_token("https://management.azure.com/.default").token
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] > 60

    emulator.set_faults([{"kind": "token_lifetime", "seconds": 2}])
    after = make_client(emulator)
    token = after._config.credential.get_token("https://management.azure.com/.default").token
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 2
    assert len(fired(emulator, "token_lifetime")) == 1
    # the short token still works, and the SDK fetches a fresh one rather than send an expired token
    assert after.virtual_machine_scale_sets.get(RG, VMSS).name == VMSS


def test_bad_rule_is_refused_with_the_option_named(fresh_emulator):
    from vmss_emulator.testing import EmulatorError

    with pytest.raises(EmulatorError) as info:
        fresh_emulator.set_faults([{"kind": "throttle", "count": 1}, {"kind": "http_error", "status": 418}])
    assert "HTTP 400" in str(info.value) and "'status' must be 500 or 503" in str(info.value)
    assert fresh_emulator.admin("GET", "/_emulator/faults")["rules"] == []


def test_a_recreated_scale_set_does_not_inherit_a_sick_app(fresh_emulator, sdk):
    emulator = fresh_emulator
    emulator.load_scenario(scenario(capacity=1, grace=0, upgrade_seconds=0.1))
    emulator.set_faults([{"kind": "unhealthy_after_upgrade", "instance_ids": ["0"]}])
    upgrade(sdk, "0").result()
    assert vm_health(sdk, "0") == "HealthState/unhealthy"
    sdk.virtual_machine_scale_sets.begin_delete(RG, VMSS).result()
    emulator.load_scenario({key: value for key, value in scenario(capacity=1, grace=0).items()
                            if key != "resource_groups"})
    assert vm_health(sdk, "0") == "HealthState/healthy"
    assert app_request(fleet_row(emulator, "0")["ip"])[0] == 200


def test_platform_rolling_upgrade_stops_on_apps_made_unhealthy(fresh_emulator, sdk):
    """The health states drive the platform's own rolling policy: a bad image breaches the upgraded-instances
    threshold after the first batch, and the LRO fails with Azure's code."""
    emulator = fresh_emulator
    spec = scenario(capacity=5, grace=0.1, upgrade_seconds=0.1)
    spec["scale_sets"][0]["upgrade_policy"] = {"mode": "Manual", "rollingUpgradePolicy": {
        "maxBatchInstancePercent": 20, "maxUnhealthyInstancePercent": 100,
        "maxUnhealthyUpgradedInstancePercent": 0, "pauseTimeBetweenBatches": "PT0S"}}
    emulator.load_scenario(spec)
    emulator.set_faults([{"kind": "unhealthy_after_upgrade", "image_version": NEW_VERSION}])
    set_image_version(sdk, NEW_VERSION)
    with pytest.raises(HttpResponseError) as info:
        sdk.virtual_machine_scale_set_rolling_upgrades.begin_start_os_upgrade(RG, VMSS).result()
    assert "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade" in str(info.value)
    sick = [e["instance_id"] for e in fired(emulator, "unhealthy_after_upgrade")]
    assert len(sick) == 1   # the first batch only
    assert vm_health(sdk, sick[0]) == "HealthState/unhealthy"
