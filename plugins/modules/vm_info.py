#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

__metaclass__ = type

DOCUMENTATION = r"""
module: vm_info
short_description: Describe a plain Azure virtual machine, its placement, health and extensions
version_added: 0.2.0
description:
  - Returns a virtual machine (a standalone VM or a member of a Flexible scale set) in brief, in the instance
    summary form of M(vmss.rollout.vmss_info) (placement, power, provisioning and App Health state), with its
    extensions (never their protected settings).
  - Placement is what Azure reports for the VM; C(update_domain) and C(fault_domain) come from its availability set
    when it is in one, C(zone) when it is zonal. A Flexible member has no update domain.
  - The sibling of M(vmss.rollout.vmss_info) for VMs.
author:
  - vmss.rollout maintainers (@vmss-rollout)
extends_documentation_fragment:
  - vmss.rollout.virtual_machine
  - vmss.rollout.azure
  - vmss.rollout.wait
  - vmss.rollout.attributes.INFO_MODULE
"""

EXAMPLES = r"""
- name: Read a plain VM
  vmss.rollout.vm_info:
    resource_group: rg-demo
    name: vm-db-1
  register: vm

- name: Show where it is and how it is
  ansible.builtin.debug:
    msg: "{{ vm.vm.name }}: zone {{ vm.vm.zone }}, UD {{ vm.vm.update_domain }}, health {{ vm.vm.health_state }}"
"""

RETURN = r"""
vm:
  description: The VM in brief.
  returned: always
  type: dict
  contains:
    name: {description: Name of the VM (the key vm_* modules and VM rollouts take)., type: str, returned: always}
    id: {description: Resource id., type: str, returned: always}
    kind: {description: "V(virtual_machine), or V(flexible_member) for a member of a Flexible scale set.", type: str, returned: always}
    location: {description: Azure region., type: str, returned: always}
    vm_size: {description: Size of the VM., type: str, returned: always}
    scale_set_id: {description: Id of the Flexible scale set the VM is a member of; null for a standalone VM., type: str, returned: always}
    availability_set: {description: Id of the availability set; null when not in one., type: str, returned: always}
    zone: {description: Availability zone; null when not zonal., type: str, returned: always}
    update_domain: {description: Platform update domain (availability sets); null for a Flexible member or without one., type: int, returned: always}
    fault_domain: {description: Platform fault domain; null when Azure reports none., type: int, returned: always}
    latest_model_applied: {description: "For a Flexible member, whether it runs its set's latest model; else null.", type: bool, returned: always}
    provisioning_state: {description: Provisioning state., type: str, returned: always}
    power_state: {description: "Power state: running, stopped, deallocated, and so on.", type: str, returned: always}
    health_state: {description: "App Health state (healthy, unhealthy, unknown, initializing), null without App Health.", type: str, returned: always}
    image: {description: Image reference of the VM., type: dict, returned: always}
    tags: {description: Tags of the VM., type: dict, returned: always}
    extensions: {description: Extensions of the VM (no protected settings)., type: list, elements: dict, returned: always}
"""

from ansible_collections.vmss.rollout.plugins.module_utils.errors import VmssError
from ansible_collections.vmss.rollout.plugins.module_utils.module import VM_ARGSPEC, VmssModule
from ansible_collections.vmss.rollout.plugins.module_utils._vmss import images, vms
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.extensions import public_view


def vm_brief(vm, view, extensions):
    """The VM, its instance view and its extensions (wire dicts) -> the returned ``vm`` (pure)."""
    props = vm.get("properties") or {}
    scale_set_id = (props.get("virtualMachineScaleSet") or {}).get("id")
    summary = vms.summarize_vm(vm, view, flexible=bool(scale_set_id))
    image = (props.get("storageProfile") or {}).get("imageReference") or {}
    summary.update({
        "location": vm.get("location"),
        "vm_size": (props.get("hardwareProfile") or {}).get("vmSize"),
        "scale_set_id": scale_set_id,
        "image": images.image_to_user(image),
        "extensions": [public_view(e) for e in extensions],
    })
    for key in ("instance_id", "private_ip", "protected"):
        summary.pop(key, None)
    return summary


def run(module, service):
    rg, name = module.params["resource_group"], module.params["name"]
    vm = service.get_vm(rg, name)
    view = service.instance_view(rg, name)
    extensions = service.list_extensions(rg, name)
    return {"changed": False, "vm": vm_brief(vm, view, extensions)}


def main():
    module = VmssModule(argument_spec=dict(VM_ARGSPEC), scale_set=False)
    try:
        result = run(module, module.vm_service())
    except VmssError as err:
        module.fail_from_error(err)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
