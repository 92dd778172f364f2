#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

__metaclass__ = type

DOCUMENTATION = r"""
module: vmss_info
short_description: Describe an Azure VM scale set's model and its instances by update domain
version_added: 0.1.0
description:
  - Returns the model in brief (image, upgrade policy, extensions in provisioning order, without protected
    settings) and every instance with its update domain, zone, latest-model, provisioning and App Health state
    and private IP.
  - Also returns a compact text heatmap, one row per update domain and one cell per instance.
  - A scale set in Flexible orchestration is described as Azure places it. Its members are virtual machines, named
    rather than numbered (C(instance_id) is the VM name), read with their instance views in one filtered list,
    grouped by (zone and) fault domain in RV(fault_domains) and the heatmap (C(FD0 ...)); RV(update_domains) is
    empty, since Flexible sets have none. A member under a resource lock (at its scope, or a V(ReadOnly) lock on the
    resource group or the set) is C(protected), C(protected_reason) naming the lock (one more list, of the resource
    group's locks).
options:
  private_ips:
    description: Read the scale set's network interfaces to return each instance's private IP (one extra GET).
    type: bool
    default: true
extends_documentation_fragment:
  - vmss.rollout.scale_set
  - vmss.rollout.azure
  - vmss.rollout.wait
  - vmss.rollout.attributes.INFO_MODULE
author:
  - vmss.rollout maintainers (@vmss-rollout)
"""

EXAMPLES = r"""
- name: Read the scale set
  vmss.rollout.vmss_info:
    resource_group: rg-demo
    name: web
  register: web

- name: Show the update domains
  ansible.builtin.debug:
    msg: "{{ web.heatmap }}"

- name: Plan batches of one update domain each
  ansible.builtin.debug:
    msg: "{{ web.instances | vmss.rollout.plan_batches('update_domain') }}"
"""

RETURN = r"""
vmss:
  description: The scale set model in brief.
  returned: always
  type: dict
  contains:
    name: {description: Name., type: str, returned: always}
    id: {description: Resource id., type: str, returned: always}
    location: {description: Region., type: str, returned: always}
    etag: {description: Current etag., type: str, returned: always}
    capacity: {description: Number of instances in the model., type: int, returned: always}
    zones: {description: Availability zones., type: list, elements: str, returned: always}
    orchestration_mode: {description: "V(Uniform) or V(Flexible).", type: str, returned: always}
    platform_fault_domain_count: {description: Fault domain count of a Flexible set (1 spreads widely); null if unset., type: int, returned: always}
    upgrade_policy: {description: Mode and rolling upgrade policy (snake_case)., type: dict, returned: always}
    image: {description: Image of the model., type: dict, returned: always}
    extensions: {description: Extensions in provisioning order (no protected settings)., type: list, elements: dict, returned: always}
    provisioning_order: {description: Extension names in provisioning order., type: list, elements: str, returned: always}
instances:
  description:
    - One summary per instance, in zone / update domain / id order.
    - C(app_phase) and C(app_skip_upgrade) are what the instance's app asks of a rolling upgrade through App Health
      custom metrics (C(rollingUpgrade.PhaseOrderingNumber), C(rollingUpgrade.SkipUpgrade); null and false when it
      reports none).
  returned: always
  type: list
  elements: dict
  sample:
    - {instance_id: "0", id: "/subscriptions/.../virtualMachineScaleSets/web/virtualMachines/0",
       name: web_0, update_domain: 0, fault_domain: 0, zone: null, latest_model_applied: true,
       provisioning_state: Succeeded, power_state: running, health_state: healthy, private_ip: 10.0.0.4,
       image: {publisher: Canonical, offer: ubuntu-24_04-lts, sku: server, version: "1.0.0"}, protected: false,
       tags: {env: demo}, app_phase: null, app_skip_upgrade: false}
fault_domains:
  description: For a Flexible scale set, its members grouped by (zone and) fault domain (ids are VM names).
  returned: when the scale set uses Flexible orchestration
  type: list
  elements: dict
  sample: [{fault_domain: 0, zone: "1", instance_ids: [web_1a2b3c4d]}]
update_domains:
  description: Instances grouped by (zone and) update domain; empty for a Flexible scale set.
  returned: always
  type: list
  elements: dict
  sample: [{update_domain: 0, zone: null, instance_ids: ["0", "5"]}]
heatmap:
  description: Text lines, one per update domain, one cell per instance, then a legend.
  returned: always
  type: list
  elements: str
  sample: ["UD0 [#][.]  0 5", "UD1 [~][!]  1 6", "legend: # latest+healthy  . outdated ..."]
"""

