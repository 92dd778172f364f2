# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

__metaclass__ = type

DOCUMENTATION = r"""
name: rollout_option_errors
short_description: One sentence per bad rollout option
version_added: 0.1.0
description:
  - Takes a dict of rollout options (the engine options of the C(vmss.rollout.rolling_upgrade) role, without their
    prefix, such as C(batch) or C(max_unhealthy_percent)) and returns one sentence per option whose value cannot
    work, naming it with O(prefix). Options not in the dict are not checked.
  - The same check M(vmss.rollout.vmss_rollout_batches) runs, so a role can refuse bad options before it changes
    anything in Azure.
options:
  _input:
    description: The options, by name without prefix.
    type: dict
    required: true
  prefix:
    description: Put before each option's name in the sentences (the name the user spelled).
    type: str
    default: ''
  scale_set:
    description:
      - The scale set to roll, as C(vmss.rollout.vmss_info) returns it (its C(vmss)). Given, C(strategy=surge) is
        refused on a Flexible set or one whose upgradePolicy mode is not C(Manual).
    type: dict
  instances:
    description:
      - The scale set's instances, as C(vmss.rollout.vmss_info) returns them. Given, C(instance_ids) and
        C(update_domains) entries the set does not have are refused (planned as asked, they would select nothing
        and the rollout would end with nothing rolled); C(instance_ids) are not checked with C(strategy=surge),
        which replaces instances by new ones.
    type: list
    elements: dict
"""

EXAMPLES = r"""
- name: Refuse bad options before anything is written
  ansible.builtin.assert:
    that: errors | length == 0
    fail_msg: "{{ errors | join(' ') }}"
  vars:
    # the options of a playbook of one's own, checked under its own names (my_batch, my_bake_seconds)
    my_batch: [1, "25%"]
    my_bake_seconds: 60
    errors: "{{ {'batch': my_batch, 'bake_seconds': my_bake_seconds} | vmss.rollout.rollout_option_errors('my_') }}"
"""

RETURN = r"""
_value:
  description: One sentence per bad option; empty when every option can work.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.vmss.rollout.plugins.module_utils._vmss import batches, surge
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.rollout_options import option_errors


def rollout_option_errors(options, prefix="", scale_set=None, instances=None):
    if not isinstance(options, dict):
        raise AnsibleFilterError("rollout_option_errors expects a dict of options, got %s." % type(options).__name__)
    errors = option_errors(options, prefix)
    if scale_set and options.get("strategy") == "surge":
        problem = surge.refusal(scale_set.get("name"), scale_set.get("orchestration_mode"),
                                (scale_set.get("upgrade_policy") or {}).get("mode"), prefix)
        errors.extend([problem] if problem else [])
    if instances is not None:
        # a surge replaces instances (new ids): a rerun that resumes names ids that are gone by then
        instance_ids = None if options.get("strategy") == "surge" else options.get("instance_ids") or None
        errors.extend(batches.selection_errors(instances, options.get("update_domains") or None,
                                               instance_ids, prefix, (scale_set or {}).get("name")))
    return errors


class FilterModule:
    def filters(self):
        return {"rollout_option_errors": rollout_option_errors}
