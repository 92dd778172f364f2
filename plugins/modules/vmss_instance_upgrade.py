#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

__metaclass__ = type

DOCUMENTATION = r"""
module: vmss_instance_upgrade
short_description: Bring Azure VM scale set instances to the latest model, one call per batch
version_added: 0.1.0
description:
  - Upgrades the selected instances of a Uniform scale set to the latest model with B(one) C(manualupgrade) call
    for the whole selection, waits for it (bounded by O(wait_timeout)) and optionally for App Health to settle.
  - Instances already on the latest model, and instances protected from scale-set actions, are skipped and
    reported with the reason, never silently.
  - Instances still updating from an earlier, interrupted run are waited for (bounded) instead of being upgraded again.
  - With O(strategy=platform) it starts Azure's own rolling upgrade (OS image or extensions) and follows
    C(rollingUpgrades/latest) to a terminal state.
options:
  instance_ids:
    description:
      - Instances to upgrade. Mutually exclusive with O(update_domains).
      - Without O(instance_ids) and O(update_domains), every instance not on the latest model is selected.
      - An id that is not an instance of the scale set fails the task before anything is written.
    type: list
    elements: str
  update_domains:
    description:
      - Upgrade the instances in these platform update domains (in every zone).
      - A domain no instance of the scale set is in fails the task before anything is written.
    type: list
    elements: int
  strategy:
    description:
      - V(manual) calls C(manualupgrade) for the selection.
      - V(platform) starts Azure's rolling upgrade of kind O(platform_upgrade) and follows it; O(instance_ids) and
        O(update_domains) do not apply.
    type: str
    choices: [manual, platform]
    default: manual
  platform_upgrade:
    description:
      - With O(strategy=platform), which rolling upgrade to start.
      - V(os) starts nothing (changed false, no write) when every unprotected instance is already on the latest
        model, and follows an upgrade already in progress instead of starting another.
      - V(extension) cannot know whether newer extension versions exist, so it always starts one (changed true).
    type: str
    choices: [os, extension]
    default: os
  wait_for_health:
    description:
      - After the upgrade, wait until every upgraded instance's App Health state has settled (no longer
        initializing, not updating), at most O(health_timeout) seconds. The state is returned either way.
    type: bool
    default: false
  health_timeout:
    description: Longest wait for App Health to settle, in seconds.
    type: int
    default: 300
  upgrade_delay:
    description:
      - With O(strategy=manual), seconds from the start of the task to its upgrade call, at least.
      - The module reads the scale set and picks the instances meanwhile, so a wait for a load balancer to take
        just-drained instances out of rotation costs no time of its own.
      - Not waited for in check mode, or when nothing is to be upgraded.
    type: float
    default: 0
extends_documentation_fragment:
  - vmss.rollout.scale_set
  - vmss.rollout.azure
  - vmss.rollout.wait
  - vmss.rollout.attributes
notes:
  - In check mode nothing is written; the result says which instances would be upgraded.
  - An upgrade operation that ends Failed fails the task with the Azure error code, message and request id, and
    still returns RV(instances), RV(upgraded) and RV(failed_instances).
author:
  - vmss.rollout maintainers (@vmss-rollout)
"""

EXAMPLES = r"""
- name: Upgrade update domain 0, then wait for App Health
  vmss.rollout.vmss_instance_upgrade:
    resource_group: rg-demo
    name: web
    update_domains: [0]
    wait_for_health: true
    health_timeout: 300

- name: Upgrade two instances
  vmss.rollout.vmss_instance_upgrade:
    resource_group: rg-demo
    name: web
    instance_ids: ["3", "8"]

- name: Upgrade everything not on the latest model
  vmss.rollout.vmss_instance_upgrade:
    resource_group: rg-demo
    name: web

- name: Upgrade update domain 1 at least 10 s after asking its instances to drain (the task before)
  vmss.rollout.vmss_instance_upgrade:
    resource_group: rg-demo
    name: web
    update_domains: [1]
    upgrade_delay: 10

- name: Let Azure roll the OS image itself
  vmss.rollout.vmss_instance_upgrade:
    resource_group: rg-demo
    name: web
    strategy: platform
    platform_upgrade: os
"""

