"""The batch loop of vmss_rollout_batches with fake side effects: order of steps, thresholds, messages."""
import pytest

from ansible_collections.vmss.rollout.plugins.plugin_utils import rollout

OPTIONS = {"max_unhealthy_percent": 20.0, "max_unhealthy_upgraded_percent": 20.0, "drain": True, "drain_seconds": 5,
           "http_check": True, "bake_seconds": 0, "pause_seconds": 0}


def summary(instance_id, health="healthy", zone=None, latest=False):
    return {"instance_id": instance_id, "health_state": health, "zone": zone, "latest_model_applied": latest,
            "provisioning_state": "Succeeded", "private_ip": "10.0.0.%s" % instance_id}


class FakeAzure:
    """Instances 0-5 in update domains id % 3; upgrades make them 'healthy' unless listed in sick."""

    def __init__(self, sick=(), http_sick=(), fail_call=False, ids=6):
        self.view = dict((str(i), summary(str(i))) for i in range(ids))
        self.sick, self.http_sick, self.fail_call = set(sick), set(http_sick), fail_call
        self.steps = []
        self.views = []

    def read(self):
        self.steps.append(("read",))
        return [dict(s) for s in self.view.values()]

    def settle(self, ids):
        """The instances ``ids`` finish the upgrade an earlier run started."""
        self.steps.append(("settle", list(ids)))
        for i in ids:
            self.view[i].update(provisioning_state="Succeeded", latest_model_applied=True, health_state="healthy")
        return self.read()

    def drain(self, members):
        self.steps.append(("drain", [m["instance_id"] for m in members]))

    def upgrade(self, ids, delay, view):
        self.steps.append(("upgrade", list(ids), delay))
        self.views.append(view)
        if self.fail_call:
            return {"msg": "Could not sign in: AADSTS7000215 (request id r-1)"}
        for i in ids:
            self.view[i].update(latest_model_applied=True, health_state="unhealthy" if i in self.sick else "healthy")
        instances = [dict(self.view[i], outcome="upgraded", reason=None) for i in ids]
        return {"instances": instances, "scale_set_instances": self.read()}

    def http_check(self, instances):
        self.steps.append(("http", [i["instance_id"] for i in instances]))
        return [i["instance_id"] for i in instances if i["instance_id"] in self.http_sick]


PLAN = [{"label": "update domain %d" % d, "instance_ids": [str(d), str(d + 3)]} for d in range(3)]


def run(azure, options=None, plan=None, only=None, state=None, current="initial"):
    said, slept = [], []
    addressed = azure.read()
    state = state or rollout.new_state()
    rollout.run_batches(azure, dict(OPTIONS, **(options or {})), plan or PLAN, addressed,
                        addressed if current == "initial" else current, state, said.append, slept.append, only=only)
    return state, said, slept


def test_healthy_rollout_drains_upgrades_checks_each_batch_in_order():
    azure = FakeAzure()
    state, said, slept = run(azure)
    assert state["breach"] == "" and state["upgraded"] == ["0", "3", "1", "4", "2", "5"]
    assert [s for s in azure.steps if s[0] != "read"] == [
        ("drain", ["0", "3"]), ("upgrade", ["0", "3"], 5), ("http", ["0", "3"]),
        ("drain", ["1", "4"]), ("upgrade", ["1", "4"], 5), ("http", ["1", "4"]),
        ("drain", ["2", "5"]), ("upgrade", ["2", "5"], 5), ("http", ["2", "5"])]
    assert said[:3] == ["Batch 1/3: update domain 0 — instances 0, 3",
                        "Batch 1/3 health: instance 0 healthy, instance 3 healthy",
                        "Batch 1/3 HTTP check: every upgraded instance answered 200."]
    assert [b["batch"] for b in state["batches_done"]] == [1, 2, 3] and slept == []
    # each batch picks its instances from the read taken when the previous one settled: no read of its own
    assert [sorted(s["instance_id"] for s in v if s["latest_model_applied"]) for v in azure.views] == [
        [], ["0", "3"], ["0", "1", "3", "4"]]
    assert state["last_batch"]["label"].startswith("Batch 3/3")


def test_unhealthy_batch_stops_before_the_next_with_the_threshold_sentence():
    azure = FakeAzure(sick={"0"})
    state, said, _slept = run(azure)
    assert state["breach"] == ("1 of 2 upgraded instances (50.0%) are unhealthy after batch 1/3, above "
                               "rolling_upgrade_max_unhealthy_upgraded_percent=20 (instances 0).")
    assert [s[1] for s in azure.steps if s[0] == "upgrade"] == [["0", "3"]]
    assert state["batches_done"][0]["unhealthy"] == ["0"]


