# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

__metaclass__ = type

DOCUMENTATION = r"""
name: plan_batches
short_description: Split scale-set instances into upgrade batches
version_added: 0.1.0
description:
  - Takes the RV(vmss.rollout.vmss_info#module:instances) list and returns the upgrade batches, in order.
  - Instances are walked zone by zone, update domain by update domain inside a zone; a batch never holds two zones,
    nor two update domains unless O(across_update_domains=true).
  - Protected instances and instances already on the latest model are left out
    (see the C(vmss.rollout.batch_exclusions) filter for the list and reasons).
options:
  batch:
    description:
      - C(update_domain) (one batch per update domain), a number of instances per batch, a percentage of the
        update domain's instances such as C(20%) (rounded down, at least one), or a ramp such as
        C([1, "10%", "25%"]) whose last size repeats; C(update_domain) in a ramp takes the rest of the current
        update domain (C([1, update_domain]) is one canary instance, then update domain by update domain).
    type: raw
    default: update_domain
  include_current:
    description: Also plan instances already on the latest model (for example to re-run a batch).
    type: bool
    default: false
  across_update_domains:
    description:
      - Let counts and percentages run on across update domains (of one zone); percentages are then of the whole
        scale set.
    type: bool
    default: false
notes:
  - Instances whose app reports C(rollingUpgrade.SkipUpgrade) through App Health custom metrics are left out, as are
    protected instances and (unless O(include_current)) those already on the latest model.
extends_documentation_fragment:
  - vmss.rollout.instance_summaries
"""

EXAMPLES = r"""
- name: Read the scale set and its instances
  vmss.rollout.vmss_info:
    resource_group: rg-demo
    name: web
  register: info

- name: One batch per update domain
  ansible.builtin.debug:
    msg: "{{ info.instances | vmss.rollout.plan_batches }}"

- name: A canary of one instance, then 10 %, then 25 % at a time (one loop item per batch)
  ansible.builtin.debug:
    msg: "Batch {{ batch.number }} ({{ batch.label }}): instances {{ batch.instance_ids | join(', ') }}"
  loop: "{{ info.instances | vmss.rollout.plan_batches([1, '10%', '25%']) }}"
  loop_control:
    loop_var: batch
    label: "batch {{ batch.number }}"
"""

RETURN = r"""
_value:
  description: The batches in order.
  type: list
  elements: dict
  contains:
    number: {description: 1-based batch number., type: int}
    zone: {description: "Zone of every instance in the batch, or null.", type: str}
    update_domains: {description: Update domains the batch touches., type: list, elements: int}
    instance_ids: {description: Instances of the batch., type: list, elements: str}
    label:
      description: "Text for progress messages, for example C(update domain 1) or C(phase 0, update domain 1)."
      type: str
    phase:
      description:
        - The phase every instance of the batch reports through App Health custom metrics
          (C(rollingUpgrade.PhaseOrderingNumber)), or null for those reporting none (they go last).
        - Only when some instance reports a phase; a batch never holds two phases.
      type: int
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.vmss.rollout.plugins.module_utils._vmss.batches import BatchError, plan


def check_instances(instances, filter_name):
    if not isinstance(instances, list) or not all(isinstance(i, dict) and "instance_id" in i for i in instances):
        raise AnsibleFilterError("%s expects the 'instances' list returned by vmss.rollout.vmss_info." % filter_name)


def plan_batches(instances, batch="update_domain", include_current=False, across_update_domains=False):
    check_instances(instances, "plan_batches")
    try:
        return plan(instances, batch, include_current, across_update_domains)["batches"]
    except BatchError as err:
        raise AnsibleFilterError(str(err))


class FilterModule:
    def filters(self):
        return {"plan_batches": plan_batches}
