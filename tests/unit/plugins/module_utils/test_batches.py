"""Batch planning: update-domain order, counts, percentages, ramps, zones never mixed, exclusions."""
import pytest

from ansible_collections.vmss.rollout.plugins.module_utils._vmss.batches import BatchError, plan


def inst(i, ud, zone=None, latest=False, protected=False):
    return {"instance_id": str(i), "update_domain": ud, "zone": zone, "latest_model_applied": latest,
            "protected": protected}


def regional(n=10):
    return [inst(i, i % 5) for i in range(n)]


def ids(result):
    return [b["instance_ids"] for b in result["batches"]]


def test_default_is_one_batch_per_update_domain_in_order():
    result = plan(regional(10))
    assert ids(result) == [["0", "5"], ["1", "6"], ["2", "7"], ["3", "8"], ["4", "9"]]
    assert [b["update_domains"] for b in result["batches"]] == [[0], [1], [2], [3], [4]]
    assert [b["number"] for b in result["batches"]] == [1, 2, 3, 4, 5]
    assert result["batches"][1]["label"] == "update domain 1"


def test_count_batches_follow_update_domain_order():
    assert ids(plan(regional(10), 3)) == [["0", "5", "1"], ["6", "2", "7"], ["3", "8", "4"], ["9"]]


def test_percentage_is_of_the_whole_set_rounded_down_at_least_one():
    # 20 % of 10 = 2 per batch
    assert ids(plan(regional(10), "20%"))[0] == ["0", "5"]
    # 5 % of 10 = 0.5 -> 1
    assert len(plan(regional(10), "5%")["batches"]) == 10
    # excluded instances still count towards the set size
    instances = regional(10)
    for i in instances[:6]:
        i["latest_model_applied"] = True
    assert ids(plan(instances, "20%")) == [["6", "7"], ["8", "9"]]


def test_ramp_last_size_repeats():
    result = plan(regional(15), [1, "20%", 5])
    assert [len(b) for b in ids(result)] == [1, 3, 5, 5, 1]


def test_zones_never_mixed_and_walked_zone_by_zone():
    instances = [inst(i, (i // 3) % 5, zone=str(i % 3 + 1)) for i in range(9)]
    for size in ("update_domain", 2, 4, "50%", [1, 10]):
        for batch in plan(instances, size)["batches"]:
            zones = {i["zone"] for i in instances if i["instance_id"] in batch["instance_ids"]}
            assert len(zones) == 1, (size, batch)
    result = plan(instances)
    assert [b["zone"] for b in result["batches"]] == ["1", "1", "1", "2", "2", "2", "3", "3", "3"]
    assert result["batches"][0]["label"] == "zone 1, update domain 0"


def test_protected_and_current_excluded_and_reported():
    instances = regional(5)
    instances[1]["protected"] = True
    instances[2]["latest_model_applied"] = True
    result = plan(instances)
    assert ids(result) == [["0"], ["3"], ["4"]]
    assert result["excluded"] == [
        {"instance_id": "1", "reason": "protected from scale-set actions"},
        {"instance_id": "2", "reason": "already on the latest model"},
    ]
    assert ids(plan(instances, include_current=True)) == [["0"], ["2"], ["3"], ["4"]]


def test_numeric_id_order_inside_a_domain():
    instances = [inst(i, 0) for i in (12, 2, 7)]
    assert ids(plan(instances)) == [["2", "7", "12"]]


@pytest.mark.parametrize("bad", [0, -1, "0%", "150%", "abc", [], True, ["10%", "x"], 1.5])
def test_invalid_batch_names_the_option(bad):
    with pytest.raises(BatchError, match="batch"):
        plan(regional(5), bad)
