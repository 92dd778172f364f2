"""The surge plan (pure): what a batch adds, which old instances it deletes, protection, resume after a kill."""
from __future__ import annotations

from ansible_collections.vmss.rollout.plugins.module_utils._vmss import surge


def inst(i, latest=False, zone=None, scale_in=False, protected=False):
    return {"instance_id": str(i), "latest_model_applied": latest, "zone": zone,
            "protected_from_scale_in": scale_in, "protected": protected}


def test_a_batch_adds_as_many_as_it_replaces():
    members = [inst(i) for i in range(5)]
    step = surge.batch_step(members, ["0", "1"], base=5)
    assert step == {"add": 2, "replace": 2, "in_place": [], "reported": []}


def test_a_killed_batch_is_not_added_twice():
    # a killed run scaled out by 2 (ids 5, 6 on the new model) and deleted nothing: the rerun adds nothing
    members = [inst(i) for i in range(5)] + [inst(5, latest=True), inst(6, latest=True)]
    step = surge.batch_step(members, ["0", "1"], base=5)
    assert step["add"] == 0 and step["replace"] == 2
    assert surge.new_instance_ids(members, members, 5) == ["5", "6"]


def test_new_instances_are_those_created_since_the_read_before():
    before = [inst(i) for i in range(3)]
    after = before + [inst(7, latest=True), inst(8, latest=True)]
    assert surge.new_instance_ids(before, after, 3) == ["7", "8"]


def test_protected_instances_are_never_deleted_but_reported_or_upgraded_in_place():
    members = [inst(0), inst(1, scale_in=True), inst(2, protected=True), inst(3)]
    reported = surge.batch_step(members, ["0", "1", "2"], base=4, protected_mode="report")
    assert reported["add"] == 1 and reported["replace"] == 1 and reported["in_place"] == []
    assert [r["instance_id"] for r in reported["reported"]] == ["1", "2"]
    in_place = surge.batch_step(members, ["0", "1", "2"], base=4, protected_mode="upgrade_in_place")
    # protected from scale-set actions: Azure refuses an upgrade too, so it is only reported
    assert in_place["in_place"] == ["1"] and [r["instance_id"] for r in in_place["reported"]] == ["2"]
    victims = surge.choose_victims(members + [inst(9, latest=True)], ["0", "1", "2"], ["9"], 3)
    assert victims == ["0"]  # only the batch's own unprotected one: 3 is another batch's, in no new one's zone


def test_old_instances_go_in_the_zones_the_new_ones_landed_in():
    members = [inst(0, zone="1"), inst(1, zone="2"), inst(2, zone="3"), inst(3, zone="1"), inst(4, zone="2"),
               inst(5, zone="3"), inst(6, latest=True, zone="2"), inst(7, latest=True, zone="3")]
    # batch = zone 1 (0 and 3); the new ones landed in zones 2 and 3: the old ones of those zones go
    assert surge.choose_victims(members, ["0", "3"], ["6", "7"], 2) == ["1", "2"]


def test_a_later_batch_replaces_what_an_earlier_one_left():
    # batch 1 deleted 1 and 2 (other zones); batch 2 planned [1, 4]: 1 is gone, it still replaces two old ones
    members = [inst(0, zone="1"), inst(3, zone="1"), inst(4, zone="2"), inst(5, zone="3"),
               inst(6, latest=True, zone="2"), inst(7, latest=True, zone="3")]
    step = surge.batch_step(members, ["1", "4"], base=6)
    assert step["replace"] == 2 and step["add"] == 2


def test_without_zones_the_batch_own_instances_go():
    members = [inst(i) for i in range(4)] + [inst(8, latest=True), inst(9, latest=True)]
    assert surge.choose_victims(members, ["2", "3"], ["8", "9"], 2) == ["2", "3"]


def test_base_capacity_comes_from_the_tag_of_an_interrupted_rollout():
    members = [inst(i) for i in range(7)]
    assert surge.base_capacity({surge.BASE_TAG: "5"}, members) == 5
    assert surge.base_capacity({}, members) == 7
    assert surge.base_capacity({surge.BASE_TAG: "junk"}, members) == 7


def test_outdated_left_counts_only_deletable_old_instances():
    members = [inst(0), inst(1, latest=True), inst(2, scale_in=True)]
    assert surge.outdated_left(members) == ["0"]
