# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rolling_upgrade role's batch loop, run in one process on the controller (the vmss_rollout_batches action).

Per batch: the wait for planned instances still updating (an interrupted run's batch), the whole-set check (before
starting, then before each batch), the announcement, the one-zone check, the drain hook, ONE upgrade call waiting
for App Health, the HTTP check, bake, the threshold over every instance upgraded so far, and the pause before the
next batch. As Ansible tasks each of these started a module (an interpreter, the Azure SDK, a client and a read of
the whole set); here one client and the last read carry from batch to batch.

Side effects come in through ``ops`` (read, settle, drain, upgrade, http_check) and ``say``, so the loop is
unit-tested without Azure; the messages are the ones the role prints and its callers match.
"""

from __future__ import annotations

__metaclass__ = type

import time

from ansible_collections.vmss.rollout.plugins.module_utils._vmss.health import exceeds, is_updating, percent, \
    rollout_unhealthy_ids
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.instances import select_by_ids


class TwoZonesError(ValueError):
    """A batch spans two zones: the plan is wrong, and no instance of the batch has been touched."""


def new_state():
    """The tally a rollout carries: what the role keeps in its rolling_upgrade__* facts."""
    # replaced (surge): per batch, {"old": the instances deleted, "new": the instances that replaced them}
    return {"upgraded": [], "failed": [], "skipped": [], "http_failed": [], "batches_done": [], "upgrade_errors": [],
            "breach": "", "last_batch": None, "replaced": []}


def batch_label(index, total, batch):
    return "Batch %d/%d: %s — instances %s" % (index + 1, total, batch["label"], ", ".join(batch["instance_ids"]))


def short_label(label):
    return label.split(":")[0]


DEFAULT_PREFIX = "rolling_upgrade_"
PROGRESS_EVERY = 10  # seconds between two progress lines of a wait: never a minute of silence


def progress_sleep(seconds, what, say, sleep, every=PROGRESS_EVERY):
    """Sleep ``seconds`` saying so at the start and then every ``every`` seconds ("Baking batch 2: 50 s left.")."""
    left = float(seconds)
    if left <= 0:
        return
    say("%s: %g s." % (what, left))
    while left > 0:
        step = min(every, left)
        sleep(step)
        left -= step
        if left > 0:
            say("%s: %g s left." % (what, left))


def whole_set_breach(unhealthy, size, max_percent, when_checked, prefix=DEFAULT_PREFIX):
    """The whole-set check (max_unhealthy_percent): a sentence when breached, else ''."""
    if not size or not exceeds(len(unhealthy), size, float(max_percent)):
        return ""
    return ("%d of %d instances (%s%%) were unhealthy %s, above %smax_unhealthy_percent=%g "
            "(instances %s)." % (len(unhealthy), size, round(percent(len(unhealthy), size), 1), when_checked,
                                 prefix, max_percent, ", ".join(unhealthy)))


def upgraded_breach(unhealthy, attempted, max_percent, label, failed, upgrade_errors, prefix=DEFAULT_PREFIX):
    """The threshold over every instance upgraded so far: a sentence when breached, else ''."""
    if not attempted or not exceeds(len(unhealthy), len(attempted), float(max_percent)):
        return ""
    text = ("%d of %d upgraded instances (%s%%) are unhealthy after %s, above "
            "%smax_unhealthy_upgraded_percent=%g (instances %s)." % (
                len(unhealthy), len(attempted), round(percent(len(unhealthy), len(attempted)), 1),
                short_label(label).lower(), prefix, max_percent, ", ".join(unhealthy)))
    if failed:
        text += " Failed to upgrade: %s." % ", ".join("%s (%s)" % (f["instance_id"], f["reason"]) for f in failed)
    for error in _unique(upgrade_errors):
        text += " " + error
    return text


def health_line(label, instances):
    cells = []
    for inst in instances:
        cell = "instance %s %s" % (inst["instance_id"], inst.get("health_state") or "no App Health")
        if (inst.get("outcome") or "upgraded") != "upgraded":
            cell += " (%s)" % inst["outcome"]
        cells.append(cell)
    return "%s health: %s" % (short_label(label), ", ".join(cells))


def http_line(label, failed_ids, app_health_unhealthy=()):
    unchecked = (" Not checked, App Health already reports them unhealthy: instance(s) %s."
                 % ", ".join(app_health_unhealthy)) if app_health_unhealthy else ""
    if failed_ids:
        return "%s HTTP check: no 200 from instance(s) %s, which count as unhealthy.%s" % (
            short_label(label), ", ".join(failed_ids), unchecked)
    if app_health_unhealthy:
        return "%s HTTP check: every other upgraded instance answered 200.%s" % (short_label(label), unchecked)
    return "%s HTTP check: every upgraded instance answered 200." % short_label(label)


def app_health_unhealthy_ids(outcome_instances):
    """The batch's instances App Health already reports unhealthy once settled: they count as unhealthy anyway, so
    the HTTP check skips them rather than spend its retries on an answer already known (detection time)."""
    return [i["instance_id"] for i in outcome_instances if i.get("health_state") == "unhealthy"]


def _unique(items):
    return list(dict.fromkeys(items))


def _add_reasons(kept, new):
    """Append {instance_id, reason} entries, one per instance (the later reason wins, as items2dict did)."""
    merged = dict((item["instance_id"], item["reason"]) for item in new)
    return kept + [{"instance_id": key, "reason": value} for key, value in merged.items()]


def tally(state, label, outcome):
    """Fold one upgrade call's outcome into the state; a call that reported no instance is a breach."""
    instances = [i for i in outcome.get("instances") or [] if "outcome" in i]
    by_outcome = dict((kind, [i for i in instances if i["outcome"] == kind]) for kind in ("upgraded", "failed",
                                                                                          "skipped"))
    state["upgraded"] = _unique(state["upgraded"] + [i["instance_id"] for i in by_outcome["upgraded"]])
    state["failed"] = _add_reasons(state["failed"], by_outcome["failed"])
    state["skipped"] = _add_reasons(state["skipped"], by_outcome["skipped"])
    if outcome.get("replaced"):
        state["replaced"] = state.get("replaced", []) + [{"old": list(outcome["replaced"]),
                                                          "new": list(outcome.get("added") or [])}]
    if outcome.get("msg") and by_outcome["failed"]:
        state["upgrade_errors"] = state["upgrade_errors"] + [outcome["msg"]]
    # a surge batch (its outcome lists what it added) replaces instances rather than upgrading them
    call = "the replacement of" if "added" in outcome else "the upgrade call for"
    if not instances:
        state["breach"] = "%s %s failed: %s" % (call, label, outcome.get("msg") or "unknown error")
    elif outcome.get("upgrade_call") == "timed_out":
        # Its instances may still be updating: no later batch may start over them (Azure would refuse it, 409).
        state["breach"] = "%s %s did not finish in time: %s" % (
            call, short_label(label).lower(), outcome.get("msg") or "timed out")
    elif outcome.get("upgrade_call") == "not_started":
        state["breach"] = "%s %s failed before Azure started it: %s" % (
            call, short_label(label).lower(), outcome.get("msg") or "unknown error")


