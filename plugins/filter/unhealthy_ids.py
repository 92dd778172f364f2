# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

__metaclass__ = type

DOCUMENTATION = r"""
name: unhealthy_ids
short_description: Ids of the instances a rollout counts as unhealthy
version_added: 0.1.0
description:
  - Takes instance summaries as returned by M(vmss.rollout.vmss_info) and returns the ids of those the
    rolling_upgrade role's thresholds count as unhealthy, in their original order.
  - Unhealthy means App Health C(unhealthy) or C(unknown) (unknown counts, as in Azure's own rolling upgrades), or
    a failed provisioning. An instance without App Health, or a stopped one, is not counted.
extends_documentation_fragment:
  - vmss.rollout.instance_summaries
"""

EXAMPLES = r"""
- name: Fail when more than a tenth of the set is unhealthy
  ansible.builtin.assert:
    that: (info.instances | vmss.rollout.unhealthy_ids | length) * 10 <= info.instances | length
"""

RETURN = r"""
_value:
  description: Instance ids.
  type: list
  elements: str
"""

from ansible_collections.vmss.rollout.plugins.filter.plan_batches import check_instances
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.health import rollout_unhealthy_ids


def unhealthy_ids(instances):
    check_instances(instances, "unhealthy_ids")
    return rollout_unhealthy_ids(instances)


class FilterModule:
    def filters(self):
        return {"unhealthy_ids": unhealthy_ids}
