# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The upgrade engine: bring instances of a Uniform scale set to the latest model, one call per batch.

Functions of (service, options) that return results and never see a module object, so the module
vmss_instance_upgrade and the batch action vmss_rollout_batches run the same code. ``options`` are the module's
validated parameters (resource_group, name, instance_ids, update_domains, strategy, platform_upgrade,
wait_for_health, health_timeout, upgrade_delay, wait_timeout, poll_interval).

Manual runs: select, skip (protected, already current), wait for instances still updating from an interrupted
run, ONE manualupgrade call, optionally wait for App Health, outcomes. Platform runs start Azure's own rolling
upgrade and follow rollingUpgrades/latest to a terminal state.
"""

from __future__ import annotations

__metaclass__ = type

from ansible_collections.vmss.rollout.plugins.module_utils.errors import VmssError, VmssNotStarted, VmssTimeout
from ansible_collections.vmss.rollout.plugins.module_utils._vmss import batches, health, instances as inst_lib
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.waiter import wait_until

TERMINAL_ROLLING = ("completed", "faulted", "cancelled", "canceled")


class InputError(ValueError):
    """Bad option value; the message names the option."""


def validate(options):
    if options["health_timeout"] < 0:
        raise InputError("health_timeout must be 0 or more seconds, got %d." % options["health_timeout"])
    if options["upgrade_delay"] < 0:
        raise InputError("upgrade_delay must be 0 or more seconds, got %g." % options["upgrade_delay"])
    ids = options.get("instance_ids")
    if ids is not None:
        # ASCII digits only: '³'.isdigit() is True, yet int('³') raises
        bad = [i for i in ids if not (str(i).strip().isascii() and str(i).strip().isdigit())]
        if bad or not ids:
            raise InputError("instance_ids must be a non-empty list of instance ids (non-negative integers as "
                             "strings); not allowed: %s." % ", ".join(repr(b) for b in bad or ["[]"]))
    uds = options.get("update_domains")
    if uds is not None and (not uds or any(u < 0 for u in uds)):
        raise InputError("update_domains must be a non-empty list of update domain numbers (0 or more).")
    if options["strategy"] == "platform" and (ids is not None or uds is not None or options["upgrade_delay"]):
        raise InputError("instance_ids, update_domains and upgrade_delay do not apply to strategy: platform "
                         "(Azure picks the batches and their timing); use strategy: manual to select instances.")


def select(summaries, options):
    """Selected summaries by instance_ids, update_domains, or every instance not on the latest model.

    Raises InputError when instance_ids or update_domains name something the scale set does not have."""
    by_id = dict((s["instance_id"], s) for s in summaries)
    where = "%s/%s" % (options["resource_group"], options["name"])
    if options.get("instance_ids") is not None:
        wanted = [str(int(i)) for i in options["instance_ids"]]
        for problem in batches.selection_errors(summaries, instance_ids=wanted, scale_set=where):
            raise InputError(problem)
        return [by_id[i] for i in dict.fromkeys(wanted)]
    if options.get("update_domains") is not None:
        # A domain no instance is in would select nothing and look like "already done": a typo must fail.
        for problem in batches.selection_errors(summaries, update_domains=options["update_domains"], scale_set=where):
            raise InputError(problem)
        return [s for s in summaries if s.get("update_domain") in set(options["update_domains"])]
    return [s for s in summaries if not s.get("latest_model_applied")]


def skip_reason(summary):
    if summary.get("protected"):
        # a VM's protection is a resource lock, which the summary names
        return summary.get("protected_reason") or "protected from scale-set actions"
    if summary.get("latest_model_applied"):
        return "already on the latest model"
    return None


def upgrade_outcome(summary, call):
    """(outcome, reason) of an instance the upgrade call named, from its state after the call and how the call ended
    (``call``: succeeded, failed, timed_out, not_started; None when only the state can tell, as for Azure's rolling
    upgrade)."""
    state = summary.get("provisioning_state")
    if health.is_updating(summary):
        return "failed", "still updating %s (provisioning state %s)" % (
            "when the upgrade call timed out" if call == "timed_out" else "after the upgrade", state)
    if health.is_failed(summary):
        return "failed", "not on the latest model after the upgrade (provisioning state %s)" % state
    # A call that succeeded brought every instance it named to the model: one not on the latest model now was
    # overtaken by a later model edit (someone else's), which is not a failed upgrade.
    if summary.get("latest_model_applied") or call == "succeeded":
        return "upgraded", None
    if call == "not_started":
        return "skipped", "not upgraded: the upgrade call failed before Azure started it"
    return "failed", "not on the latest model after the upgrade (provisioning state %s)" % state


def outcomes(selected_ids, after, to_upgrade, skipped, check_mode, call=None):
    """Summaries with outcome/reason, and the upgraded/failed lists, from the state read after the upgrade."""
    by_id = dict((s["instance_id"], s) for s in after)
    skipped_reasons = dict((s["instance_id"], s["reason"]) for s in skipped)
    result, upgraded, failed = [], [], []
    for instance_id in selected_ids:
        summary = dict(by_id.get(instance_id) or {"instance_id": instance_id})
        if instance_id in skipped_reasons:
            summary.update(outcome="skipped", reason=skipped_reasons[instance_id])
        elif instance_id not in to_upgrade:  # only with strategy platform, which reports every instance
            summary.update(outcome="current", reason=None)
        elif check_mode:
            summary.update(outcome="upgraded", reason=None)
            upgraded.append(instance_id)
        else:
            outcome, reason = upgrade_outcome(summary, call)
            summary.update(outcome=outcome, reason=reason)
            if outcome == "upgraded":
                upgraded.append(instance_id)
            elif outcome == "failed":
                failed.append({"instance_id": instance_id, "reason": reason})
        result.append(summary)
    return result, upgraded, failed


def list_summaries(service, rg, name):
    return [inst_lib.summarize(vm) for vm in service.list_instances(rg, name)]


def wait_while_updating(service, rg, name, instance_ids, timeout, interval):
    """Re-read until none of ``instance_ids`` is updating any more; returns that read (VmssTimeout after timeout)."""
    return wait_while_updating_in(lambda: list_summaries(service, rg, name), instance_ids, timeout, interval)


def wait_while_updating_in(read, keys, timeout, interval, noun="instances"):
    """wait_while_updating over any target's ``read()`` of summaries (a Flexible set's members, a VM group)."""
    def settled():
        current = read()
        busy = [s for s in current if s["instance_id"] in keys and health.is_updating(s)]
        return None if busy else current
    return wait_until(settled, timeout, interval, "%s %s to finish updating" % (noun, ", ".join(keys)))


def run_manual(service, options, check_mode, diff, warn, before_upgrade_call, known_summaries=None):
    rg, name = options["resource_group"], options["name"]
    summaries = list_summaries(service, rg, name) if known_summaries is None else known_summaries
    selected = select(summaries, options)
    selected_ids = [s["instance_id"] for s in selected]

    # Instances still updating from an interrupted earlier run: wait for them rather than upgrade twice.
    waited_for = [s["instance_id"] for s in selected if health.is_updating(s)]
    if waited_for and not check_mode:
        summaries = wait_while_updating(service, rg, name, waited_for, options["wait_timeout"],
                                        options["poll_interval"])
        by_id = dict((s["instance_id"], s) for s in summaries)
        selected = [by_id.get(i, s) for i, s in zip(selected_ids, selected)]

    skipped, to_upgrade = [], []
    for summary in selected:
        reason = skip_reason(summary)
        if reason:
            skipped.append({"instance_id": summary["instance_id"], "reason": reason})
        else:
            to_upgrade.append(summary["instance_id"])

    error = None
    call = None
    after = summaries
    if to_upgrade and not check_mode:
        before_upgrade_call()
        try:
            service.manual_upgrade(rg, name, to_upgrade, options["wait_timeout"])
            call = "succeeded"
        except VmssNotStarted as err:
            error, call = err, "not_started"
        except VmssTimeout as err:
            error, call = err, "timed_out"
        except VmssError as err:
            error, call = err, "failed"
        after = list_summaries(service, rg, name)
        if call == "not_started":
            # the answer may have been lost after Azure started the call: what it started is waited for and judged
            started = [s["instance_id"] for s in after if s["instance_id"] in to_upgrade and health.is_updating(s)]
            if started:
                after = wait_while_updating(service, rg, name, started, options["wait_timeout"],
                                            options["poll_interval"])
        # The App Health gate runs whatever else failed in the batch: an instance that failed its upgrade must not
        # hide the others turning unhealthy (a breach seen one batch late). Only a call still running is not waited.
        if options["wait_for_health"] and call != "timed_out":
            after = wait_for_health(service, options, to_upgrade, after, warn)

    result_instances, upgraded, failed = outcomes(selected_ids, after, to_upgrade, skipped, check_mode, call)
    skipped = [{"instance_id": i["instance_id"], "reason": i["reason"]} for i in result_instances
               if i.get("outcome") == "skipped"]
    result = dict(changed=bool(to_upgrade), instances=result_instances, upgraded=upgraded, skipped=skipped,
                  failed_instances=failed, waited_for=waited_for, upgrade_call=call,
                  scale_set_instances=inst_lib.sort_instances(after))
    if diff and to_upgrade:
        result["diff"] = {"before": {"outdated_instances": to_upgrade}, "after": {"outdated_instances": []}}
    return result, error


def wait_for_health(service, options, upgraded_ids, after, warn):
    """Re-read until the upgraded instances' health settles; on timeout keep the last state and warn."""
    return wait_for_health_in(lambda: list_summaries(service, options["resource_group"], options["name"]),
                              upgraded_ids, after, options, warn)


