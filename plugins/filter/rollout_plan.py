# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

__metaclass__ = type

DOCUMENTATION = r"""
name: rollout_plan
short_description: The whole rollout plan of a scale set, with what it leaves out and a text to print
version_added: 0.2.0
description:
  - Takes the RV(vmss.rollout.vmss_info#module:instances) list and returns the plan the rolling_upgrade role
    follows, as C(vmss.rollout.plan_batches) does, with the instances left out (grouped by reason), the instances
    left for a later run by O(max_batches), and the plan as lines of text.
  - Batches never cross update domains (nor zones) unless O(across_update_domains=true).
options:
  batch:
    description:
      - C(update_domain) (one batch per update domain), a number of instances per batch, a percentage of the
        update domain's instances such as C(20%) (rounded down, at least one), or a ramp such as
        C([1, "10%", "25%"]) whose last size repeats; C(update_domain) in a ramp takes the rest of the current
        update domain, so C([1, update_domain]) is one canary instance, then update domain by update domain.
    type: raw
    default: update_domain
  include_current:
    description:
      - Also plan instances already on the latest model (the plan a check run shows for a model change it did not
        make).
    type: bool
    default: false
  across_update_domains:
    description:
      - Let counts and percentages run on across update domains (of one zone); percentages are then of the whole
        scale set.
    type: bool
    default: false
  update_domains:
    description: Only these update domains (all when omitted).
    type: list
    elements: int
  instance_ids:
    description: Only these instances (all when omitted).
    type: list
    elements: str
  max_batches:
    description: Plan only the first N batches; the instances of the others are left for a later run.
    type: int
  option_prefix:
    description: Put before C(max_batches) where a reason names it (the name the user spelled, such as
      C(image_rollout_)).
    type: str
    default: ''
  scale_set:
    description: How the text names the scale set, for example C(rg/web).
    type: str
    default: the scale set
  would_change_model:
    description: Say in the text that the plan is the one after the model change.
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

- name: Show the plan of a canary, then update domain by update domain, for update domains 0 and 1 only
  ansible.builtin.debug:
    msg: "{{ (info.instances | vmss.rollout.rollout_plan([1, 'update_domain'], update_domains=[0, 1])).lines }}"
"""

RETURN = r"""
_value:
  description: The plan.
  type: dict
  contains:
    batches:
      description: The batches in order, as C(vmss.rollout.plan_batches) returns them.
      type: list
      elements: dict
    excluded:
      description: The instances left out, each with the reason.
      type: list
      elements: dict
    held_back:
      description: The instances of the batches after O(max_batches), each with the reason.
      type: list
      elements: dict
    excluded_by_reason:
      description: The instances left out and held back, one entry per reason with its instance ids.
      type: list
      elements: dict
    lines:
      description: The plan as text, one line per batch and one per reason an instance is left out.
      type: list
      elements: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.vmss.rollout.plugins.filter.plan_batches import check_instances
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.batches import BatchError, describe, \
    group_exclusions, plan


def rollout_plan(instances, batch="update_domain", include_current=False, across_update_domains=False,
                 update_domains=None, instance_ids=None, max_batches=None, scale_set="the scale set",
                 would_change_model=False, option_prefix=""):
    check_instances(instances, "rollout_plan")
    try:
        result = plan(instances, batch, bool(include_current), bool(across_update_domains), update_domains or None,
                      instance_ids or None, int(max_batches) if max_batches else None,
                      max_batches_name=(option_prefix or "") + "max_batches")
    except (BatchError, TypeError, ValueError) as err:
        raise AnsibleFilterError("rollout_plan: %s" % err)
    result["excluded_by_reason"] = group_exclusions(result["excluded"] + result["held_back"])
    result["lines"] = describe(result, scale_set, bool(would_change_model))
    return result


class FilterModule:
    def filters(self):
        return {"rollout_plan": rollout_plan}
