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
extends_documentation_fragment:
  - vmss.rollout.instance_summaries
"""

EXAMPLES = r"""
- name: Show what the rollout will not touch
  ansible.builtin.debug:
    msg: "{{ info.instances | vmss.rollout.batch_exclusions }}"
"""

RETURN = r"""
_value:
  description: One entry per excluded instance.
  type: list
  elements: dict
  contains:
    instance_id: {description: Instance id., type: str}
    reason: {description: Why the instance is left out., type: str}
"""

from ansible_collections.vmss.rollout.plugins.filter.plan_batches import check_instances
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.batches import exclusions


def batch_exclusions(instances, include_current=False):
    check_instances(instances, "batch_exclusions")
    return exclusions(instances, include_current)


class FilterModule:
    def filters(self):
        return {"batch_exclusions": batch_exclusions}
