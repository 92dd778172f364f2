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

from ansible_collections.vmss.rollout.plugins.module_utils.azure_client import private_ips_by_instance
from ansible_collections.vmss.rollout.plugins.module_utils.errors import VmssError
from ansible_collections.vmss.rollout.plugins.module_utils._vmss import batches, health, surge, upgrade
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.instances import select_by_ids


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


class SurgeScaleSet(UniformScaleSet):
    """A Uniform scale set (Manual policy) rolled by surge: per batch, scale out on the latest model, wait until the
    new instances are healthy and in the load balancer, then drain and delete as many old ones (surge.py plans it).

    ``wait`` also carries ``in_rotation_seconds`` (after App Health says healthy: the load balancer's probes must
    see the new instances before the old ones go) and ``protected`` (surge_protected: upgrade_in_place|report).
    A batch whose new instances never become healthy deletes nothing old: it deletes the new ones it created
    (back to the capacity before the batch; quota is not held by broken instances) and stops the rollout.
    ``upgrade`` calls ``before_upgrade_call(step, victims)`` before each write: step "scale out", "delete" (with
    the old instances' summaries, for the drain), "upgrade in place" or "clean up".
    """

    kind = "uniform_scale_set_surge"

    def __init__(self, service, resource_group, name, wait, sleep):
        super().__init__(service, resource_group, name, wait)
        self.sleep = sleep

    def upgrade(self, keys, check_mode=False, warn=None, before_upgrade_call=None, known_members=None):
        hook = before_upgrade_call or (lambda step, victims=(): None)
        warn = warn or (lambda text: None)
        rg, name = self.resource_group, self.name
        vmss = self.service.get(rg, name)
        tags = dict(vmss.get("tags") or {})
        before = known_members if known_members is not None else self.members()
        base = surge.base_capacity(tags, before)
        step = surge.batch_step(before, list(keys), base, self.wait.get("protected") or "report")
        result = {"changed": False, "instances": [], "upgraded": [], "skipped": list(step["reported"]),
                  "failed_instances": [], "waited_for": [], "upgrade_call": None, "replaced": [], "added": [],
                  "scale_set_instances": before}
        if check_mode:
            return result, None
        after = before
        if step["add"]:
            hook("scale out")
            tags[surge.BASE_TAG] = str(base)
            # a quota or allocation refusal raises here: nothing old has been touched
            self.service.scale_out(rg, name, len(before) + step["add"], tags, self.wait["wait_timeout"])
            result["changed"] = True
            after = self.members()
        new_ids = surge.new_instance_ids(before, after, base)
        health_options = dict(self.wait, resource_group=rg, name=name)
        after = upgrade.wait_for_health(self.service, health_options, new_ids, after, warn)
        by_id = dict((m["instance_id"], m) for m in after)
        sick = [i for i in new_ids if by_id.get(i, {}).get("health_state") not in ("healthy", None)
                or health.is_failed(by_id.get(i, {}))]
        if sick:
            hook("clean up")
            self.service.delete_instances(rg, name, new_ids, self.wait["wait_timeout"])
            result.update(changed=True, scale_set_instances=self.members(), upgrade_call="failed")
            return result, VmssError(
                "The surge batch's new instances %s did not become healthy within %g s (instances %s: %s); they "
                "were deleted again and no old instance was deleted." % (
                    ", ".join(new_ids), self.wait["health_timeout"], ", ".join(sick),
                    ", ".join("%s" % (by_id.get(i, {}).get("health_state") or by_id.get(i, {}).get(
                        "provisioning_state") or "gone") for i in sick)))
        if self.wait.get("in_rotation_seconds"):
            self.sleep(self.wait["in_rotation_seconds"])
        victims = surge.choose_victims(after, list(keys), new_ids, step["replace"])
        if victims:
            hook("delete", select_by_ids(after, victims))
            self.service.delete_instances(rg, name, victims, self.wait["wait_timeout"])
            result["changed"] = True
        call = "succeeded"
        if step["in_place"]:
            hook("upgrade in place")
            try:
                self.service.manual_upgrade(rg, name, step["in_place"], self.wait["wait_timeout"])
            except VmssError as err:
                call = "failed"
                warn(str(err))
        final = self.members()
        if step["in_place"]:
            final = upgrade.wait_for_health(self.service, health_options, step["in_place"], final, warn)
        if surge.BASE_TAG in tags and not surge.outdated_left(final):
            del tags[surge.BASE_TAG]  # the rollout is over: a later one starts from the capacity then
            self.service.set_tags(rg, name, tags, self.wait["wait_timeout"])
        instances, upgraded, failed = upgrade.outcomes(new_ids + step["in_place"], final,
                                                       new_ids + step["in_place"], [], False, call)
        reported = [dict(by_id.get(r["instance_id"]) or {"instance_id": r["instance_id"]}, outcome="skipped",
                         reason=r["reason"]) for r in step["reported"]]
        # the new instances with their private IPs: the batch's HTTP check and drain URLs are rendered from them
        ips = private_ips_by_instance(self.service.list_nics(rg, name))
        addressed = [dict(s, private_ip=ips.get(s["instance_id"])) for s in select_by_ids(final, upgraded)]
        result.update(instances=instances + reported, upgraded=upgraded, failed_instances=failed,
                      upgrade_call=call, replaced=victims, added=new_ids, scale_set_instances=final,
                      addressed=addressed)
        return result, None

    def release_base(self, members):
        """Remove the base-capacity tag when no old instance is left in ``members`` (the latest read): after a
        rollback restored the model the old instances are current again, and no batch of it may have removed it.
        Returns whether it wrote."""
        tags = dict(self.service.get(self.resource_group, self.name).get("tags") or {})
        if surge.BASE_TAG not in tags or surge.outdated_left(members):
            return False
        del tags[surge.BASE_TAG]
        self.service.set_tags(self.resource_group, self.name, tags, self.wait["wait_timeout"])
        return True