def test_http_failures_count_as_unhealthy():
    azure = FakeAzure(http_sick={"3"})
    state, said, _slept = run(azure)
    assert "no 200 from instance(s) 3, which count as unhealthy" in said[2]
    assert state["http_failed"] == ["3"] and "(instances 3)" in state["breach"]


def test_whole_set_check_before_the_second_batch():
    azure = FakeAzure()
    first_upgrade = azure.upgrade

    def upgrade_while_two_others_sicken(ids, delay, view):
        azure.view["2"]["health_state"] = "unknown"
        azure.view["5"]["health_state"] = "unhealthy"
        return first_upgrade(ids, delay, view)

    azure.upgrade = upgrade_while_two_others_sicken
    state, _said, _slept = run(azure, {"max_unhealthy_upgraded_percent": 100})
    assert state["breach"] == ("2 of 6 instances (33.3%) were unhealthy before batch 2, above "
                               "rolling_upgrade_max_unhealthy_percent=20 (instances 2, 5).")
    assert [s[1] for s in azure.steps if s[0] == "upgrade"] == [["0", "3"]]


def test_whole_set_check_before_starting_touches_nothing():
    azure = FakeAzure()
    azure.view["4"]["health_state"] = "unhealthy"
    azure.view["5"]["provisioning_state"] = "Failed"
    state, said, _slept = run(azure)
    assert state["breach"] == ("2 of 6 instances (33.3%) were unhealthy before starting, above "
                               "rolling_upgrade_max_unhealthy_percent=20 (instances 4, 5).")
    assert [s for s in azure.steps if s[0] != "read"] == [] and said == []


def test_planned_instances_still_updating_are_waited_for_not_counted_unhealthy():
    azure = FakeAzure()
    for i in ("1", "4"):   # a killed run's batch still in flight: unknown health while Updating
        azure.view[i].update(provisioning_state="Updating", health_state="unknown")
    state, said, _slept = run(azure)
    assert state["breach"] == ""
    assert said[0] == "Waiting for instances 1, 4 to finish updating (an earlier upgrade) before starting."
    assert [s for s in azure.steps if s[0] not in ("read", "drain", "http")][:2] == [
        ("settle", ["1", "4"]), ("upgrade", ["0", "3"], 5)]
    # the second batch chooses from the settled read, where 1 and 4 are on the latest model already
    assert sorted(s["instance_id"] for s in azure.views[1] if s["latest_model_applied"]) == ["0", "1", "3", "4"]


def test_instances_updating_outside_the_plan_are_judged_not_waited_for():
    azure = FakeAzure()
    azure.view["2"].update(provisioning_state="Updating", health_state="unknown")
    state, _said, _slept = run(azure, plan=PLAN[:2])
    assert "settle" not in [s[0] for s in azure.steps]
    assert state["breach"] == "" and state["upgraded"] == ["0", "3", "1", "4"]


def test_a_call_that_reports_no_instance_stops_the_rollout_with_its_message():
    azure = FakeAzure(fail_call=True)
    state, said, _slept = run(azure)
    assert state["breach"] == ("the upgrade call for Batch 1/3: update domain 0 — instances 0, 3 failed: "
                               "Could not sign in: AADSTS7000215 (request id r-1)")
    assert state["batches_done"] == [] and len(said) == 1


class TimingOut(FakeAzure):
    """The upgrade call of the first batch outlives wait_timeout: instance 0 is still updating, 3 is done."""

    def upgrade(self, ids, delay, view):
        self.steps.append(("upgrade", list(ids), delay))
        self.view["0"].update(provisioning_state="Updating", health_state="unknown")
        self.view["3"].update(latest_model_applied=True)
        return {"msg": "Timed out after 3s waiting for upgrade instances 0, 3.", "upgrade_call": "timed_out",
                "instances": [dict(self.view["0"], outcome="failed", reason="still updating"),
                              dict(self.view["3"], outcome="upgraded", reason=None)],
                "scale_set_instances": self.read()}


def test_a_timed_out_upgrade_call_stops_the_rollout_before_any_later_batch():
    """No batch starts while an instance of an earlier batch is still updating: a timed-out batch is a breach,
    even when its failed share (1 of 2 here, with a 50% threshold) would not be one."""
    azure = TimingOut()
    state, _said, _slept = run(azure, options={"max_unhealthy_upgraded_percent": 50.0})
    assert [s[1] for s in azure.steps if s[0] == "upgrade"] == [["0", "3"]]
    assert state["breach"] == ("the upgrade call for batch 1/3 did not finish in time: "
                               "Timed out after 3s waiting for upgrade instances 0, 3.")
    assert state["upgraded"] == ["3"] and state["failed"] == [{"instance_id": "0", "reason": "still updating"}]


