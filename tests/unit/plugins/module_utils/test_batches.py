"""Batch planning: update-domain order, counts, percentages, ramps, zones never mixed, exclusions."""
import pytest

from ansible_collections.vmss.rollout.plugins.module_utils._vmss.batches import BatchError, describe, plan, \
    selection_errors


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


def test_counts_never_cross_update_domains():
    assert ids(plan(regional(10), 3)) == [["0", "5"], ["1", "6"], ["2", "7"], ["3", "8"], ["4", "9"]]
    assert ids(plan(regional(15), 2)) == [["0", "5"], ["10"], ["1", "6"], ["11"], ["2", "7"], ["12"], ["3", "8"],
                                          ["13"], ["4", "9"], ["14"]]
    for batch in plan(regional(15), 2)["batches"]:
        assert len(batch["update_domains"]) == 1


def test_counts_cross_update_domains_only_when_asked():
    assert ids(plan(regional(10), 3, across_update_domains=True)) == [
        ["0", "5", "1"], ["6", "2", "7"], ["3", "8", "4"], ["9"]]


def test_percentage_is_of_the_update_domain_rounded_down_at_least_one():
    # 50 % of an update domain of 4 = 2 per batch, never 50 % of the whole set (10 instances) in one batch
    instances = regional(20)
    assert ids(plan(instances, "50%"))[:3] == [["0", "5"], ["10", "15"], ["1", "6"]]
    # 10 % of 4 = 0.4 -> 1
    assert len(plan(instances, "10%")["batches"]) == 20
    # excluded instances still count towards the update domain's size
    for i in instances[:10]:
        i["latest_model_applied"] = True
    assert ids(plan(instances, "50%"))[:2] == [["10", "15"], ["11", "16"]]


def test_percentage_of_the_whole_set_when_crossing_is_asked():
    assert ids(plan(regional(10), "20%", across_update_domains=True))[:2] == [["0", "5"], ["1", "6"]]
    assert ids(plan(regional(10), "40%", across_update_domains=True))[0] == ["0", "5", "1", "6"]


def test_ramp_last_size_repeats_inside_each_update_domain():
    result = plan([inst(i, i % 3) for i in range(15)], [1, 2, 5])
    assert ids(result) == [["0"], ["3", "6"], ["9", "12"], ["1", "4", "7", "10", "13"], ["2", "5", "8", "11", "14"]]


def test_canary_then_update_domain_by_update_domain():
    result = plan(regional(15), [1, "update_domain"])
    assert ids(result) == [["0"], ["5", "10"], ["1", "6", "11"], ["2", "7", "12"], ["3", "8", "13"],
                           ["4", "9", "14"]]
    assert [b["label"] for b in result["batches"][:2]] == ["update domain 0", "update domain 0"]


def test_update_domains_instance_ids_and_max_batches_pick_part_of_the_set():
    result = plan(regional(10), update_domains=[0, 2])
    assert ids(result) == [["0", "5"], ["2", "7"]]
    assert {e["reason"] for e in result["excluded"]} == {"not in the update_domains asked for (0, 2)"}
    assert ids(plan(regional(10), instance_ids=["6", "1", "9"])) == [["1", "6"], ["9"]]
    result = plan(regional(10), [1, "update_domain"], max_batches=2)
    assert ids(result) == [["0"], ["5"]]
    assert [h["instance_id"] for h in result["held_back"]] == ["1", "6", "2", "7", "3", "8", "4", "9"]
    assert result["held_back"][0]["reason"] == "left for a later run (max_batches: 2)"


def test_the_rollout_plan_filter_names_max_batches_as_the_user_spelled_it():
    from ansible_collections.vmss.rollout.plugins.filter.rollout_plan import rollout_plan
    result = rollout_plan(regional(10), [1, "update_domain"], max_batches=2, option_prefix="image_rollout_")
    assert [g["reason"] for g in result["excluded_by_reason"]] == ["left for a later run (image_rollout_max_batches: 2)"]
    assert any("image_rollout_max_batches: 2" in line for line in result["lines"]), result["lines"]


def test_describe_groups_the_exclusions_by_reason():
    instances = regional(6)
    for i in instances[1:]:
        i["latest_model_applied"] = True
    instances[5]["protected"] = True
    lines = describe(plan(instances), "rg/web")
    assert lines == ["Plan for rg/web: 1 batch(es), 1 instance(s).",
                     "  Batch 1/1: update domain 0 — instances 0",
                     "  Left out, protected from scale-set actions: 1 instance(s): 5",
                     "  Left out, already on the latest model: 4 instance(s): 1, 2, 3, 4"]


def test_zones_never_mixed_and_walked_zone_by_zone():
    instances = [inst(i, (i // 3) % 5, zone=str(i % 3 + 1)) for i in range(9)]
    for size in ("update_domain", 2, 4, "50%", [1, 10], [1, "update_domain"]):
        for batch in plan(instances, size, across_update_domains=True)["batches"] + plan(instances, size)["batches"]:
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


@pytest.mark.parametrize("bad", [0, -1, "0%", "150%", "abc", [], True, ["10%", "x"], 1.5, [1, "update_domains"]])
def test_invalid_batch_names_the_option(bad):
    with pytest.raises(BatchError, match="batch"):
        plan(regional(5), bad)


def test_the_batch_check_accepts_a_canary_then_update_domains_and_says_so():
    from ansible_collections.vmss.rollout.plugins.module_utils._vmss.rollout_options import option_errors
    assert option_errors({"batch": [1, "update_domain"]}) == []
    (message,) = option_errors({"batch": [1, "update_domains"]}, "image_rollout_")
    assert message.startswith('image_rollout_batch must be "update_domain"') and '[1, "update_domain"]' in message


def test_selection_errors_name_what_the_set_does_not_have_under_the_users_option():
    instances = regional(6)
    assert selection_errors(instances, update_domains=[0, "1"], instance_ids=["3", "5"]) == []
    assert selection_errors(instances, update_domains=[1, 7, 7], instance_ids=["3", "42", "03"], prefix="my_",
                            scale_set="rg/web") == [
        "my_instance_ids 42, 03 do not exist in scale set rg/web (instances: 0, 5, 1, 2, 3, 4).",
        "my_update_domains 7 match no instance of scale set rg/web (its update domains: 0, 1, 2, 3, 4)."]
    # a Flexible set's members have no update domain: any update domain asked for is one it does not have
    members = [{"instance_id": "api_1a2b", "update_domain": None, "fault_domain": 0}]
    assert selection_errors(members, update_domains=[0], instance_ids=["api_1a2b"]) == [
        "update_domains 0 match no instance of the scale set (its update domains: none)."]