from ansible_collections.vmss.rollout.plugins.module_utils.azure_client import private_ips_by_instance
from ansible_collections.vmss.rollout.plugins.module_utils.errors import VmssError
from ansible_collections.vmss.rollout.plugins.module_utils.module import VmssModule
from ansible_collections.vmss.rollout.plugins.module_utils._vmss import images, instances as inst_lib, vms
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.extensions import (
    ExtensionGraphError, provisioning_order, public_view)

ARGUMENT_SPEC = {"private_ips": {"type": "bool", "default": True}}


def model_brief(vmss):
    props = vmss.get("properties") or {}
    arm_extensions = (((props.get("virtualMachineProfile") or {}).get("extensionProfile") or {}).get("extensions")) or []
    try:
        order = provisioning_order(arm_extensions)
    except ExtensionGraphError:  # a cycle cannot exist in Azure; keep the listing usable anyway
        order = [e.get("name") for e in arm_extensions]
    by_name = dict((e.get("name"), e) for e in arm_extensions)
    return {
        "name": vmss.get("name"),
        "id": vmss.get("id"),
        "location": vmss.get("location"),
        "etag": vmss.get("etag"),
        "capacity": (vmss.get("sku") or {}).get("capacity"),
        "zones": vmss.get("zones") or [],
        "orchestration_mode": vms.orchestration_mode(vmss),
        "platform_fault_domain_count": props.get("platformFaultDomainCount"),
        "upgrade_policy": images.upgrade_policy_to_user(images.upgrade_policy_of(vmss)),
        "image": images.image_to_user(images.image_from_model(vmss)),
        "extensions": [public_view(by_name[n]) for n in order],
        "provisioning_order": order,
    }


def flexible_members(module, vm_service, rg, name):
    """Summaries of a Flexible set's members (keyed by VM name), private IPs from the resource group's NICs."""
    ips = {}
    if module.params["private_ips"]:
        try:
            ips = private_ips_by_instance(vm_service.list_nics(rg))
        except VmssError as err:
            module.warn("Private IPs unavailable: %s" % err)
    summaries = []
    for vm, view in vm_service.list_members_with_views(rg, name):
        summary = vms.summarize_vm(vm, view, flexible=True)
        summary["private_ip"] = ips.get(summary["name"])
        summary["image"] = images.image_to_user(((vm.get("properties") or {}).get("storageProfile") or {})
                                                .get("imageReference"))
        summaries.append(summary)
    # instance protection for Flexible members is a resource lock
    return vms.mark_locked(summaries, vm_service.lock_reasons(rg, [s["name"] for s in summaries], name))


def run(module, service, vm_service=None):
    rg, name = module.params["resource_group"], module.params["name"]
    vmss = service.get(rg, name)
    if vms.orchestration_mode(vmss) == vms.FLEXIBLE:
        result = {"changed": False, "vmss": model_brief(vmss)}
        result.update(inst_lib.flexible_fleet_view(flexible_members(module, vm_service, rg, name)))
        return result
    vm_list = service.list_instances(rg, name)
    ips = {}
    if module.params["private_ips"]:
        try:
            ips = private_ips_by_instance(service.list_nics(rg, name))
        except VmssError as err:  # the model is still worth returning without addresses
            module.warn("Private IPs unavailable: %s" % err)
    result = {"changed": False, "vmss": model_brief(vmss)}
    result.update(inst_lib.fleet_view([inst_lib.summarize(vm, ips) for vm in vm_list]))
    return result


def main():
    module = VmssModule(argument_spec=ARGUMENT_SPEC)
    try:
        result = run(module, module.service(), module.vm_service())
    except VmssError as err:
        module.fail_from_error(err)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
