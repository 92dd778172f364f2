# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The surge plan (pure): per batch, how many instances to add on the new model, which old ones to delete.

A surge batch adds instances first (a scale-out: Azure creates them on the latest model), waits until they are
healthy and in the load balancer, then drains and deletes as many old ones, so capacity never drops below the
set's capacity before the rollout (its "base", kept in a scale-set tag so a rerun after a kill resumes from it).
Instances protected from scale-in are never deleted: they are upgraded in place or only reported (the user's
choice, ``surge_protected``). Old instances are deleted from the fullest zones first, so zones stay balanced
whichever zones Azure placed the new instances in.
"""

from __future__ import annotations

__metaclass__ = type

from ansible_collections.vmss.rollout.plugins.module_utils._vmss.instances import instance_id_key

# The scale-set tag holding the capacity before a surge rollout (removed when the rollout is over).
BASE_TAG = "vmss-rollout-surge-base"
PROTECTED_CHOICES = ("upgrade_in_place", "report")
REASON_PROTECTED = "protected from scale-in: a surge rollout never deletes it"


def refusal(scale_set, orchestration_mode, policy_mode, prefix=""):
    """The one sentence refusing strategy surge on a scale set it cannot roll, or None.

    Surge scales a Uniform set out and deletes instances by id, under a Manual policy: with Automatic or Rolling,
    Azure itself would upgrade the instances the rollout means to replace."""
    if str(orchestration_mode or "Uniform").lower() == "flexible":
        return ("%sstrategy: surge rolls Uniform scale sets only (it scales the set out and deletes instances by id); "
                "%s is a Flexible scale set. Use %sstrategy: in_place." % (prefix, scale_set, prefix))
    mode = policy_mode or "Manual"
    if mode.lower() == "manual":
        return None
    return ("%sstrategy: surge is for scale sets whose upgradePolicy mode is Manual; %s's is %s, so nothing was "
            "changed. For a Rolling set, use Azure's MaxSurge: vmss.rollout.vmss_instance_upgrade with strategy: "
            "platform (with rollingUpgradePolicy.maxSurge, vmss.rollout.vmss_model_image's max_surge); or set the "
            "policy to Manual first." % (prefix, scale_set, mode))


def is_protected(summary):
    return bool(summary.get("protected_from_scale_in") or summary.get("protected"))


def base_capacity(tags, members):
    """The capacity before the surge rollout: the tag an earlier (interrupted) batch left, else the count now."""
    value = (tags or {}).get(BASE_TAG)
    if value is not None and str(value).isdigit():
        return int(value)
    return len(members)


def batch_step(members, batch_ids, base, protected_mode="report"):
    """What one surge batch does, from the latest read ``members`` of the whole set.

    Returns {"add": instances to create, "replace": how many old ones to delete once they are healthy,
    "in_place": protected outdated ids to upgrade in place, "reported": [{instance_id, reason}]}.
    ``add`` counts instances a killed run already created (the set is above ``base``): they are not added twice.
    """
    by_id = dict((m["instance_id"], m) for m in members)
    present = [by_id[i] for i in batch_ids if i in by_id and not by_id[i].get("latest_model_applied")]
    protected = [m["instance_id"] for m in present if is_protected(m)]
    # An earlier batch may have deleted some of this batch's instances (in the zone its new ones landed in): the
    # batch still replaces as many as it planned, then, so the old ones it left behind go too.
    gone = [i for i in batch_ids if i not in by_id]
    replace = min(len(present) - len(protected) + len(gone), len(outdated_left(members)))
    step = {"add": max(0, base + replace - len(members)), "replace": replace, "in_place": [], "reported": []}
    if protected_mode == "upgrade_in_place":
        step["in_place"] = [i for i in protected if not by_id[i].get("protected")]
        # protected from scale-set actions: Azure refuses an upgrade of it too
        step["reported"] = [{"instance_id": i, "reason": "protected from scale-set actions"}
                            for i in protected if by_id[i].get("protected")]
    else:
        step["reported"] = [{"instance_id": i, "reason": REASON_PROTECTED} for i in protected]
    return step


def new_instance_ids(before, after, base):
    """The instances this batch brought: created since ``before``, plus a killed run's surplus on the latest model
    (the set above ``base``: the newest ids, which Azure gives to new instances)."""
    known = set(m["instance_id"] for m in before)
    created = [m["instance_id"] for m in after if m["instance_id"] not in known]
    surplus = len(before) - base
    if surplus > 0:
        latest = sorted((m for m in before if m.get("latest_model_applied") and not is_protected(m)),
                        key=lambda m: instance_id_key(m["instance_id"]), reverse=True)
        created = [m["instance_id"] for m in latest[:surplus]] + created
    return sorted(set(created), key=instance_id_key)


def choose_victims(members, batch_ids, new_ids, count):
    """The ``count`` old instances to delete, one at a time from the zone that has the most instances now (the new
    ones included), so zones end as balanced as they can be whichever zones Azure put the new instances in; within
    a zone (and on a tie between zones) the batch's own instances first, then by id. Never a protected instance,
    never one on the latest model. Without zones these are the batch's own instances."""
    fresh = set(new_ids)
    old = [m for m in members if not m.get("latest_model_applied") and not is_protected(m)
           and m["instance_id"] not in fresh]
    in_batch = set(batch_ids)
    old.sort(key=lambda m: (m["instance_id"] not in in_batch, instance_id_key(m["instance_id"])))
    sizes = {}
    for member in members:
        sizes[member.get("zone")] = sizes.get(member.get("zone"), 0) + 1
    chosen = []
    while len(chosen) < count and len(chosen) < len(old):
        left = [m for m in old if m["instance_id"] not in chosen]
        # the fullest zone first; on a tie, the zone where the batch's own instance is (the sort above)
        victim = min(left, key=lambda m: (-sizes[m.get("zone")], m["instance_id"] not in in_batch,
                                          instance_id_key(m["instance_id"])))
        chosen.append(victim["instance_id"])
        sizes[victim.get("zone")] -= 1
    return chosen


def outdated_left(members):
    """Old instances a surge rollout would still delete (the base tag goes once there are none)."""
    return [m["instance_id"] for m in members if not m.get("latest_model_applied") and not is_protected(m)]
