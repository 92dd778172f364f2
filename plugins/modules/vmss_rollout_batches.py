#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

__metaclass__ = type

DOCUMENTATION = r"""
module: vmss_rollout_batches
short_description: Roll a scale set's instances onto the latest model, batch by batch, in one controller process
version_added: 0.1.0
description:
  - The engine of the P(vmss.rollout.rolling_upgrade#role) role. Walks a plan from the C(vmss.rollout.plan_batches)
    filter; before each batch it checks the health of the whole set (O(max_unhealthy_percent)), optionally asks
    every instance of the batch to drain and waits O(drain_seconds), upgrades the batch with B(one)
    C(manualupgrade) call and waits for App Health to settle (as M(vmss.rollout.vmss_instance_upgrade) does),
    optionally checks each upgraded instance's own HTTP endpoint, bakes, and judges every instance upgraded so far
    against
    O(max_unhealthy_upgraded_percent). It stops at the first breach and reports it; it never rolls back (the role
    does).
  - It prints one line per step as it goes (the batch, its App Health, its HTTP check).
  - Runs as an action on the controller, with one Azure client and the last read of the set carried from batch to
    batch, instead of a module start, a client and a read per step. Credentials come from the options, the
    controller's C(AZURE_*) environment (and the task's C(environment)) or C(~/.azure/credentials).
  - Re-running after an interruption is safe. Instances already on the latest model are skipped, instances still
    updating are waited for, none is upgraded twice.
  - Killing C(ansible-playbook) stops the rollout. Ansible's worker that runs this action lives in its own session
    and outlives a killed C(ansible-playbook); it sees that and writes nothing more (no drain, no upgrade call). The
    batch in flight finishes on Azure's side, as an upgrade call cannot be taken back.
options:
  plan:
    description:
      - Batches from the C(vmss.rollout.plan_batches) filter, in order.
      - Omitted (with O(instances)), the action reads the members and plans them itself with O(batch_size) and
        O(batch_by), and returns the plan as RV(planned).
    type: list
    elements: dict
  instances:
    description:
      - Instance summaries from M(vmss.rollout.vmss_info) with their private IPs; the drain and HTTP check URLs
        are filled from them. Given with O(plan).
    type: list
    elements: dict
  kind:
    description:
      - What is rolled. C(uniform) a Uniform scale set (instances by id, batches by update domain, C(manualupgrade)
        by ids); C(flexible) a Flexible scale set (members are VMs, by name, batches by fault domain and zone,
        C(manualupgrade) by names); C(virtual_machines) the plain VMs O(virtual_machines) of O(resource_group),
        rolled onto O(extension) VM by VM (O(name) then only names the group in messages).
      - C(auto) takes it from O(instances) (members of a Flexible set say so) or else from the scale set's
        C(orchestrationMode). A Flexible set is never rolled as Uniform; C(uniform) given for one fails.
    type: str
    default: auto
    choices: [auto, uniform, flexible, virtual_machines]
  virtual_machines:
    description: The names of the VMs of O(resource_group) to roll, with O(kind=virtual_machines).
    type: list
    elements: str
  extension:
    description:
      - The extension to roll onto O(virtual_machines) (O(kind=virtual_machines)) - C(name), C(publisher), C(type),
        C(type_handler_version), and optionally C(settings), C(protected_settings), C(auto_upgrade_minor_version),
        C(enable_automatic_upgrade), C(force_update_tag), C(suppress_failures).
      - A VM whose extension already has these options (and succeeded) is current and left out.
        C(protected_settings) are write-only and never compared; change C(force_update_tag) to send them again.
    type: dict
  batch_size:
    description:
      - The batch form when the action plans (O(plan) omitted) - one batch per domain (C(update_domain),
        C(fault_domain) or C(zone)), a number of members, a percentage such as C(20%), or a ramp such as
        C([1, "fault_domain"]).
    type: raw
    default: update_domain
  batch_by:
    description:
      - What a domain is for a group of plain VMs when the action plans - the availability set's C(update_domain),
        the C(fault_domain), the C(zone), or C(none) (counts run on through a zone). Flexible sets always go by fault
        domain, Uniform sets by update domain; no batch ever spans two zones.
    type: str
    default: update_domain
    choices: [update_domain, fault_domain, zone, none]
  rollback:
    description:
      - With O(kind=virtual_machines), after a breach put the previous extension back on every VM the rollout
        upgraded or failed (or remove the extension when the rollout created it), and wait for their health.
    type: bool
    default: false
  rollback_extension:
    description:
      - The extension the rollback puts back (same form as O(extension)); by default the one the VMs still off
        O(extension) carry when the run starts (without protected settings, which cannot be read back).
    type: dict
  batch:
    description:
      - Run only this batch (1 for the first of O(plan)) and return, so that the caller can run its own checks
        before the next one. Pass the previous call's RV(tally) as O(tally).
    type: int
  tally:
    description: The RV(tally) returned by the previous call, to go on from (with O(batch)).
    type: dict
  max_unhealthy_percent:
    description: Before each batch, stop when more than this percentage of the whole set is unhealthy.
    type: float
    default: 20
  max_unhealthy_upgraded_percent:
    description:
      - After each batch, stop when more than this percentage of the instances upgraded so far is unhealthy (App
        Health unhealthy or unknown, a failed HTTP check, or a failed upgrade).
    type: float
    default: 20
  health_timeout:
    description: Longest wait for a batch's App Health to settle, in seconds.
    type: int
    default: 300
  drain:
    description: Before upgrading a batch, send a POST to O(drain_url) of each of its instances.
    type: bool
    default: false
  drain_url:
    description: The drain URL, with C({field}) placeholders filled from each instance summary.
    type: str
    default: "http://{private_ip}:8080/drain"
  drain_seconds:
    description: Least time from the drain to the batch's upgrade call (the set is read meanwhile).
    type: float
    default: 10
  http_check:
    description: After a batch, GET O(http_url) of each upgraded instance; an instance that never answers 200 counts as unhealthy.
    type: bool
    default: false
  http_url:
    description: The health URL, with C({field}) placeholders filled from each instance summary.
    type: str
    default: "http://{private_ip}:8080/health"
  http_timeout:
    description: Seconds to wait for each HTTP answer.
    type: float
    default: 5
  http_retries:
    description: Extra attempts of the HTTP check per instance before it counts as failed.
    type: int
    default: 10
  http_delay:
    description: Seconds between HTTP check attempts.
    type: float
    default: 3
  validate_certs:
    description: Verify TLS certificates of C(https) drain and health URLs.
    type: bool
    default: true
  bake_seconds:
    description: Seconds to wait after a batch before judging it (the set is read again after the wait).
    type: float
    default: 0
  pause_seconds:
    description: Seconds to wait between batches.
    type: float
    default: 0
  bake_after_last_batch:
    description:
      - Bake after the last batch too (O(bake_seconds)); by default the last batch is judged as soon as it is
        healthy, since no batch comes after it.
    type: bool
    default: false
  option_prefix:
    description:
      - How messages name the options, for example C(image_rollout_) when called through the image_rollout role, so
        a breach names C(image_rollout_max_unhealthy_upgraded_percent), the option the user set.
    type: str
    default: rolling_upgrade_
  strategy:
    description:
      - C(in_place) upgrades each batch's instances with one manualupgrade call (the batch is out of service meanwhile).
      - C(surge) (Manual upgrade policy) keeps capacity at 100% or more; per batch it scales the set out by the
        batch's size (Azure creates the new instances on the latest model), waits until they are healthy and
        O(surge_in_rotation_seconds) more for the load balancer, then drains and deletes as many old instances, in
        the zones the new ones landed in. A quota or capacity error stops it before anything is deleted; new
        instances that never become healthy are deleted again, no old one is, and the rollout stops. It needs quota
        for one batch more than the set's capacity. The capacity before the rollout is kept in the scale-set tag
        C(vmss-rollout-surge-base) until the last old instance is gone, so a rerun resumes without adding twice.
        Refused, before anything is written, on a Flexible set or one whose upgradePolicy mode is not Manual.
      - One of C(in_place), C(surge).
    type: str
    default: in_place
  surge_protected:
    description:
      - What a surge rollout does with outdated instances protected from scale-in, which it never deletes.
      - C(report) leaves them on the old model and reports them as skipped; C(upgrade_in_place) upgrades them in
        place in their batch (instances protected from scale-set actions are always only reported).
    type: str
    default: report
  surge_in_rotation_seconds:
    description:
      - Seconds a surge batch waits after its new instances report healthy before it drains and deletes old ones,
        so the load balancer's probes have taken the new instances into rotation (at least two probe intervals).
    type: float
    default: 5
extends_documentation_fragment:
  - vmss.rollout.scale_set
  - vmss.rollout.azure
  - vmss.rollout.wait
attributes:
  check_mode:
    support: full
    description: Nothing is written and nobody is asked to drain; the tally says what would be upgraded.
  diff_mode:
    support: none
    description: Reports the tally, not a diff.
  platform:
    support: full
    platforms: all
    description: Runs on the controller.
notes:
  - Use the P(vmss.rollout.rolling_upgrade#role) role, which plans, rolls back and summarises around this engine.
author:
  - vmss.rollout maintainers (@vmss-rollout)
"""

