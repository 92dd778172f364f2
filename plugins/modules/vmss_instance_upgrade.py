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
  - On a scale set in Flexible orchestration the members are virtual machines. O(instance_ids) takes their NAMES
    (as C(az vmss update-instances) does for Flexible), the one C(manualupgrade) call carries those names, and
    instances are read from each VM. Flexible sets have no update domains, so O(update_domains) and
    O(strategy=platform) are refused for them before anything is written.
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
    id:
      description: "Azure Resource Manager id of the instance."
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
    tags:
      description: "Tags of the instance (Azure copies the scale set's tags onto its instances)."
      type: dict
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
upgrade_call:
  description:
    - With O(strategy=manual), how the one C(manualupgrade) call ended; null when none was made (nothing to upgrade,
      or check mode).
    - V(timed_out) means the call outlived O(wait_timeout) and its instances may still be updating.
    - V(not_started) means the call itself failed (refused, or the connection was lost before Azure answered); the
      instances it did not reach are in RV(skipped), not in RV(failed_instances).
  returned: when strategy is manual
  type: str
  choices: [succeeded, failed, timed_out, not_started]
waited_for:
  description: Ids of instances found updating from an earlier run and waited for before anything else.
  returned: always
  type: list
  elements: str
orchestration_mode:
  description: V(Flexible) when the scale set uses Flexible orchestration (then C(instance_id) values are VM names).
  returned: for a Flexible scale set
  type: str
rolling_upgrade:
  description: With O(strategy=platform), the last status of Azure's rolling upgrade and the progress seen.
  returned: when strategy is platform
  type: dict
  sample: {status: Completed, progress: {successfulInstanceCount: 5, failedInstanceCount: 0}, history: []}
replaced:
  description:
    - With O(strategy=platform) and C(rollingUpgradePolicy.maxSurge), ids of the outdated instances Azure deleted
      after creating new ones on the latest model (they count as upgraded, with that reason).
  returned: when strategy is platform and the upgrade ran
  type: list
  elements: str
new_instances:
  description: With O(strategy=platform), ids of the instances that appeared during the upgrade (MaxSurge's new ones).
  returned: when strategy is platform and the upgrade ran
  type: list
  elements: str
"""

import time

from ansible_collections.vmss.rollout.plugins.module_utils.errors import VmssError
from ansible_collections.vmss.rollout.plugins.module_utils.module import VmssModule
from ansible_collections.vmss.rollout.plugins.module_utils._vmss import upgrade, vms
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.vm_group import FlexibleScaleSet
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.waiter import Deadline

ARGUMENT_SPEC = {
    "instance_ids": {"type": "list", "elements": "str"},
    "update_domains": {"type": "list", "elements": "int"},
    "strategy": {"type": "str", "choices": ["manual", "platform"], "default": "manual"},
    "platform_upgrade": {"type": "str", "choices": ["os", "extension"], "default": "os"},
    "wait_for_health": {"type": "bool", "default": False},
    "health_timeout": {"type": "int", "default": 300},
    "upgrade_delay": {"type": "float", "default": 0.0},
}


def run(module, service, before_upgrade_call=lambda: None):
    """The engine (module_utils/_vmss/upgrade.py) over this task's options: (result, error)."""
    return upgrade.run(service, module.params, check_mode=module.check_mode, diff=module.diff_mode, warn=module.warn,
                       before_upgrade_call=before_upgrade_call)


def flexible_problem(params):
    """One sentence naming an option a Flexible set cannot take, else None (pure)."""
    if params["update_domains"]:
        return ("update_domains: scale set %s/%s uses Flexible orchestration, which has no update domains; select "
                "members by name with instance_ids." % (params["resource_group"], params["name"]))
    if params["instance_ids"] is not None and not params["instance_ids"]:
        return "instance_ids must be a non-empty list of member names of Flexible scale set %s/%s." % (
            params["resource_group"], params["name"])
    if params["strategy"] == "platform":
        return ("strategy=platform is for Uniform scale sets; %s/%s uses Flexible orchestration: use "
                "strategy=manual (members by name)." % (params["resource_group"], params["name"]))
    return None


def run_flexible(module, vm_service, before_upgrade_call):
    """ONE manualupgrade by member names through the Flexible rollout target, in this module's return shape."""
    params = module.params
    wait = {"wait_timeout": params["wait_timeout"], "poll_interval": params["poll_interval"],
            "health_timeout": params["health_timeout"]}
    target = FlexibleScaleSet(vm_service, params["resource_group"], params["name"], wait)
    members = target.members()
    keys = params["instance_ids"]
    if keys is None:
        keys = [m["instance_id"] for m in members if not m.get("latest_model_applied")]
    result, error = target.upgrade(keys, check_mode=module.check_mode, warn=module.warn,
                                   before_upgrade_call=before_upgrade_call, known_members=members)
    result["orchestration_mode"] = vms.FLEXIBLE
    return result, error


def main():
    module = VmssModule(argument_spec=ARGUMENT_SPEC, mutually_exclusive=[("instance_ids", "update_domains")])
    upgrade_after = Deadline(module.params["upgrade_delay"] or 0)
    try:
        # the Azure-free checks; instance_ids are judged once the orchestration mode says ids or names
        upgrade.validate(dict(module.params, instance_ids=None))
        vm_service = module.vm_service()
        scale_set = vm_service.get_scale_set(module.params["resource_group"], module.params["name"])
        if vms.orchestration_mode(scale_set) == vms.FLEXIBLE:
            problem = flexible_problem(module.params)
            if problem:
                module.fail(problem)
            result, error = run_flexible(module, vm_service, lambda: time.sleep(upgrade_after.remaining()))
        else:
            upgrade.validate(module.params)
            result, error = run(module, module.service(), lambda: time.sleep(upgrade_after.remaining()))
    except upgrade.InputError as err:
        module.fail(str(err))
    except VmssError as err:
        module.fail_from_error(err)
    if error is not None:
        module.fail_from_error(error, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