RETURN = r"""
instances:
  description:
    - Summary of every selected instance after the task, with its outcome.
    - With O(strategy=platform), every instance of the scale set.
  returned: always
  type: list
  elements: dict
  contains:
    instance_id:
      description: "Instance id."
      type: str
      returned: always
    name:
      description: "Instance name."
      type: str
      returned: always
    update_domain:
      description: "Platform update domain."
      type: int
      returned: always
    fault_domain:
      description: "Platform fault domain."
      type: int
      returned: always
    zone:
      description: "Availability zone, or null."
      type: str
      returned: always
    latest_model_applied:
      description: "Whether the instance runs the latest model."
      type: bool
      returned: always
    provisioning_state:
      description: "Provisioning state."
      type: str
      returned: always
    power_state:
      description: "Power state: running, stopped, deallocated, and so on."
      type: str
      returned: always
    health_state:
      description: "App Health state (healthy, unhealthy, unknown or initializing), or null without App Health."
      type: str
      returned: always
    private_ip:
      description: "Private IP address; null here (vmss_info reads the network interfaces)."
      type: str
      returned: always
    image:
      description: "Image reference of the instance."
      type: dict
      returned: always
    protected:
      description: "Protected from scale-set actions."
      type: bool
      returned: always
    outcome:
      description: "One of upgraded, skipped, failed; with O(strategy=platform) also current (already on the latest
        model, nothing to do)."
      type: str
      returned: always
    reason:
      description: "Why the instance was skipped or failed; null when upgraded or current."
      type: str
      returned: always
upgraded:
  description: Ids of the instances upgraded (that would be, in check mode).
  returned: always
  type: list
  elements: str
skipped:
  description: Instances left alone, with the reason.
  returned: always
  type: list
  elements: dict
  sample: [{instance_id: "3", reason: protected from scale-set actions}]
failed_instances:
  description:
    - Instances that did not reach the latest model, with the reason.
    - Not named C(failed), which Ansible reserves for the task's own status.
  returned: always
  type: list
  elements: dict
scale_set_instances:
  description:
    - With O(strategy=manual), every instance of the scale set as last read (after the health wait with
      O(wait_for_health)), in the form of RV(instances) without C(outcome) and with C(private_ip) null.
    - Lets a caller judge the whole set after a batch without reading it again.
  returned: when strategy is manual
  type: list
  elements: dict
waited_for:
  description: Ids of instances found updating from an earlier run and waited for before anything else.
  returned: always
  type: list
  elements: str
rolling_upgrade:
  description: With O(strategy=platform), the last status of Azure's rolling upgrade and the progress seen.
  returned: when strategy is platform
  type: dict
  sample: {status: Completed, progress: {successfulInstanceCount: 5, failedInstanceCount: 0}, history: []}
"""

import time

from ansible_collections.vmss.rollout.plugins.module_utils.errors import VmssError, VmssTimeout
from ansible_collections.vmss.rollout.plugins.module_utils.module import VmssModule
from ansible_collections.vmss.rollout.plugins.module_utils._vmss import health, instances as inst_lib
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.service import VmssService
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.waiter import Deadline, wait_until

ARGUMENT_SPEC = {
    "instance_ids": {"type": "list", "elements": "str"},
    "update_domains": {"type": "list", "elements": "int"},
    "strategy": {"type": "str", "choices": ["manual", "platform"], "default": "manual"},
    "platform_upgrade": {"type": "str", "choices": ["os", "extension"], "default": "os"},
    "wait_for_health": {"type": "bool", "default": False},
    "health_timeout": {"type": "int", "default": 300},
    "upgrade_delay": {"type": "float", "default": 0.0},
}
TERMINAL_ROLLING = ("completed", "faulted", "cancelled", "canceled")


class InputError(ValueError):
    """Bad option value; the message names the option."""


def validate(params):
    if params["health_timeout"] < 0:
        raise InputError("health_timeout must be 0 or more seconds, got %d." % params["health_timeout"])
    if params["upgrade_delay"] < 0:
        raise InputError("upgrade_delay must be 0 or more seconds, got %g." % params["upgrade_delay"])
    ids = params.get("instance_ids")
    if ids is not None:
        # ASCII digits only: '³'.isdigit() is True, yet int('³') raises
        bad = [i for i in ids if not (str(i).strip().isascii() and str(i).strip().isdigit())]
        if bad or not ids:
            raise InputError("instance_ids must be a non-empty list of instance ids (non-negative integers as "
                             "strings); not allowed: %s." % ", ".join(repr(b) for b in bad or ["[]"]))
    uds = params.get("update_domains")
    if uds is not None and (not uds or any(u < 0 for u in uds)):
        raise InputError("update_domains must be a non-empty list of update domain numbers (0 or more).")
    if params["strategy"] == "platform" and (ids is not None or uds is not None or params["upgrade_delay"]):
        raise InputError("instance_ids, update_domains and upgrade_delay do not apply to strategy: platform "
                         "(Azure picks the batches and their timing); use strategy: manual to select instances.")