def wait_for_health_in(read, upgraded_ids, after, wait, warn, noun="instances"):
    """wait_for_health over any target's ``read()``; ``wait`` gives health_timeout and poll_interval."""
    state = {"last": after}

    def ours_settled():
        # an instance whose upgrade failed has no App Health to wait for (it is judged failed already)
        return all(health.is_settled(s) for s in state["last"]
                   if s["instance_id"] in upgraded_ids and not health.is_failed(s))

    def settled():
        if ours_settled():
            return True
        # judge the fresh read right away: checking it only on the next poll cost a whole interval per batch
        state["last"] = read()
        return ours_settled()

    try:
        wait_until(settled, wait["health_timeout"], wait["poll_interval"],
                   "App Health of %s %s to settle" % (noun, ", ".join(upgraded_ids)))
    except VmssTimeout as err:
        warn(str(err))
    return state["last"]


def run_platform(service, options, check_mode):
    rg, name = options["resource_group"], options["name"]
    kind = options["platform_upgrade"]
    latest = service.latest_rolling_upgrade(rg, name) or {}
    status = (((latest.get("properties") or {}).get("runningStatus") or {}).get("code") or "")
    summaries = list_summaries(service, rg, name)
    all_ids = [s["instance_id"] for s in summaries]
    # Azure's rolling upgrade leaves protected instances out: report them, as manual mode does, never silently.
    skipped = [{"instance_id": s["instance_id"], "reason": skip_reason(s)} for s in summaries
               if s.get("protected") and not s.get("latest_model_applied")]
    outdated = [s["instance_id"] for s in summaries if not s.get("latest_model_applied") and not s.get("protected")]
    in_progress = status.lower() == "rollingforward"
    # An OS rolling upgrade with every instance current would change nothing; don't start one.
    needed = in_progress or kind == "extension" or bool(outdated)
    changed = needed and not in_progress
    report = {"kind": kind, "status": status or None, "progress": None, "history": []}
    if not needed or check_mode:
        # check mode predicts that the outdated instances would be upgraded (there are none when not needed)
        result_instances, upgraded, _failed = outcomes(all_ids, summaries, outdated, skipped, True)
        return dict(changed=changed, instances=result_instances, upgraded=upgraded, skipped=skipped,
                    failed_instances=[], waited_for=[], rolling_upgrade=report), None

    previous_start = ((latest.get("properties") or {}).get("runningStatus") or {}).get("startTime")
    poller = None if in_progress else service.start_rolling_upgrade(rg, name, kind)

    def terminal():
        info = service.latest_rolling_upgrade(rg, name) or {}
        props = info.get("properties") or {}
        running = props.get("runningStatus") or {}
        if poller is not None and previous_start and running.get("startTime") == previous_start:
            return False  # still the previous upgrade's record: ours has not shown up in rollingUpgrades/latest yet
        code = running.get("code") or ""
        if props.get("progress") != report["progress"] or code != report["status"]:
            report["history"].append({"status": code, "progress": props.get("progress")})
        report.update(status=code, progress=props.get("progress"), error=props.get("error"))
        return code.lower() in TERMINAL_ROLLING

    error = None
    wait_until(terminal, options["wait_timeout"], options["poll_interval"],
               "the %s rolling upgrade of %s/%s" % (kind, rg, name))
    if poller is not None:
        try:
            service.finish_rolling_upgrade(rg, name, poller, options["wait_timeout"])
        except VmssError as err:
            error = err
    if error is None and report["status"].lower() != "completed":
        err_info = report.get("error") or {}
        error = VmssError("Azure's %s rolling upgrade of scale set %s/%s ended %s: %s: %s" % (
            kind, rg, name, report["status"], err_info.get("code") or "NoCode", err_info.get("message") or "no message"),
            code=err_info.get("code"))
    after = list_summaries(service, rg, name)
    result_instances, upgraded, failed = outcomes(all_ids, after, outdated, skipped, False)
    # With rollingUpgradePolicy.maxSurge Azure creates new instances and deletes the old ones: an outdated instance
    # gone after a completed upgrade was replaced, not failed.
    present = set(s["instance_id"] for s in after)
    replaced = [i for i in outdated if i not in present] if error is None else []
    for summary in result_instances:
        if summary["instance_id"] in replaced:
            summary.update(outcome="upgraded", reason="replaced by a new instance on the latest model (MaxSurge)")
    upgraded = upgraded + replaced
    failed = [f for f in failed if f["instance_id"] not in replaced]
    return dict(changed=True, instances=result_instances, upgraded=upgraded, skipped=skipped, failed_instances=failed,
                waited_for=[], rolling_upgrade=report, replaced=replaced,
                new_instances=[s["instance_id"] for s in after if s["instance_id"] not in set(all_ids)]), error


def _no_hook():
    return None


def run(service, options, check_mode=False, diff=False, warn=None, before_upgrade_call=_no_hook,
        known_summaries=None):
    """Validate ``options`` and run the upgrade; returns (result, error): a VmssError of the upgrade itself comes
    back with the outcomes read after it, anything found before a write raises (InputError, VmssError).

    ``warn`` receives warnings (the health wait's timeout); ``before_upgrade_call`` runs right before a
    manualupgrade call (the module sleeps out the rest of upgrade_delay there, the batch action also checks its
    ansible-playbook still runs). ``known_summaries``: a read of every instance the caller has just made (the
    batch engine's, taken when the previous batch settled), used for the selection instead of reading again;
    manual strategy only.
    """
    validate(options)
    if options["strategy"] == "platform":
        return run_platform(service, options, check_mode)
    return run_manual(service, options, check_mode, diff, warn or _ignore, before_upgrade_call, known_summaries)


def _ignore(text):
    del text
