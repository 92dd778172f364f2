#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

__metaclass__ = type

DOCUMENTATION = r"""
module: vmss_extension_sequence
short_description: Declare a scale set's extensions and the order they are provisioned in
version_added: 0.1.0
description:
  - Adds, changes or removes extensions in the model of an Azure Virtual Machine Scale Set (Uniform), including
    their provisioning order (C(provisionAfterExtensions)).
  - Validates the whole extension set before writing anything, as Azure would, and fails with one clear message on a
    O(extensions[].provision_after) naming an unknown extension, a cycle (spelled out, for example
    C(a -> b -> c -> a)), an extension others depend on without C(settings), or removing an extension that others
    still depend on.
  - Applies only what differs, in one PATCH of the extension profile guarded by the etag it read. Options left
    out of an extension keep their current values.
  - Changes the model only. Instances pick the change up when they are upgraded (see M(vmss.rollout.vmss_instance_upgrade)).
  - Protected settings are write-only in Azure; they are never returned, compared, shown in a diff or logged.
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
    description:
      - The extensions to add, change (O(state=present)) or remove (O(state=absent)).
      - With O(state=absent) only O(extensions[].name) is used.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Name of the extension in the scale set model.
        type: str
        required: true
      publisher:
        description: Publisher of the extension handler, for example C(Microsoft.Azure.Extensions). Required to create one.
        type: str
      type:
        description:
          - Handler type, for example C(CustomScript) or C(ApplicationHealthLinux). Required to create one.
          - This is the extension's C(properties.type), not the resource type C(Microsoft.Compute/virtualMachineScaleSets/extensions).
        type: str
      type_handler_version:
        description: Handler version, for example C(2.1). Required to create one.
        type: str
      settings:
        description:
          - Public settings. An extension named in another's O(extensions[].provision_after) must have settings (C({}) is fine).
        type: dict
      protected_settings:
        description:
          - Settings Azure encrypts and never returns. When they are sent is decided by O(protected_settings_update).
        type: dict
      provision_after:
        description: Names of extensions this one is provisioned after. Order does not matter.
        type: list
        elements: str
      auto_upgrade_minor_version:
        description: Let Azure use a newer minor version of the handler at deployment time.
        type: bool
      enable_automatic_upgrade:
        description: Let Azure upgrade the extension when a new version is published (see M(vmss.rollout.vmss_auto_ext_upgrade)).
        type: bool
      suppress_failures:
        description: Do not fail the instance's provisioning when this extension fails.
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
      - With O(state=present), also remove extensions of the model that are not listed. Not allowed with O(state=absent).
    type: bool
    default: false
  protected_settings_update:
    description:
      - V(on_create) sends O(extensions[].protected_settings) only when the extension is created. Azure keeps the
        stored value otherwise, and runs stay idempotent.
      - V(always) sends them on every run (to rotate a secret); since Azure never returns them they cannot be
        compared, so the task reports changed every time for each extension that has them.
    type: str
    choices: [always, on_create]
    default: on_create
  allow_health_extension_removal:
    description:
      - Removing the scale set's last Application Health extension (C(ApplicationHealthLinux) or
        C(ApplicationHealthWindows)) takes away the health signal that rollouts and Azure's rolling and automatic
        upgrades judge instances by, so a rollout after it would run blind. The module refuses such a change
        (O(state=absent), or O(exclusive=true) without it) before writing anything, unless this is V(true).
      - Replacing it by another Application Health extension in the same change is not a removal.
    type: bool
    default: false
  allow_automatic_upgrade:
    description:
      - When the scale set's upgrade policy mode is V(Automatic), Azure applies a model change to every instance
        at once. The module refuses to change the extensions of such a scale set unless this is V(true).
    type: bool
    default: false
notes:
  - Options of an existing extension that you leave out are not compared and keep their values.
  - A concurrent change of the scale set between our read and our write makes Azure refuse the write (412); the
    module then reads again and re-applies its own change, at most O(conflict_retries) times.
"""

EXAMPLES = r"""
- name: Health extension first, then the application's CustomScript
  vmss.rollout.vmss_extension_sequence:
    resource_group: rg-demo
    name: web
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
        settings: {fileUris: ["https://example.invalid/app-2.0.sh"]}
        protected_settings: {commandToExecute: "sh app-2.0.sh"}
        provision_after: [health]

# Any new value runs it again; a fixed one (not a fact such as ansible_date_time) also works without gather_facts.
- name: Re-run the CustomScript on the next upgrade
  vmss.rollout.vmss_extension_sequence:
    resource_group: rg-demo
    name: web
    extensions:
      - name: app
        force_update_tag: "app-2.0-run-2"

- name: Remove an extension
  vmss.rollout.vmss_extension_sequence:
    resource_group: rg-demo
    name: web
    state: absent
    extensions:
      - name: old-agent
"""

RETURN = r"""
extensions:
  description: The model's extensions after the task (predicted in check mode), without protected settings.
  returned: success
  type: list
  elements: dict
  sample:
    - {name: health, publisher: Microsoft.ManagedServices, type: ApplicationHealthLinux, type_handler_version: "2.0",
       settings: {port: 8080}, provision_after: [], suppress_failures: false}
previous_extensions:
  description:
    - The model's extensions before the task, without protected settings. Feed them back to O(extensions) (with
      O(exclusive=true)) to roll back.
  returned: success
  type: list
  elements: dict
provisioning_order:
  description: Extension names in an order that honours every provision_after (ties keep the model's order).
  returned: success
  type: list
  elements: str
  sample: [health, app]
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
from ansible_collections.vmss.rollout.plugins.module_utils.module import CONFLICT_ARGSPEC, VmssModule

EXTENSION_OPTIONS = dict(
    name=dict(type="str", required=True),
    publisher=dict(type="str"),
    type=dict(type="str"),
    type_handler_version=dict(type="str"),
    settings=dict(type="dict"),
    protected_settings=dict(type="dict", no_log=True),
    provision_after=dict(type="list", elements="str"),
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
    allow_automatic_upgrade=dict(type="bool", default=False),
    allow_health_extension_removal=dict(type="bool", default=False),
)
ARGUMENT_SPEC.update(CONFLICT_ARGSPEC)


def run(module, service):
    """``service``: an ExtensionService."""
    return extension_change.declare_extensions(module, extension_change.ScaleSetModel(service, module))


def main():
    module = VmssModule(argument_spec=ARGUMENT_SPEC, vm_module="vm_extension")
    extension_change.exit_with(module, run, extension_change.scale_set_service,
                               check_first=extension_change.check_declared)


if __name__ == "__main__":
    main()
