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

from ansible_collections.vmss.rollout.plugins.module_utils._vmss import extension_change
from ansible_collections.vmss.rollout.plugins.module_utils.module import CONFLICT_ARGSPEC, VmssModule

ARGUMENT_SPEC = dict(
    extensions=dict(type="list", elements="str", required=True),
    enabled=dict(type="bool", required=True),
    auto_upgrade_minor_version=dict(type="bool"),
    use_rolling_upgrade_policy=dict(type="bool"),
    start_upgrade=dict(type="bool", default=False),
    wait=dict(type="bool", default=True),
)
ARGUMENT_SPEC.update(CONFLICT_ARGSPEC)


def run(module, service):
    """``service``: an ExtensionService. Starting an upgrade is an action: the task reports changed."""
    params = module.params
    result = extension_change.set_automatic_upgrade(module, extension_change.ScaleSetModel(service, module),
                                                    also_changed=params["start_upgrade"])
    if params["start_upgrade"] and not module.check_mode:
        result["rolling_upgrade"] = extension_change.run_extension_upgrade(
            service, params["resource_group"], params["name"], params["wait"], result)
    return result


def main():
    module = VmssModule(argument_spec=ARGUMENT_SPEC, vm_module="vm_auto_ext_upgrade")
    extension_change.exit_with(module, run, extension_change.scale_set_service)


if __name__ == "__main__":
    main()
