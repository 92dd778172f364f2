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
    # asked for three, it finds two: the batch's own unprotected one first, then another old one; never 1 or 2
    assert victims == ["0", "3"]


def test_old_instances_go_from_the_fullest_zones():
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


def test_zones_end_balanced_over_a_whole_surge_rollout_with_round_robin_placement():
    """Six instances over three zones, batches of two per zone, new instances placed round robin (as the emulator
    and Azure's zone balancing do): every batch leaves the zones at 2/2/2."""
    zones = ["1", "2", "3"]
    members = [inst(i, zone=zones[i % 3]) for i in range(6)]
    next_id, next_zone = 6, 0
    for batch in (["0", "3"], ["1", "4"], ["2", "5"]):
        step = surge.batch_step(members, batch, base=6)
        before = list(members)
        for _added in range(step["add"]):
            members.append(inst(next_id, latest=True, zone=zones[next_zone % 3]))
            next_id, next_zone = next_id + 1, next_zone + 1
        new = surge.new_instance_ids(before, members, 6)
        victims = surge.choose_victims(members, batch, new, step["replace"])
        members = [m for m in members if m["instance_id"] not in victims]
        assert sorted(m["zone"] for m in members) == ["1", "1", "2", "2", "3", "3"]
    assert surge.outdated_left(members) == []


def test_surge_is_refused_on_sets_it_cannot_roll_and_says_what_to_use_instead():
    assert surge.refusal("rg/web", "Uniform", "Manual") is None
    assert surge.refusal("rg/web", None, None) is None  # ARM's defaults: Uniform, Manual
    rolling = surge.refusal("rg/web", "Uniform", "Rolling", "image_rollout_")
    assert rolling.startswith("image_rollout_strategy: surge is for scale sets whose upgradePolicy mode is Manual; "
                              "rg/web's is Rolling")
    assert "vmss.rollout.vmss_instance_upgrade with strategy: platform" in rolling
    assert "rg/web's is Automatic" in surge.refusal("rg/web", "Uniform", "Automatic")
    assert "rg/web is a Flexible scale set" in surge.refusal("rg/web", "Flexible", "Manual")
