#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

__metaclass__ = type

DOCUMENTATION = r"""
module: vmss_auto_ext_upgrade
short_description: Turn automatic extension upgrade on or off for a scale set's extensions
version_added: 0.1.0
description:
  - Sets C(enableAutomaticUpgrade) (and optionally C(autoUpgradeMinorVersion)) on named extensions of an Azure
    Virtual Machine Scale Set model, so Azure upgrades them when their publisher releases a new version.
  - Refuses, with the list of supported extensions, to enable it for an extension Azure does not upgrade
    automatically. Disabling is always allowed.
  - Optionally sets C(upgradePolicy.automaticOSUpgradePolicy.useRollingUpgradePolicy), and optionally starts an
    extension rolling upgrade now and follows it to the end.
  - One PATCH of the scale set, guarded by the etag it read, and only when something differs.
author:
  - vmss.rollout maintainers (@vmss-rollout)
extends_documentation_fragment:
  - vmss.rollout.scale_set
  - vmss.rollout.azure
  - vmss.rollout.wait
  - vmss.rollout.conflict
  - vmss.rollout.attributes
options:
  extensions:
    description: Names of extensions in the scale set model.
    type: list
    elements: str
    required: true
  enabled:
    description: Whether Azure upgrades the listed extensions automatically.
    type: bool
    required: true
  auto_upgrade_minor_version:
    description: Also set C(autoUpgradeMinorVersion) on the listed extensions. Left as is when not given.
    type: bool
  use_rolling_upgrade_policy:
    description:
      - Set C(upgradePolicy.automaticOSUpgradePolicy.useRollingUpgradePolicy), so platform upgrades honour the
        scale set's rolling upgrade policy. Left as is when not given.
    type: bool
  start_upgrade:
    description:
      - Start an extension rolling upgrade (C(extensionRollingUpgrade)) now. This is an action, so the task reports
        changed whenever it starts one. Not started in check mode.
    type: bool
    default: false
  wait:
    description:
      - With O(start_upgrade), wait until the upgrade ends (its long-running operation), at most O(wait_timeout)
        seconds, then report C(rollingUpgrades/latest). A Faulted or Cancelled upgrade fails the task.
      - V(false) starts the upgrade and reports its status at once.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Let Azure upgrade the health extension automatically, honouring the rolling policy
  vmss.rollout.vmss_auto_ext_upgrade:
    resource_group: rg-demo
    name: web
    extensions: [health]
    enabled: true
    use_rolling_upgrade_policy: true

- name: Upgrade the enrolled extensions now and wait for the end
  vmss.rollout.vmss_auto_ext_upgrade:
    resource_group: rg-demo
    name: web
    extensions: [health]
    enabled: true
    start_upgrade: true
    wait_timeout: 3600
"""

RETURN = r"""
extensions:
  description: The listed extensions after the task (predicted in check mode).
  returned: success
  type: list
  elements: dict
  sample: [{name: health, enable_automatic_upgrade: true, auto_upgrade_minor_version: true}]
use_rolling_upgrade_policy:
  description: C(automaticOSUpgradePolicy.useRollingUpgradePolicy) after the task (null when never set).
  returned: success
  type: bool
rolling_upgrade:
  description:
    - The extension rolling upgrade started by the task, as C(rollingUpgrades/latest) reports it last
      (C(status) is the running status code, C(progress) the instance counts).
  returned: when O(start_upgrade) started one
  type: dict
  sample: {status: Completed, progress: {successfulInstanceCount: 15, failedInstanceCount: 0}}
diff:
  description: Before and after of the listed extensions' flags and of C(use_rolling_upgrade_policy).
  returned: diff mode
  type: dict
"""

from ansible_collections.vmss.rollout.plugins.module_utils._vmss import extensions as ext_graph
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.extension_service import ExtensionService
from ansible_collections.vmss.rollout.plugins.module_utils.errors import VmssError
from ansible_collections.vmss.rollout.plugins.module_utils.module import CONFLICT_ARGSPEC, VmssModule
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.service import write_on_latest

ARGUMENT_SPEC = dict(
    extensions=dict(type="list", elements="str", required=True),
    enabled=dict(type="bool", required=True),
    auto_upgrade_minor_version=dict(type="bool"),
    use_rolling_upgrade_policy=dict(type="bool"),
    start_upgrade=dict(type="bool", default=False),
    wait=dict(type="bool", default=True),
)
ARGUMENT_SPEC.update(CONFLICT_ARGSPEC)


