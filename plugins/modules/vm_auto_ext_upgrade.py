#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

__metaclass__ = type

DOCUMENTATION = r"""
module: vm_auto_ext_upgrade
short_description: Turn automatic extension upgrade on or off for a virtual machine's extensions
version_added: 0.2.0
description:
  - Sets C(enableAutomaticUpgrade) (and optionally C(autoUpgradeMinorVersion)) on named extensions of an Azure
    virtual machine (a standalone VM or a member of a Flexible scale set), as
    C(PUT .../virtualMachines/{vm}/extensions/{name}), C(Set-AzVMExtension -EnableAutomaticUpgrade) and
    C(az vm extension set --enable-auto-upgrade) do. The sibling of M(vmss.rollout.vmss_auto_ext_upgrade) for VMs.
  - Refuses, with the list of supported extensions, to enable it for an extension Azure does not upgrade
    automatically. Disabling is always allowed.
  - One PATCH of each extension whose flags differ, carrying only those flags; nothing when nothing differs.
author:
  - vmss.rollout maintainers (@vmss-rollout)
extends_documentation_fragment:
  - vmss.rollout.virtual_machine
  - vmss.rollout.azure
  - vmss.rollout.wait
  - vmss.rollout.attributes
options:
  extensions:
    description: Names of extensions of the virtual machine.
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
"""

EXAMPLES = r"""
- name: Let Azure upgrade the health extension of a plain VM automatically
  vmss.rollout.vm_auto_ext_upgrade:
    resource_group: rg-demo
    name: vm-db-1
    extensions: [health]
    enabled: true
    auto_upgrade_minor_version: true
"""

RETURN = r"""
extensions:
  description: The listed extensions after the task (predicted in check mode).
  returned: success
  type: list
  elements: dict
  sample: [{name: health, enable_automatic_upgrade: true, auto_upgrade_minor_version: true}]
diff:
  description: Before and after of the listed extensions' flags.
  returned: diff mode
  type: dict
"""

from ansible_collections.vmss.rollout.plugins.module_utils._vmss import extension_change
from ansible_collections.vmss.rollout.plugins.module_utils.module import VM_ARGSPEC, VmssModule

ARGUMENT_SPEC = dict(
    extensions=dict(type="list", elements="str", required=True),
    enabled=dict(type="bool", required=True),
    auto_upgrade_minor_version=dict(type="bool"),
)
ARGUMENT_SPEC.update(VM_ARGSPEC)


def run(module, service):
    """``service``: a VmService."""
    return extension_change.set_automatic_upgrade(module, extension_change.VirtualMachine(service, module))


def main():
    module = VmssModule(argument_spec=ARGUMENT_SPEC, scale_set=False)
    extension_change.exit_with(module, run, extension_change.vm_service)


if __name__ == "__main__":
    main()
