# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rollout targets: what the batch loop (rollout.py) needs from the thing it rolls, and the Uniform scale set's.

The target interface is duck-typed (no base class); a Flexible scale set or a group of plain VMs implements the
same five members next:

``members()``
    Every member as an instance summary (instances.summarize's shape): ``instance_id`` is the member's KEY, the
    value the target's upgrade call takes (Uniform: the instance id "3"; Flexible and plain VMs: the VM name),
    plus ``name``, placement (``zone``, ``fault_domain``, ``update_domain`` or None where the kind has none),
    ``latest_model_applied``, ``protected``, ``provisioning_state``, ``power_state``, ``health_state``.
``plan(members, batch, include_current)``
    ``{"batches": [{number, zone, update_domains, instance_ids, label}], "excluded": [{instance_id, reason}]}``.
    A batch never spans two zones. Uniform batches go by update domain; Flexible sets and VM groups without
    update domains go by fault domain (and zone), keeping the batch form (counts, percentages, ramps).
``upgrade(keys, check_mode, warn, before_upgrade_call, known_members)``
    ONE upgrade call for the batch, then the wait for health: ``(result, error)`` in vmss_instance_upgrade's
    return shape (instances with outcome, upgraded, skipped, failed_instances, waited_for, scale_set_instances).
``settle(keys)``
    Re-read until none of ``keys`` is still updating (an interrupted run's batch); returns that read.
``unhealthy(members)``
    The keys a rollout's thresholds count as unhealthy, in input order.

Constructors only store their arguments; every read and write happens in the methods.
"""

from __future__ import annotations

__metaclass__ = type

from ansible_collections.vmss.rollout.plugins.module_utils._vmss import batches, health, upgrade


class UniformScaleSet:
    """A Uniform scale set: members by instance id, batches by update domain, manualupgrade per batch.

    ``wait``: ``wait_timeout``, ``poll_interval`` and ``health_timeout`` (seconds) for the upgrade and its waits.
    """

    kind = "uniform_scale_set"

    def __init__(self, service, resource_group, name, wait):
        self.service = service
        self.resource_group = resource_group
        self.name = name
        self.wait = wait

    def members(self):
        return upgrade.list_summaries(self.service, self.resource_group, self.name)

    @staticmethod
    def plan(members, batch="update_domain", include_current=False):
        return batches.plan(members, batch, include_current)

    def upgrade(self, keys, check_mode=False, warn=None, before_upgrade_call=None, known_members=None):
        options = dict(self.wait, resource_group=self.resource_group, name=self.name, instance_ids=list(keys),
                       update_domains=None, strategy="manual", platform_upgrade="os", wait_for_health=True,
                       upgrade_delay=0)
        return upgrade.run(self.service, options, check_mode=check_mode, warn=warn,
                           before_upgrade_call=before_upgrade_call or (lambda: None), known_summaries=known_members)

    def settle(self, keys):
        return upgrade.wait_while_updating(self.service, self.resource_group, self.name, keys,
                                           self.wait["wait_timeout"], self.wait["poll_interval"])

    @staticmethod
    def unhealthy(members):
        return health.rollout_unhealthy_ids(members)