EXAMPLES = r"""
- name: Read the scale set
  vmss.rollout.vmss_info:
    resource_group: rg-demo
    name: web
  register: web

- name: Roll every outdated instance, one update domain at a time
  vmss.rollout.vmss_rollout_batches:
    resource_group: rg-demo
    name: web
    plan: "{{ web.instances | vmss.rollout.plan_batches }}"
    instances: "{{ web.instances }}"
    http_check: true
  register: rollout

- name: Stop on a breach
  ansible.builtin.fail:
    msg: "{{ rollout.tally.breach }}"
  when: rollout.tally.breach | length > 0
"""

RETURN = r"""
kind:
  description: The target rolled - C(uniform_scale_set), C(flexible_scale_set) or C(virtual_machine_group).
  returned: success
  type: str
planned:
  description: The plan the action made when O(plan) was omitted - batches, excluded, held_back and lines of text.
  returned: when O(plan) is omitted
  type: dict
rolled_back:
  description: The VMs put back on the previous extension after a breach (O(rollback)).
  returned: when a rollback ran
  type: list
  elements: str
rollback_note:
  description: What the rollback did, in one sentence.
  returned: when a rollback ran
  type: str
tally:
  description: Where the rollout stands; pass it back as O(tally) to go on with the next O(batch).
  returned: always
  type: dict
  contains:
    upgraded:
      description: Instances upgraded so far.
      type: list
      elements: str
    failed:
      description: Instances whose upgrade failed, with the reason.
      type: list
      elements: dict
    skipped:
      description: Instances of the batches left alone (protected, already on the latest model), with the reason.
      type: list
      elements: dict
    http_failed:
      description: Upgraded instances that never answered 200 to the HTTP check.
      type: list
      elements: str
    batches_done:
      description: Each batch judged, with its number, label, instance ids and the unhealthy among them.
      type: list
      elements: dict
    upgrade_errors:
      description: Azure's messages for upgrade calls that failed some instances.
      type: list
      elements: str
    breach:
      description: Why the rollout stopped, or an empty string.
      type: str
    last_batch:
      description: The last batch run, its upgraded instances (with addresses) and the upgrade outcome per instance.
      type: dict
    replaced:
      description: With O(strategy=surge), per batch the old instances deleted (C(old)) and the new ones that replaced
        them (C(new)); empty otherwise.
      type: list
      elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vmss.rollout.plugins.module_utils.module import vmss_argument_spec
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.rollout_options import ARGUMENT_SPEC


def main():
    module = AnsibleModule(argument_spec=vmss_argument_spec(ARGUMENT_SPEC), supports_check_mode=True)
    module.fail_json(msg="vmss_rollout_batches runs on the controller as an action; this file holds its documentation.")


if __name__ == "__main__":
    main()