def rolling_flag(vmss):
    policy = ((vmss.get("properties") or {}).get("upgradePolicy") or {}).get("automaticOSUpgradePolicy") or {}
    return policy.get("useRollingUpgradePolicy")


def plan_model(params, vmss):
    """(extension plan, upgradePolicy patch or None) for the scale set as read."""
    plan = ext_graph.plan_automatic_upgrade(ext_graph.model_extensions(vmss), params["extensions"],
                                            params["enabled"], params["auto_upgrade_minor_version"])
    wanted = params["use_rolling_upgrade_policy"]
    policy = None
    if wanted is not None and rolling_flag(vmss) is not wanted:
        policy = {"automaticOSUpgradePolicy": {"useRollingUpgradePolicy": wanted}}
    return plan, policy


def summarise_rolling(status):
    props = status.get("properties") or {}
    return {"status": (props.get("runningStatus") or {}).get("code"),
            "progress": props.get("progress") or {},
            "error": props.get("error")}


def run(module, service):
    params = module.params
    rg, name = params["resource_group"], params["name"]
    computed = {}

    def compute(vmss):
        plan, policy = plan_model(params, vmss)
        computed.update(plan=plan, policy=policy)
        if not (plan["changed"] or policy is not None) or module.check_mode:
            return None
        return ext_graph.arm_profile_for_write(plan) if plan["changed"] else None, policy

    def write(vmss, change):
        extensions, policy = change
        return service.patch_model(rg, name, vmss.get("etag"), extensions=extensions, upgrade_policy=policy)

    vmss, _written, _conflicts = write_on_latest(lambda: service.get_scale_set(rg, name), compute, write,
                                                 params["conflict_retries"], rg, name,
                                                 busy_timeout=module.wait_timeout, poll_interval=module.poll_interval,
                                                 say=module.warn)
    plan, policy = computed["plan"], computed["policy"]
    rolling_before = rolling_flag(vmss)
    rolling_after = rolling_before if policy is None else params["use_rolling_upgrade_policy"]
    model_changed = plan["changed"] or policy is not None

    before_states = ext_graph.automatic_upgrade_states(ext_graph.model_extensions(vmss), params["extensions"])
    result = module.result(
        model_changed or params["start_upgrade"],
        before={"extensions": before_states, "use_rolling_upgrade_policy": rolling_before},
        after={"extensions": plan["states"], "use_rolling_upgrade_policy": rolling_after},
        extensions=plan["states"],
        use_rolling_upgrade_policy=rolling_after,
    )
    if params["start_upgrade"] and not module.check_mode:
        result["rolling_upgrade"] = run_extension_upgrade(service, rg, name, params["wait"], result)
    return result


def run_extension_upgrade(service, rg, name, wait, result):
    """Start extensionRollingUpgrade; with ``wait`` follow it to the end. A failed upgrade fails the task
    but the result (with the last rolling upgrade status) still reaches the user."""
    poller = service.start_extension_upgrade(rg, name)
    failure = None
    if wait:
        try:
            service.finish_extension_upgrade(rg, name, poller)
        except VmssError as err:
            failure = err
    status = summarise_rolling(service.latest_rolling_upgrade(rg, name))
    if failure is None and wait and status["status"] in ("Faulted", "Cancelled"):
        error = status["error"] or {}
        failure = VmssError("The extension rolling upgrade of scale set %s/%s ended %s: %s: %s"
                            % (rg, name, status["status"], error.get("code"), error.get("message")),
                            code=error.get("code"))
    if failure is not None:
        result["rolling_upgrade"] = status
        failure.result = result  # the task fails but still reports what happened
        raise failure
    return status


def main():
    module = VmssModule(argument_spec=ARGUMENT_SPEC, vm_module="vm_auto_ext_upgrade")
    try:
        result = run(module, ExtensionService(module.service(), module.wait_timeout, module.poll_interval))
    except ext_graph.ExtensionGraphError as err:
        module.fail(str(err))
    except VmssError as err:
        module.fail_from_error(err, **getattr(err, "result", {}))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
