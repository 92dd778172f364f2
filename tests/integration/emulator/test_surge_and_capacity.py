"""Scale-out on the latest model, instance deletion and the scale_out_fails fault, through the real SDK."""
from __future__ import annotations

from collections import Counter

import time

import pytest
from azure.core.exceptions import HttpResponseError
from emu_sdk import IMAGE, web_scenario

RG = "rg-demo"


def fleet(emu):
    return {row["instance_id"]: row for row in emu.instances(RG, "web")}


def new_image(compute):
    compute.virtual_machine_scale_sets.begin_update(RG, "web", {"properties": {"virtualMachineProfile": {
        "storageProfile": {"imageReference": dict(IMAGE, version="2.0.0")}}}}).result()


def scale_to(compute, capacity):
    return compute.virtual_machine_scale_sets.begin_update(RG, "web", {"sku": {"capacity": capacity}}).result()


def test_scale_out_creates_instances_on_the_latest_model_and_delete_removes_exactly_those_named(emu, compute):
    emu.load_scenario(web_scenario(capacity=3))
    new_image(compute)
    emu.clear_events()

    scaled = scale_to(compute, 5)

    assert scaled.sku.capacity == 5
    rows = fleet(emu)
    # the old instances keep their model; the new ones (ids after the highest) run the latest
    versions = {i: r["image_version"] for i, r in rows.items()}
    assert versions == {"0": "1.0.0", "1": "1.0.0", "2": "1.0.0", "3": "2.0.0", "4": "2.0.0"}
    assert rows["3"]["latest_model_applied"] and not rows["0"]["latest_model_applied"]
    created = [e["instance_id"] for e in emu.events("instance_upgrade_start") if e["operation"] == "create"]
    assert sorted(created) == ["3", "4"]

    compute.virtual_machine_scale_sets.begin_delete_instances(RG, "web", {"instanceIds": ["0", "2"]}).result()

    assert sorted(fleet(emu)) == ["1", "3", "4"]
    assert compute.virtual_machine_scale_sets.get(RG, "web").sku.capacity == 3
    listed = [vm.instance_id for vm in compute.virtual_machine_scale_set_vms.list(RG, "web")]
    assert sorted(listed) == ["1", "3", "4"]


def test_zonal_scale_out_fills_the_zones_that_lost_instances(emu, compute):
    emu.load_scenario(web_scenario(capacity=6, zones=["1", "2", "3"]))
    assert Counter(r["zone"] for r in fleet(emu).values()) == {"1": 2, "2": 2, "3": 2}
    # zone 1 loses both its instances (0 and 3): the next two go there, whatever round robin would say
    compute.virtual_machine_scale_sets.begin_delete_instances(RG, "web", {"instanceIds": ["0", "3"]}).result()

    scale_to(compute, 6)

    rows = fleet(emu)
    assert {rows["6"]["zone"], rows["7"]["zone"]} == {"1"}
    # balanced zones: the next one goes round robin, to the zone that got an instance least recently
    scale_to(compute, 7)
    assert fleet(emu)["8"]["zone"] == "2"


def test_protected_instances_cannot_be_deleted(emu, compute):
    emu.load_scenario(web_scenario(capacity=3, protected_instances=["1"]))
    with pytest.raises(HttpResponseError) as err:
        compute.virtual_machine_scale_sets.begin_delete_instances(RG, "web", {"instanceIds": ["0", "1"]})
    assert err.value.status_code == 409
    assert sorted(fleet(emu)) == ["0", "1", "2"]


def test_quota_exceeded_refuses_the_write_and_changes_nothing(emu, compute):
    emu.load_scenario(web_scenario(capacity=3))
    emu.set_faults([{"kind": "scale_out_fails", "code": "QuotaExceeded", "count": 1}])
    etag = compute.virtual_machine_scale_sets.get(RG, "web").etag

    with pytest.raises(HttpResponseError) as err:
        compute.virtual_machine_scale_sets.begin_update(RG, "web", {"sku": {"capacity": 5}})

    assert err.value.status_code == 409 and err.value.error.code == "QuotaExceeded"
    after = compute.virtual_machine_scale_sets.get(RG, "web")
    assert after.sku.capacity == 3 and after.etag == etag
    assert sorted(fleet(emu)) == ["0", "1", "2"]
    fired = emu.events("fault_fired")
    assert [e["kind"] for e in fired] == ["scale_out_fails"]
    # a write that does not add instances is not refused, and the rule fired its one time
    scale_to(compute, 2)
    assert scale_to(compute, 4).sku.capacity == 4


def test_allocation_failed_fails_the_operation_and_creates_nothing(emu, compute):
    emu.load_scenario(web_scenario(capacity=2))
    emu.set_faults([{"kind": "scale_out_fails", "code": "AllocationFailed"}])
    poller = compute.virtual_machine_scale_sets.begin_update(RG, "web", {"sku": {"capacity": 4}})

    with pytest.raises(HttpResponseError) as err:
        poller.result()

    assert "AllocationFailed" in str(err.value)
    assert sorted(fleet(emu)) == ["0", "1"]
    assert compute.virtual_machine_scale_sets.get(RG, "web").sku.capacity == 2


def test_bad_scale_out_fault_rules_name_the_option(emu):
    from vmss_emulator.testing import EmulatorError
    with pytest.raises(EmulatorError, match="'code' must be one of QuotaExceeded, AllocationFailed"):
        emu.set_faults([{"kind": "scale_out_fails", "code": "Nope"}])
    with pytest.raises(EmulatorError, match="'match' is not allowed"):
        emu.set_faults([{"kind": "scale_out_fails", "match": {"method": "PATCH"}}])


def test_rolling_upgrade_with_max_surge_creates_new_instances_before_deleting_old_ones(emu, compute):
    """rollingUpgradePolicy.maxSurge: every batch's new instances are created (on the new model) before its old
    instances go; no instance is upgraded in place; the set ends at its capacity."""
    emu.load_scenario(web_scenario(capacity=4, upgrade_policy={"mode": "Rolling", "rollingUpgradePolicy": {
        "maxSurge": True, "maxBatchInstancePercent": 50}}))
    emu.clear_events()

    new_image(compute)   # Rolling policy: the platform rolls the new model out by itself
    deadline = time.monotonic() + 60
    while compute.virtual_machine_scale_set_rolling_upgrades.get_latest(RG, "web").running_status.code != "Completed":
        assert time.monotonic() < deadline, "the MaxSurge rolling upgrade never completed"
        time.sleep(0.1)

    rows = fleet(emu)
    assert len(rows) == 4 and {r["image_version"] for r in rows.values()} == {"2.0.0"}
    assert not set(rows) & {"0", "1", "2", "3"}
    starts = emu.events("instance_upgrade_start")
    assert {e["operation"] for e in starts} == {"create"}
    # each old instance was still there when its replacement's creation started
    batches = emu.events("rolling_batch")
    assert sorted(i for b in batches for i in b["instance_ids"]) == ["0", "1", "2", "3"]