def test_the_finished_instances_of_a_timed_out_batch_are_judged_before_the_rollout_stops():
    """Instance 3 finished, 0 is still updating: 3 gets its health line and HTTP check, the batch is recorded as
    done and judged; no bake, no pause and no later batch."""
    azure = TimingOut(http_sick=["3"])
    state, said, slept = run(azure, options={"max_unhealthy_upgraded_percent": 50.0, "bake_seconds": 5,
                                             "pause_seconds": 5})
    assert [s[0] for s in azure.steps if s[0] != "read"] == ["drain", "upgrade", "http"]
    assert ("http", ["3"]) in azure.steps and slept == []
    assert said[1:] == ["Batch 1/3 health: instance 0 unknown (failed), instance 3 healthy",
                        "Batch 1/3 HTTP check: no 200 from instance(s) 3, which count as unhealthy."]
    assert state["batches_done"] == [{"batch": 1, "label": "Batch 1/3: update domain 0 — instances 0, 3",
                                      "instance_ids": ["0", "3"], "unhealthy": ["3", "0"]}]
    # the timeout stays the reason, and the threshold over the batch is said too (2 of 2 unhealthy)
    assert state["breach"].startswith("the upgrade call for batch 1/3 did not finish in time: ")
    assert "2 of 2 upgraded instances (100.0%) are unhealthy after batch 1/3" in state["breach"]


def test_an_earlier_batchs_instance_still_updating_is_waited_for_before_the_next_batch():
    """One batch at a time (health tasks between batches): batch 2 finds instance 0 of batch 1 still updating and
    waits for it before it judges the set or sends its own upgrade call."""
    azure = FakeAzure()
    state = rollout.new_state()
    run(azure, only=0, state=state)
    azure.view["0"].update(provisioning_state="Updating", health_state="unknown")
    _state, said, _slept = run(azure, only=1, state=state, current=None)
    assert said[0] == "Waiting for instances 0 to finish updating (an earlier upgrade) before batch 2."
    steps = [s[0] for s in azure.steps if s[0] in ("settle", "upgrade")]
    assert steps == ["upgrade", "settle", "upgrade"]


class NotStarted(FakeAzure):
    """The first batch's upgrade call is lost before Azure starts it: its instances come back skipped."""

    def upgrade(self, ids, delay, view):
        self.steps.append(("upgrade", list(ids), delay))
        return {"msg": "Could not upgrade instances 0, 3: cannot reach the endpoint.", "upgrade_call": "not_started",
                "instances": [dict(self.view[i], outcome="skipped", reason="not upgraded") for i in ids],
                "scale_set_instances": self.read()}


def test_an_upgrade_call_that_never_started_stops_the_rollout_and_reports_nothing_failed():
    azure = NotStarted()
    state, _said, _slept = run(azure)
    assert [s[1] for s in azure.steps if s[0] == "upgrade"] == [["0", "3"]]
    assert state["breach"] == ("the upgrade call for batch 1/3 failed before Azure started it: "
                               "Could not upgrade instances 0, 3: cannot reach the endpoint.")
    assert state["upgraded"] == [] and state["failed"] == []
    assert [s["instance_id"] for s in state["skipped"]] == ["0", "3"]


def test_two_zones_in_one_batch_are_refused_before_anything_happens():
    azure = FakeAzure()
    azure.view["3"]["zone"] = "2"
    with pytest.raises(rollout.TwoZonesError, match="Refusing to upgrade two zones at once: Batch 1/3"):
        run(azure)
    assert [s for s in azure.steps if s[0] != "read"] == []


def test_bake_and_pause_wait_then_read_again_and_no_drain_means_no_delay():
    azure = FakeAzure()
    state, _said, slept = run(azure, {"bake_seconds": 7, "pause_seconds": 3, "drain": False, "http_check": False})
    assert slept == [7, 3, 7, 3]  # no pause after the last batch, and no bake unless asked
    assert [s[2] for s in azure.steps if s[0] == "upgrade"] == [0, 0, 0]
    assert not [s for s in azure.steps if s[0] in ("drain", "http")] and state["breach"] == ""


def test_one_batch_at_a_time_goes_on_from_the_tally_and_reads_before_judging_the_set():
    azure = FakeAzure()
    state, _said, _slept = run(azure, only=0)
    assert state["upgraded"] == ["0", "3"] and len(state["batches_done"]) == 1
    reads_before = len([s for s in azure.steps if s[0] == "read"])
    state, _said, _slept = run(azure, only=1, state=state, current=None)
    assert state["upgraded"] == ["0", "3", "1", "4"] and [b["batch"] for b in state["batches_done"]] == [1, 2]
    assert len([s for s in azure.steps if s[0] == "read"]) > reads_before + 1  # the caller's read + its own


