"""App-driven ordering: phases and SkipUpgrade from App Health custom metrics, read from the instance view and
applied by the batch planner."""
import json

import pytest

from ansible_collections.vmss.rollout.plugins.module_utils._vmss import instances
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.batches import REASON_APP_SKIP, describe, \
    order_by_phase, plan


def inst(i, ud, phase=None, skip=False, zone=None, latest=False):
    return {"instance_id": str(i), "update_domain": ud, "zone": zone, "latest_model_applied": latest,
            "protected": False, "app_phase": phase, "app_skip_upgrade": skip}


def view_with_metrics(message, code="ComponentStatus/CustomMetrics/succeeded"):
    return {"extensions": [
        {"name": "script", "statuses": []},
        {"name": "health", "substatuses": [
            {"code": "ComponentStatus/ApplicationHealthState/healthy", "message": "Application found to be healthy"},
            {"code": code, "message": message}]}]}


@pytest.mark.parametrize("message, expected", [
    (json.dumps({"rollingUpgrade": {"PhaseOrderingNumber": 2, "SkipUpgrade": False}}), (2, False)),
    (json.dumps({"rollingUpgrade": {"SkipUpgrade": True}}), (None, True)),
    (json.dumps({"rollingUpgrade": {"PhaseOrderingNumber": 0}}), (0, False)),
    (json.dumps({"rollingUpgrade": {"PhaseOrderingNumber": -3, "SkipUpgrade": "true"}}), (None, False)),
    (json.dumps({"rollingUpgrade": {"PhaseOrderingNumber": True}}), (None, False)),
    (json.dumps({"other": 1}), (None, False)),
    ("{not json", (None, False)),
    (json.dumps([1, 2]), (None, False)),
])
def test_custom_metrics_are_read_from_the_health_extension_substatus(message, expected):
    assert instances.app_rolling_upgrade(view_with_metrics(message)) == expected


def test_no_custom_metrics_means_no_phase_and_no_skip():
    assert instances.app_rolling_upgrade({}) == (None, False)
    assert instances.app_rolling_upgrade(None) == (None, False)
    assert instances.app_rolling_upgrade(view_with_metrics(
        json.dumps({"rollingUpgrade": {"SkipUpgrade": True}}), code="ComponentStatus/ApplicationHealthState/x")) \
        == (None, False)


def test_the_summary_carries_phase_and_skip():
    vm = {"instanceId": "3", "properties": {"instanceView": view_with_metrics(
        json.dumps({"rollingUpgrade": {"PhaseOrderingNumber": 1, "SkipUpgrade": True}}))}}
    summary = instances.summarize(vm)
    assert (summary["app_phase"], summary["app_skip_upgrade"]) == (1, True)
    plain = instances.summarize({"instanceId": "4", "properties": {}})
    assert (plain["app_phase"], plain["app_skip_upgrade"]) == (None, False)


def test_order_by_phase_puts_phases_in_numeric_order_and_no_phase_last():
    fleet = [inst(0, 0, phase=2), inst(1, 1), inst(2, 2, phase=0), inst(3, 0, phase=10), inst(4, 1, phase=0),
             inst(5, 0)]
    assert [i["instance_id"] for i in order_by_phase(fleet)] == ["4", "2", "0", "3", "5", "1"]  # phase 0 in update-domain order


def test_batches_follow_phases_and_never_mix_two():
    fleet = [inst(i, i % 3, phase=(1 if i < 3 else 0) if i < 6 else None) for i in range(9)]
    result = plan(fleet)
    # phase 0 (3, 4, 5), then phase 1 (0, 1, 2), then no phase (6, 7, 8); inside each, update domain order
    expected = [["3"], ["4"], ["5"], ["0"], ["1"], ["2"], ["6"], ["7"], ["8"]]
    assert [b["instance_ids"] for b in result["batches"]] == expected
    assert [b["phase"] for b in result["batches"]] == [0, 0, 0, 1, 1, 1, None, None, None]
    assert result["batches"][0]["label"] == "phase 0, update domain 0"
    assert result["batches"][-1]["label"] == "no phase, update domain 2"
    # counts and ramps run inside a phase, never across two
    across = plan(fleet, 4, across_update_domains=True)
    assert [b["instance_ids"] for b in across["batches"]] == [["3", "4", "5"], ["0", "1", "2"], ["6", "7", "8"]]


def test_without_phases_labels_and_batches_are_unchanged():
    result = plan([inst(i, i % 2) for i in range(4)])
    assert [b["label"] for b in result["batches"]] == ["update domain 0", "update domain 1"]
    assert all("phase" not in b for b in result["batches"])
    assert not any("phases" in line for line in describe(result, "rg/web"))


def test_skip_upgrade_leaves_the_instance_out_with_the_reason_and_the_plan_says_so():
    fleet = [inst(0, 0, phase=1), inst(1, 0, phase=0, skip=True), inst(2, 1, phase=0),
             inst(3, 1, skip=True, latest=True)]
    result = plan(fleet)
    planned = [i for b in result["batches"] for i in b["instance_ids"]]
    assert planned == ["2", "0"]
    assert {"instance_id": "1", "reason": REASON_APP_SKIP} in result["excluded"]
    # an instance already current says so first, as before
    assert {"instance_id": "3", "reason": "already on the latest model"} in result["excluded"]
    lines = describe(result, "rg/web")
    assert "  Ordered by the phases the apps report (App Health custom metrics): phase 0, then phase 1." in lines
    assert "  Left out, %s: 1 instance(s): 1" % REASON_APP_SKIP in lines
    # re-upgrading current instances still honours the app's request
    forced = plan(fleet, include_current=True)
    assert {"instance_id": "3", "reason": REASON_APP_SKIP} in forced["excluded"]
