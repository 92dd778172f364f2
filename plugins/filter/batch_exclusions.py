# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

__metaclass__ = type

DOCUMENTATION = r"""
name: batch_exclusions
short_description: Instances a rollout leaves alone, with the reason
version_added: 0.1.0
description:
  - Takes the instance summaries returned by M(vmss.rollout.vmss_info) and returns the instances that
    C(vmss.rollout.plan_batches) leaves out, each with the reason (protected, or already on the latest model).
options:
  include_current:
    description: Do not leave out instances already on the latest model.
    type: bool
    default: false
  by_reason:
    description:
      - One entry per reason, with the instances it applies to, instead of one entry per instance (a plan of
        fifteen instances already on the latest model says so once).
    type: bool
    default: false
extends_documentation_fragment:
  - vmss.rollout.instance_summaries
"""

EXAMPLES = r"""
- name: Read the scale set and its instances
  vmss.rollout.vmss_info:
    resource_group: rg-demo
    name: web
  register: info

- name: Show what the rollout will not touch
  ansible.builtin.debug:
    msg: "{{ info.instances | vmss.rollout.batch_exclusions }}"

- name: The same, one line per reason
  ansible.builtin.debug:
    msg: "{{ info.instances | vmss.rollout.batch_exclusions(by_reason=true) }}"
"""

RETURN = r"""
_value:
  description: One entry per excluded instance, or with O(by_reason) one per reason.
  type: list
  elements: dict
  contains:
    instance_id: {description: "Instance id (not with O(by_reason)).", type: str}
    instance_ids: {description: "With O(by_reason), the instances left out for that reason.", type: list, elements: str}
    reason: {description: Why the instance is left out., type: str}
"""

from ansible_collections.vmss.rollout.plugins.filter.plan_batches import check_instances
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.batches import exclusions


def group_by_reason(excluded):
    """[{reason, instance_ids}] in order of first appearance (pure)."""
    grouped = {}
    for entry in excluded:
        grouped.setdefault(entry["reason"], []).append(entry["instance_id"])
    return [{"reason": reason, "instance_ids": ids} for reason, ids in grouped.items()]


def batch_exclusions(instances, include_current=False, by_reason=False):
    check_instances(instances, "batch_exclusions")
    excluded = exclusions(instances, include_current)
    return group_by_reason(excluded) if by_reason else excluded


class FilterModule:
    def filters(self):
        return {"batch_exclusions": batch_exclusions}