def judge(state, after, batch_index, label, batch_ids, max_percent, prefix=DEFAULT_PREFIX):
    """The threshold check after a batch: record the batch as done, and the breach if there is one."""
    upgraded = set(state["upgraded"])
    failed_ids = [f["instance_id"] for f in state["failed"]]
    attempted = _unique(state["upgraded"] + failed_ids)
    unhealthy = _unique([i for i in rollout_unhealthy_ids(after) if i in upgraded]
                        + [i for i in state["http_failed"] if i in upgraded] + failed_ids)
    in_batch = set(batch_ids)
    state["batches_done"] = state["batches_done"] + [{
        "batch": batch_index + 1, "label": label, "instance_ids": list(batch_ids),
        "unhealthy": [i for i in unhealthy if i in in_batch]}]
    state["breach"] = upgraded_breach(unhealthy, attempted, max_percent, label, state["failed"],
                                      state["upgrade_errors"], prefix)


def run_batches(ops, options, plan, addressed, current, state, say, sleep=time.sleep, only=None):
    """Roll ``plan`` (plan_batches) batch by batch; returns ``state`` (new_state()) with the tally and any breach.

    ``addressed``: instance summaries with private IPs (vmss_info's), where batches take their URLs from;
    ``current``: the latest read of the whole set (health), judged before each batch (None: read it first).
    ``options``: max_unhealthy_percent, max_unhealthy_upgraded_percent, drain, drain_seconds, http_check,
    bake_seconds, pause_seconds; optional strategy (in_place, or surge: the target drains after the scale-out),
    scale_set (live lines start with it: fleets roll several sets at once), option_prefix (messages name the
    user's own options) and bake_after_last_batch. ``only``: the index of the one batch to run (the caller checks
    between batches).
    Sets state["last_batch"] to the last batch's members and upgrade outcome; returns the latest read of the
    whole set (None if there was none). Raises TwoZonesError before touching a batch that spans two zones.
    """
    total = len(plan)
    prefix = options.get("option_prefix") or DEFAULT_PREFIX
    if options.get("scale_set"):
        say = prefixed_say(say, options["scale_set"])
    for index, batch in enumerate(plan):
        if only is not None and index != only:
            continue
        if state["breach"]:
            break
        label = batch_label(index, total, batch)
        if current is None:
            current = ops.read()
        # Planned instances still updating (a killed run's batch in flight, or an earlier batch's) are waited for,
        # not judged unhealthy mid-change: no batch starts while an instance of an earlier one is still updating.
        planned = set(i for any_batch in plan for i in any_batch["instance_ids"])
        updating = [s["instance_id"] for s in current if s["instance_id"] in planned and is_updating(s)]
        when_checked = "before batch %d" % (index + 1) if index else "before starting"
        if updating:
            say("Waiting for instances %s to finish updating (an earlier upgrade) %s."
                % (", ".join(updating), when_checked))
            current = ops.settle(updating)
        state["breach"] = whole_set_breach(rollout_unhealthy_ids(current), len(current),
                                           options["max_unhealthy_percent"], when_checked, prefix)
        if state["breach"]:
            break
        say(label)
        batch_ids = list(batch["instance_ids"])
        members = select_by_ids(addressed, batch_ids)
        if len(set(m.get("zone") for m in members)) > 1:
            raise TwoZonesError("Refusing to upgrade two zones at once: %s." % label)
        # a surge batch drains its old instances later, once their replacements are healthy (the target does)
        if options["drain"] and options.get("strategy", "in_place") == "in_place":
            ops.drain(members)
        # the latest read (when the previous batch settled, or the caller's) picks what to upgrade: no second read
        outcome = ops.upgrade(batch_ids, options["drain_seconds"] if options["drain"] else 0, current)
        tally(state, label, outcome)
        # the instances to check: the batch's own, or (surge) the new ones that replaced them
        addressed_now = outcome.get("addressed") or members
        state["last_batch"] = {"label": label, "instances": select_by_ids(addressed_now, state["upgraded"]),
                               "outcome": outcome.get("instances") or []}
        # A timed-out call stops the rollout, but the instances it did finish are judged like any other batch's
        # first (health line, HTTP check, threshold); a call with no instance or never started has nothing to judge.
        timed_out = state["breach"] if outcome.get("upgrade_call") == "timed_out" and outcome.get("instances") else ""
        if state["breach"] and not timed_out:
            break
        say(health_line(label, outcome.get("instances") or []))
        if options["http_check"]:
            known_bad = [i for i in app_health_unhealthy_ids(outcome.get("instances") or []) if i in state["upgraded"]]
            to_check = [m for m in select_by_ids(addressed_now, state["upgraded"]) if m["instance_id"] not in known_bad]
            failed_ids = ops.http_check(to_check) if to_check else []
            state["http_failed"] = _unique(state["http_failed"] + list(failed_ids))
            say(http_line(label, failed_ids, known_bad))
        after = outcome.get("scale_set_instances") or []
        last = index + 1 == total
        # the last batch bakes only when asked: nothing comes after it for the bake to protect
        if timed_out:
            after = after or ops.read()
        elif options["bake_seconds"] > 0 and (not last or options.get("bake_after_last_batch")):
            progress_sleep(options["bake_seconds"], "Baking %s" % short_label(label).lower(), say, sleep)
            after = ops.read()
        elif not after:
            after = ops.read()
        judge(state, after, index, label, batch_ids, options["max_unhealthy_upgraded_percent"], prefix)
        current = after
        if timed_out:
            state["breach"] = " ".join(text for text in (timed_out, state["breach"]) if text)
            break
        if not state["breach"] and options["pause_seconds"] > 0 and not last:
            progress_sleep(options["pause_seconds"], "Pausing before batch %d" % (index + 2), say, sleep)
            current = ops.read()
    return current


def prefixed_say(say, scale_set):
    def say_with_name(text):
        say("%s: %s" % (scale_set, text))
    return say_with_name