def select(summaries, params):
    """Selected summaries by instance_ids, update_domains, or every instance not on the latest model.

    Raises InputError when instance_ids or update_domains name something the scale set does not have."""
    by_id = dict((s["instance_id"], s) for s in summaries)
    if params.get("instance_ids") is not None:
        wanted = [str(int(i)) for i in params["instance_ids"]]
        unknown = [i for i in wanted if i not in by_id]
        if unknown:
            raise InputError("instance_ids %s do not exist in scale set %s/%s (instances: %s)." % (
                ", ".join(unknown), params["resource_group"], params["name"],
                ", ".join(s["instance_id"] for s in inst_lib.sort_instances(summaries))))
        return [by_id[i] for i in dict.fromkeys(wanted)]
    if params.get("update_domains") is not None:
        # A domain no instance is in would select nothing and look like "already done": a typo must fail.
        known = sorted(set(s["update_domain"] for s in summaries if s.get("update_domain") is not None))
        unknown = [u for u in dict.fromkeys(params["update_domains"]) if u not in known]
        if unknown:
            raise InputError("update_domains %s match no instance of scale set %s/%s (its update domains: %s)." % (
                ", ".join(str(u) for u in unknown), params["resource_group"], params["name"],
                ", ".join(str(u) for u in known) or "none"))
        return [s for s in summaries if s.get("update_domain") in set(params["update_domains"])]
    return [s for s in summaries if not s.get("latest_model_applied")]


def skip_reason(summary):
    if summary.get("protected"):
        return "protected from scale-set actions"
    if summary.get("latest_model_applied"):
        return "already on the latest model"
    return None


def outcomes(selected_ids, after, to_upgrade, skipped, check_mode):
    """Summaries with outcome/reason, and the upgraded/failed lists, from the state read after the upgrade."""
    by_id = dict((s["instance_id"], s) for s in after)
    skipped_reasons = dict((s["instance_id"], s["reason"]) for s in skipped)
    result, upgraded, failed = [], [], []
    for instance_id in selected_ids:
        summary = dict(by_id.get(instance_id) or {"instance_id": instance_id})
        if instance_id in skipped_reasons:
            summary.update(outcome="skipped", reason=skipped_reasons[instance_id])
        elif instance_id in to_upgrade and (check_mode or summary.get("latest_model_applied")):
            summary.update(outcome="upgraded", reason=None)
            upgraded.append(instance_id)
        elif instance_id not in to_upgrade:  # only with strategy platform, which reports every instance
            summary.update(outcome="current", reason=None)
        else:
            reason = "not on the latest model after the upgrade (provisioning state %s)" % summary.get(
                "provisioning_state")
            summary.update(outcome="failed", reason=reason)
            failed.append({"instance_id": instance_id, "reason": reason})
        result.append(summary)
    return result, upgraded, failed


def list_summaries(service, rg, name):
    return [inst_lib.summarize(vm) for vm in service.list_instances(rg, name)]


def wait_while_updating(service, rg, name, instance_ids, timeout, interval):
    """Re-read until none of ``instance_ids`` is updating any more; returns that read (VmssTimeout after timeout)."""
    def settled():
        current = list_summaries(service, rg, name)
        busy = [s for s in current if s["instance_id"] in instance_ids and health.is_updating(s)]
        return None if busy else current
    return wait_until(settled, timeout, interval, "instances %s to finish updating" % ", ".join(instance_ids))


