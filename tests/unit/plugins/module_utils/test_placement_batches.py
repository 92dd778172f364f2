"""Batches of Flexible members and plain VMs: by fault domain and zone, by availability-set update domain, by count."""
import pytest

from ansible_collections.vmss.rollout.plugins.module_utils._vmss import batches


def member(name, fd, zone=None, latest=False, kind="flexible_member", ud=None, protected=False):
    return {"instance_id": name, "name": name, "kind": kind, "fault_domain": fd, "zone": zone, "update_domain": ud,
            "latest_model_applied": latest, "protected": protected}


FLEX = [member("web_a", 0, "1"), member("web_b", 1, "1"), member("web_c", 0, "1"), member("web_d", 0, "2"),
        member("web_e", 1, "2", latest=True), member("web_f", 1, "2")]


def test_flexible_members_plan_by_fault_domain_inside_each_zone_never_by_missing_update_domains():
    planned = batches.plan(FLEX)
    assert [(b["zone"], b["domains"], b["instance_ids"]) for b in planned["batches"]] == [
        ("1", [0], ["web_a", "web_c"]), ("1", [1], ["web_b"]), ("2", [0], ["web_d"]), ("2", [1], ["web_f"])]
    assert [b["label"] for b in planned["batches"]] == [
        "zone 1, fault domain 0", "zone 1, fault domain 1", "zone 2, fault domain 0", "zone 2, fault domain 1"]
    assert all(b["placement_key"] == "fault_domain" and b["update_domains"] == [] for b in planned["batches"])
    assert planned["excluded"] == [{"instance_id": "web_e", "reason": batches.REASON_CURRENT}]
    assert [b["number"] for b in planned["batches"]] == [1, 2, 3, 4]


def test_counts_and_ramps_stay_inside_a_fault_domain_and_a_zone():
    planned = batches.plan_by_placement(FLEX, [1, "fault_domain"], "fault_domain")
    assert [b["instance_ids"] for b in planned["batches"]] == [["web_a"], ["web_c"], ["web_b"], ["web_d"], ["web_f"]]
    planned = batches.plan_by_placement(FLEX, 2, "zone")
    assert [(b["zone"], b["instance_ids"]) for b in planned["batches"]] == [
        ("1", ["web_a", "web_b"]), ("1", ["web_c"]), ("2", ["web_d", "web_f"])]
    assert planned["batches"][0]["label"] == "zone 1"


def test_plain_vms_by_availability_set_update_domain_zone_or_count():
    group = [member("app%d" % i, i % 2, None, kind="virtual_machine", ud=i % 3) for i in range(6)]
    by_ud = batches.plan_by_placement(group, "update_domain", "update_domain")
    assert [b["instance_ids"] for b in by_ud["batches"]] == [["app0", "app3"], ["app1", "app4"], ["app2", "app5"]]
    by_count = batches.plan_by_placement(group, 4, "none")
    assert [b["instance_ids"] for b in by_count["batches"]] == [["app0", "app1", "app2", "app3"], ["app4", "app5"]]
    assert by_count["batches"][0]["label"] == "no zone"
    by_zone = batches.plan_by_placement([member("z1", 0, "1", kind="virtual_machine"),
                                         member("z2", 0, "2", kind="virtual_machine")], "zone", "zone")
    assert [b["label"] for b in by_zone["batches"]] == ["zone 1", "zone 2"]


def test_a_bad_key_or_batch_is_one_clear_error():
    with pytest.raises(batches.BatchError, match="batch_by must be one of update_domain, fault_domain, zone, none"):
        batches.plan_by_placement(FLEX, 1, "rack")
    with pytest.raises(batches.BatchError, match="batch 'rack' is not allowed"):
        batches.plan_by_placement(FLEX, "rack", "fault_domain")


def test_uniform_instances_still_plan_by_update_domain():
    uniform = [{"instance_id": str(i), "update_domain": i % 2, "fault_domain": 0, "zone": None} for i in range(4)]
    assert [b["instance_ids"] for b in batches.plan(uniform)["batches"]] == [["0", "2"], ["1", "3"]]
