#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

__metaclass__ = type

DOCUMENTATION = r"""
module: vm_extension
short_description: Declare the extensions of a plain Azure virtual machine
version_added: 0.2.0
description:
  - Adds, changes or removes extensions of an Azure virtual machine (a standalone VM or a member of a Flexible
    scale set), the sibling of M(vmss.rollout.vmss_extension_sequence) for VMs.
  - Applies only what differs. A VM's extensions are separate Azure resources, so each change is one write of one
    extension, and the extension is changed on the VM at once (there is no model to roll out).
  - Azure's VM extension resource has no etag. A change to an existing extension is a PATCH of only the properties
    that differ, so a concurrent edit of its other properties is kept, never overwritten; a new extension is a PUT.
  - Protected settings are write-only in Azure; they are never returned, compared, shown in a diff or logged.
  - Extension provisioning order (C(provisionAfterExtensions)) is a scale-set feature and is not offered here.
author:
  - vmss.rollout maintainers (@vmss-rollout)
extends_documentation_fragment:
  - vmss.rollout.virtual_machine
  - vmss.rollout.azure
  - vmss.rollout.wait
  - vmss.rollout.attributes
options:
  extensions:
    description:
      - The extensions to add, change (O(state=present)) or remove (O(state=absent)).
      - With O(state=absent) only O(extensions[].name) is used.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Name of the extension on the virtual machine.
        type: str
        required: true
      publisher:
        description: Publisher of the extension handler, for example C(Microsoft.Azure.Extensions). Required to create one.
        type: str
      type:
        description: Handler type, for example C(CustomScript) or C(ApplicationHealthLinux). Required to create one.
        type: str
      type_handler_version:
        description: Handler version, for example C(2.1). Required to create one.
        type: str
      settings:
        description: Public settings.
        type: dict
      protected_settings:
        description:
          - Settings Azure encrypts and never returns. When they are sent is decided by O(protected_settings_update).
        type: dict
      auto_upgrade_minor_version:
        description: Let Azure use a newer minor version of the handler at deployment time.
        type: bool
      enable_automatic_upgrade:
        description: Let Azure upgrade the extension when a new version is published (see M(vmss.rollout.vm_auto_ext_upgrade)).
        type: bool
      suppress_failures:
        description: Do not fail the VM's provisioning when this extension fails.
        type: bool
      force_update_tag:
        description: Change this value to make Azure run the extension again even if nothing else changed.
        type: str
  state:
    description:
      - V(present) adds or updates the listed extensions; V(absent) removes them (an absent one is not an error).
    type: str
    choices: [present, absent]
    default: present
  exclusive:
    description:
      - With O(state=present), also remove extensions of the VM that are not listed. Not allowed with O(state=absent).
    type: bool
    default: false
  protected_settings_update:
    description:
      - V(on_create) sends O(extensions[].protected_settings) only when the extension is created, so runs stay
        idempotent.
      - V(always) sends them on every run (to rotate a secret); the task then reports changed every time for each
        extension that has them.
    type: str
    choices: [always, on_create]
    default: on_create
  allow_health_extension_removal:
    description:
      - The module refuses to remove the VM's last Application Health extension (its health signal for rollouts)
        before writing anything, unless this is V(true).
    type: bool
    default: false
notes:
  - Options of an existing extension that you leave out are not compared and keep their values.
"""

EXAMPLES = r"""
- name: Put the health extension and a script on a plain VM
  vmss.rollout.vm_extension:
    resource_group: rg-demo
    name: vm-db-1
    extensions:
      - name: health
        publisher: Microsoft.ManagedServices
        type: ApplicationHealthLinux
        type_handler_version: "2.0"
        settings: {protocol: http, port: 8080, requestPath: /health}
      - name: app
        publisher: Microsoft.Azure.Extensions
        type: CustomScript
        type_handler_version: "2.1"
        settings: {commandToExecute: ./install.sh}
        protected_settings: {storageAccountKey: "{{ vault_storage_key }}"}

- name: Remove an extension
  vmss.rollout.vm_extension:
    resource_group: rg-demo
    name: vm-db-1
    state: absent
    extensions: [{name: app}]
"""

RETURN = r"""
extensions:
  description: Every extension of the VM after the task (predicted in check mode), without protected settings.
  returned: success
  type: list
  elements: dict
  sample: [{name: health, publisher: Microsoft.ManagedServices, type: ApplicationHealthLinux, type_handler_version: "2.0"}]
previous_extensions:
  description: The VM's extensions before the task, in the form of RV(extensions).
  returned: success
  type: list
  elements: dict
changes:
  description: What changed per extension. C(fields) lists the options that differ.
  returned: success
  type: list
  elements: dict
  sample: [{name: app, action: update, fields: [settings]}]
diff:
  description:
    - Before and after, by extension name. A protected setting that is sent shows as
      C((changed, value hidden)) or C((set, value hidden)).
  returned: diff mode
  type: dict
"""

from ansible_collections.vmss.rollout.plugins.module_utils._vmss import extension_change
from ansible_collections.vmss.rollout.plugins.module_utils.module import VM_ARGSPEC, VmssModule

EXTENSION_OPTIONS = dict(
    name=dict(type="str", required=True),
    publisher=dict(type="str"),
    type=dict(type="str"),
    type_handler_version=dict(type="str"),
    settings=dict(type="dict"),
    protected_settings=dict(type="dict", no_log=True),
    auto_upgrade_minor_version=dict(type="bool"),
    enable_automatic_upgrade=dict(type="bool"),
    suppress_failures=dict(type="bool"),
    force_update_tag=dict(type="str"),
)

ARGUMENT_SPEC = dict(
    extensions=dict(type="list", elements="dict", required=True, options=EXTENSION_OPTIONS),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    exclusive=dict(type="bool", default=False),
    protected_settings_update=dict(type="str", choices=["always", "on_create"], default="on_create"),
    allow_health_extension_removal=dict(type="bool", default=False),
)
ARGUMENT_SPEC.update(VM_ARGSPEC)


def run(module, service):
    """``service``: a VmService."""
    return extension_change.declare_extensions(module, extension_change.VirtualMachine(service, module))


def main():
    module = VmssModule(argument_spec=ARGUMENT_SPEC, scale_set=False)
    extension_change.exit_with(module, run, extension_change.vm_service, check_first=extension_change.check_declared)


if __name__ == "__main__":
    main()