def test_a_breach_in_the_tally_runs_nothing():
    azure = FakeAzure()
    state = dict(rollout.new_state(), breach="the health tasks in checks.yml failed")
    run(azure, only=1, state=state, current=None)
    assert [s for s in azure.steps if s[0] not in ("read",)] == []


def test_the_last_batch_bakes_only_when_asked():
    azure = FakeAzure()
    _state, _said, slept = run(azure, {"bake_seconds": 7, "bake_after_last_batch": True, "drain": False})
    assert slept == [7, 7, 7]


def test_long_waits_say_so_at_the_start_and_every_ten_seconds():
    azure = FakeAzure()
    _state, said, slept = run(azure, {"bake_seconds": 25, "pause_seconds": 12, "drain": False, "http_check": False,
                                      "scale_set": "rg/web"}, plan=PLAN[:2])
    assert slept == [10, 10, 5, 10, 2]
    waits = [line for line in said if "Baking" in line or "Pausing" in line]
    assert waits == ["rg/web: Baking batch 1/2: 25 s.", "rg/web: Baking batch 1/2: 15 s left.",
                     "rg/web: Baking batch 1/2: 5 s left.", "rg/web: Pausing before batch 2: 12 s.",
                     "rg/web: Pausing before batch 2: 2 s left."]


def test_every_live_line_names_the_scale_set():
    azure = FakeAzure()
    _state, said, _slept = run(azure, {"scale_set": "rg-a/web"})
    assert said and all(line.startswith("rg-a/web: ") for line in said), said


def test_breach_messages_name_the_callers_options():
    state, _said, _slept = run(FakeAzure(sick={"0", "3"}), {"option_prefix": "image_rollout_"})
    assert "above image_rollout_max_unhealthy_upgraded_percent=20" in state["breach"]
    assert "rolling_upgrade_" not in state["breach"]
    azure = FakeAzure()
    for i in ("0", "1", "2"):
        azure.view[i]["health_state"] = "unhealthy"
    state, _said, _slept = run(azure, {"option_prefix": "extension_rollout_"})
    assert "above extension_rollout_max_unhealthy_percent=20" in state["breach"]


def test_the_http_check_skips_instances_app_health_already_reports_unhealthy():
    """Instance 3 settles unhealthy in App Health: it already counts as unhealthy, so the HTTP check asks only 0
    (no retries spent on an answer already known: the breach is found sooner) and says why 3 was not asked."""
    azure = FakeAzure(sick=["3"])
    state, said, _slept = run(azure)
    assert [s for s in azure.steps if s[0] == "http"] == [("http", ["0"])]
    assert said[2] == ("Batch 1/3 HTTP check: every other upgraded instance answered 200. Not checked, App Health "
                       "already reports them unhealthy: instance(s) 3.")
    assert state["batches_done"][0]["unhealthy"] == ["3"]
    assert "1 of 2 upgraded instances (50.0%) are unhealthy after batch 1/3" in state["breach"]
    assert [s[1] for s in azure.steps if s[0] == "upgrade"] == [["0", "3"]]


def test_no_http_request_when_app_health_reports_the_whole_batch_unhealthy():
    azure = FakeAzure(sick=["0", "3"], http_sick=["0"])
    state, said, _slept = run(azure)
    assert not [s for s in azure.steps if s[0] == "http"]
    assert said[2].endswith("Not checked, App Health already reports them unhealthy: instance(s) 0, 3.")
    assert state["http_failed"] == [] and state["breach"]


def test_the_tally_keeps_which_old_instances_each_surge_batch_replaced_by_which_new_ones():
    state = rollout.new_state()
    new = [dict(summary(i, latest=True), outcome="upgraded") for i in ("6", "7")]
    rollout.tally(state, "Batch 1/2", {"instances": new, "replaced": ["0", "1"], "added": ["6", "7"]})
    rollout.tally(state, "Batch 2/2", {"instances": [dict(summary("2"), outcome="upgraded")]})
    assert state["replaced"] == [{"old": ["0", "1"], "new": ["6", "7"]}]
    assert state["upgraded"] == ["6", "7", "2"]


def test_a_surge_batch_that_reports_no_instance_is_named_a_replacement_not_an_upgrade_call():
    state = rollout.new_state()
    rollout.tally(state, "Batch 1/2", {"instances": [], "replaced": [], "added": [],
                                       "msg": "QuotaExceeded: 4 more cores needed"})
    assert state["breach"] == "the replacement of Batch 1/2 failed: QuotaExceeded: 4 more cores needed"
