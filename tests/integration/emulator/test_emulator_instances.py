"""Scale-set VMs: paging, $filter, instance views, manual upgrade as one LRO, failed LROs, protection."""
from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from emu_sdk import web_scenario

NEW_IMAGE = {"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"version": "2.0.0"}}}}}


def test_list_pages_keep_the_query(web, compute):
    web.config(page_size=4)
    web.reset_requests()
    vms = list(compute.virtual_machine_scale_set_vms.list("rg-demo", "web", expand="instanceView"))
    assert [v.instance_id for v in vms] == [str(i) for i in range(15)]
    assert web.requests()["by_operation"]["VirtualMachineScaleSetVMs_List"] == 4  # 4 + 4 + 4 + 3
    assert all(v.instance_view is not None for v in vms)  # $expand survived the nextLinks
    compute.virtual_machine_scale_sets.begin_update("rg-demo", "web", NEW_IMAGE).result()
    compute.virtual_machine_scale_sets.begin_update_instances("rg-demo", "web", {"instanceIds": ["1", "7"]}).result()
    web.reset_requests()
    stale = list(compute.virtual_machine_scale_set_vms.list(
        "rg-demo", "web", filter="properties/latestModelApplied eq false"))
    assert [v.instance_id for v in stale] == [str(i) for i in range(15) if i not in (1, 7)]
    assert web.requests()["by_operation"]["VirtualMachineScaleSetVMs_List"] == 4  # 13 items: $filter kept
    fresh = list(compute.virtual_machine_scale_set_vms.list(
        "rg-demo", "web", filter="properties/latestModelApplied eq true"))
    assert [v.instance_id for v in fresh] == ["1", "7"]


def test_instance_view_has_domains_statuses_extensions_and_health(web, compute):
    vm = compute.virtual_machine_scale_set_vms.get("rg-demo", "web", "7", expand="instanceView")
    view = vm.instance_view
    assert (view.platform_update_domain, view.platform_fault_domain) == (2, 2)
    codes = [s.code for s in view.statuses]
    assert "ProvisioningState/succeeded" in codes and "PowerState/running" in codes
    assert [e.name for e in view.extensions] == ["health", "script"]
    assert view.vm_health.status.code.startswith("HealthState/")
    assert vm.resources and all(getattr(r, "protected_settings", None) is None for r in vm.resources)
    alone = compute.virtual_machine_scale_set_vms.get_instance_view("rg-demo", "web", "7")
    assert alone.platform_update_domain == 2
    with pytest.raises(ResourceNotFoundError) as err:
        compute.virtual_machine_scale_set_vms.get("rg-demo", "web", "99")
    assert err.value.error.code == "NotFound"
    summary = compute.virtual_machine_scale_sets.get_instance_view("rg-demo", "web")
    assert {s.code: s.count for s in summary.virtual_machine.statuses_summary}["PowerState/running"] == 15


def test_manual_upgrade_of_a_batch_is_one_lro(web, compute):
    compute.virtual_machine_scale_sets.begin_update("rg-demo", "web", NEW_IMAGE).result()
    web.reset_requests()
    # hold the batch in Updating (a fault rule) so the check below never races the clock
    web.set_faults([{"kind": "upgrade_hangs", "instance_ids": ["0", "5", "10"]}])
    poller = compute.virtual_machine_scale_sets.begin_update_instances("rg-demo", "web",
                                                                       {"instanceIds": ["0", "5", "10"]})
    during = {v.instance_id: v for v in compute.virtual_machine_scale_set_vms.list(
        "rg-demo", "web", expand="instanceView")}
    for iid in ("0", "5", "10"):
        assert during[iid].provisioning_state == "Updating"
        assert "PowerState/running" not in [s.code for s in during[iid].instance_view.statuses]
    assert during["1"].provisioning_state == "Succeeded"
    assert not poller.done()
    web.clear_faults()
    poller.result()
    after = {v.instance_id: v for v in compute.virtual_machine_scale_set_vms.list("rg-demo", "web")}
    assert {i for i, v in after.items() if v.latest_model_applied} == {"0", "5", "10"}
    assert after["5"].storage_profile.image_reference.version == "2.0.0"
    assert after["1"].storage_profile.image_reference.version == "1.0.0"
    counts = web.requests()["by_operation"]
    assert counts["VirtualMachineScaleSets_UpdateInstances"] == 1
    lros = [e for e in web.events(type="lro_end") if e["operation"] == "VirtualMachineScaleSets_UpdateInstances"]
    assert [e["status"] for e in lros] == ["Succeeded"]
    ends = web.events(type="instance_upgrade_end")
    assert sorted(e["instance_id"] for e in ends) == ["0", "10", "5"]
    order = [e["extension"] for e in web.events(type="extension_provisioned") if e["instance_id"] == "5"]
    assert order[-2:] == ["health", "script"]  # provisionAfterExtensions honoured


def test_failed_instance_fails_the_lro(emu, compute):
    emu.load_scenario(web_scenario(fail_upgrade_instances=["5"]))
    compute.virtual_machine_scale_sets.begin_update("rg-demo", "web", NEW_IMAGE).result()
    poller = compute.virtual_machine_scale_sets.begin_update_instances("rg-demo", "web",
                                                                       {"instanceIds": ["4", "5"]})
    with pytest.raises(HttpResponseError) as err:
        poller.result()
    assert "VMExtensionProvisioningError" in str(err.value)
    vms = {v.instance_id: v for v in compute.virtual_machine_scale_set_vms.list("rg-demo", "web")}
    assert vms["5"].provisioning_state == "Failed"
    assert not vms["5"].latest_model_applied  # a failed upgrade leaves the old model
    assert vms["4"].provisioning_state == "Succeeded"
    assert vms["4"].latest_model_applied


@pytest.mark.parametrize("ids, message", [
    (["1 4"], "is invalid"),
    (["99"], "is not an active Virtual Machine Scale Set VM instanceId"),
    ([], "instanceIds"),
])
def test_bad_instance_ids_are_400_invalid_parameter(web, compute, ids, message):
    with pytest.raises(HttpResponseError) as err:
        compute.virtual_machine_scale_sets.begin_update_instances("rg-demo", "web", {"instanceIds": ids})
    assert err.value.status_code == 400
    assert err.value.error.code == "InvalidParameter"
    assert err.value.error.target == "instanceIds"
    assert message in err.value.error.message
    assert "VirtualMachineScaleSets_UpdateInstances" not in [e["operation"] for e in web.events(type="lro_start")]


def test_protected_instances_refuse_scale_set_actions(emu, compute):
    emu.load_scenario(web_scenario(protected_instances=["3"]))
    compute.virtual_machine_scale_sets.begin_update("rg-demo", "web", NEW_IMAGE).result()
    with pytest.raises(ResourceExistsError) as err:
        compute.virtual_machine_scale_sets.begin_update_instances("rg-demo", "web", {"instanceIds": ["2", "3"]})
    assert err.value.error.code == "OperationNotAllowed"
    assert "protectFromScaleSetActions" in err.value.error.message
    compute.virtual_machine_scale_sets.begin_update_instances("rg-demo", "web", {"instanceIds": ["*"]}).result()
    vms = {v.instance_id: v for v in compute.virtual_machine_scale_set_vms.list("rg-demo", "web")}
    assert not vms["3"].latest_model_applied
    assert vms["3"].protection_policy.protect_from_scale_set_actions
    assert all(v.latest_model_applied for i, v in vms.items() if i != "3")


def test_restart_keeps_the_model_and_reimage_runs(web, compute):
    compute.virtual_machine_scale_sets.begin_update("rg-demo", "web", NEW_IMAGE).result()
    compute.virtual_machine_scale_sets.begin_restart("rg-demo", "web", {"instanceIds": ["2"]}).result()
    compute.virtual_machine_scale_set_vms.begin_reimage("rg-demo", "web", "4").result()
    vms = {v.instance_id: v for v in compute.virtual_machine_scale_set_vms.list("rg-demo", "web")}
    assert not vms["2"].latest_model_applied and not vms["4"].latest_model_applied
    ops = [(e["instance_id"], e["operation"]) for e in web.events(type="instance_upgrade_end")]
    assert ops == [("2", "restart"), ("4", "reimage")]


def test_responses_carry_arm_headers(web, compute):
    seen = {}

    def hook(response):
        seen.update(response.http_response.headers)

    compute.virtual_machine_scale_sets.get("rg-demo", "web", raw_response_hook=hook)
    for header in ("x-ms-request-id", "x-ms-correlation-request-id", "x-ms-ratelimit-remaining-subscription-reads",
                   "x-ms-ratelimit-remaining-resource"):
        assert seen.get(header), header


def test_lro_responses_ask_for_the_configured_poll_delay(web, compute):
    web.config(lro_retry_after=1)
    started = {}

    def hook(response):
        if response.http_response.status_code == 202:
            started.update(response.http_response.headers)

    poller = compute.virtual_machine_scale_sets.begin_update_instances(
        "rg-demo", "web", {"instanceIds": ["0"]}, raw_response_hook=hook)
    poller.result()
    assert started["Retry-After"] == "1"
    assert started["retry-after-ms"] == "1000"
    assert "/operations/" in started["Azure-AsyncOperation"]
    assert "monitor=true" in started["Location"]