def run_manual(module, service, before_upgrade_call, known_summaries=None):
    params = module.params
    rg, name = params["resource_group"], params["name"]
    summaries = list_summaries(service, rg, name) if known_summaries is None else known_summaries
    selected = select(summaries, params)
    selected_ids = [s["instance_id"] for s in selected]

    # Instances still updating from an interrupted earlier run: wait for them rather than upgrade twice.
    waited_for = [s["instance_id"] for s in selected if health.is_updating(s)]
    if waited_for and not module.check_mode:
        summaries = wait_while_updating(service, rg, name, waited_for, module.wait_timeout, module.poll_interval)
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
    after = summaries
    if to_upgrade and not module.check_mode:
        before_upgrade_call()
        try:
            service.manual_upgrade(rg, name, to_upgrade, module.wait_timeout)
        except VmssError as err:
            error = err
        after = list_summaries(service, rg, name)
        if params["wait_for_health"] and error is None:
            after = wait_for_health(module, service, to_upgrade, after)

    result_instances, upgraded, failed = outcomes(selected_ids, after, to_upgrade, skipped, module.check_mode)
    result = module.result(bool(to_upgrade), instances=result_instances, upgraded=upgraded, skipped=skipped,
                           failed_instances=failed, waited_for=waited_for,
                           scale_set_instances=inst_lib.sort_instances(after))
    if module.diff_mode and to_upgrade:
        result["diff"] = {"before": {"outdated_instances": to_upgrade}, "after": {"outdated_instances": []}}
    return result, error


def wait_for_health(module, service, upgraded_ids, after):
    """Re-read until the upgraded instances' health settles; on timeout keep the last state and warn."""
    state = {"last": after}

    def ours_settled():
        return all(health.is_settled(s) for s in state["last"] if s["instance_id"] in upgraded_ids)

    def settled():
        if ours_settled():
            return True
        # judge the fresh read right away: checking it only on the next poll cost a whole interval per batch
        state["last"] = list_summaries(service, module.params["resource_group"], module.params["name"])
        return ours_settled()

    try:
        wait_until(settled, module.params["health_timeout"], module.poll_interval,
                   "App Health of instances %s to settle" % ", ".join(upgraded_ids))
    except VmssTimeout as err:
        module.warn(str(err))
    return state["last"]


def run_platform(module, service):
    params = module.params
    rg, name = params["resource_group"], params["name"]
    kind = params["platform_upgrade"]
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
    if not needed or module.check_mode:
        # check mode predicts that the outdated instances would be upgraded (there are none when not needed)
        result_instances, upgraded, _failed = outcomes(all_ids, summaries, outdated, skipped, True)
        return module.result(changed, instances=result_instances, upgraded=upgraded, skipped=skipped,
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
    wait_until(terminal, module.wait_timeout, module.poll_interval, "the %s rolling upgrade of %s/%s" % (kind, rg, name))
    if poller is not None:
        try:
            service.finish_rolling_upgrade(rg, name, poller, module.wait_timeout)
        except VmssError as err:
            error = err
    if error is None and report["status"].lower() != "completed":
        err_info = report.get("error") or {}
        error = VmssError("Azure's %s rolling upgrade of scale set %s/%s ended %s: %s: %s" % (
            kind, rg, name, report["status"], err_info.get("code") or "NoCode", err_info.get("message") or "no message"),
            code=err_info.get("code"))
    after = list_summaries(service, rg, name)
    result_instances, upgraded, failed = outcomes(all_ids, after, outdated, skipped, False)
    return module.result(True, instances=result_instances, upgraded=upgraded, skipped=skipped, failed_instances=failed,
                         waited_for=[], rolling_upgrade=report), error


def run(module, service, before_upgrade_call=lambda: None, known_summaries=None):
    """``before_upgrade_call`` runs right before a manualupgrade call (main: sleep out the rest of upgrade_delay).

    ``known_summaries``: a read of every instance the caller has just made (the batch engine's, taken when the
    previous batch settled), used for the selection instead of reading again; manual strategy only.
    """
    validate(module.params)
    if module.params["strategy"] == "platform":
        return run_platform(module, service)
    return run_manual(module, service, before_upgrade_call, known_summaries)


def main():
    module = VmssModule(argument_spec=ARGUMENT_SPEC, mutually_exclusive=[("instance_ids", "update_domains")])
    upgrade_after = Deadline(module.params["upgrade_delay"] or 0)
    try:
        validate(module.params)
        result, error = run(module, VmssService(module.client()), lambda: time.sleep(upgrade_after.remaining()))
    except InputError as err:
        module.fail(str(err))
    except VmssError as err:
        module.fail_from_error(err)
    if error is not None:
        module.fail_from_error(error, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
