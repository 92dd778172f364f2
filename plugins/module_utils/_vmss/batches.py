# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Batch planning for rolling upgrades (pure).

Instances are walked zone by zone, update domain by update domain inside a zone, instance id inside a
domain. A batch never holds two zones, and never two update domains unless ``across_update_domains`` is asked
for. ``batch`` is one of:

* ``"update_domain"`` (default): one batch per update domain (per zone);
* an int N: up to N instances per batch, inside one update domain;
* ``"N%"``: N percent of the update domain's instances per batch (rounded down, at least 1); of the whole scale
  set with ``across_update_domains``;
* a ramp, a list of those such as ``[1, "10%", "25%"]`` or ``[1, "update_domain"]``: batch k has the k-th size
  and the last size repeats; ``update_domain`` in a ramp takes the rest of the current update domain.

When instances' apps report a phase through App Health custom metrics (``app_phase``, from
``rollingUpgrade.PhaseOrderingNumber``), phases go in numeric order and instances reporting none go last
(``order_by_phase``); a batch never holds two phases. An instance whose app asks ``SkipUpgrade`` is left out.

Protected instances, those outside the ``update_domains`` / ``instance_ids`` asked for and, unless asked
otherwise, those already on the latest model are left out and reported with the reason; with ``max_batches``
the batches after the first N are left for a later run.
"""

from __future__ import annotations

__metaclass__ = type

import re

from ansible_collections.vmss.rollout.plugins.module_utils._vmss.instances import sort_instances

BATCH_FORMS = ('"update_domain", a positive integer, a percentage such as "20%", '
               'or a list of those (a ramp, e.g. [1, "10%", "25%"] or [1, "update_domain"])')
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
_UPDATE_DOMAIN = ("update_domain", "ud")
REASON_PROTECTED = "protected from scale-set actions"
REASON_CURRENT = "already on the latest model"
REASON_APP_SKIP = "its app asks to skip the upgrade (App Health custom metrics: SkipUpgrade)"


class BatchError(ValueError):
    """Invalid ``batch`` value; the message names the option and the allowed forms."""


def _is_update_domain(spec):
    return isinstance(spec, str) and spec.strip().lower() in _UPDATE_DOMAIN


def _item(spec):
    """One ramp item: ("count", n), ("percent", p) or ("update_domain", None)."""
    if isinstance(spec, bool):
        raise BatchError("batch %r is not allowed: use %s." % (spec, BATCH_FORMS))
    if _is_update_domain(spec):
        return ("update_domain", None)
    if isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit()):
        if int(spec) < 1:
            raise BatchError("batch size must be at least 1, got %r." % spec)
        return ("count", int(spec))
    match = _PERCENT.match(spec) if isinstance(spec, str) else None
    if not match:
        raise BatchError("batch %r is not allowed: use %s." % (spec, BATCH_FORMS))
    value = float(match.group(1))
    if not 0 < value <= 100:
        raise BatchError("batch percentage must be above 0%% and at most 100%%, got %r." % spec)
    return ("percent", value)


def batch_items(batch):
    """The ramp items (last repeats), or None for per-update-domain batches. Validates ``batch``."""
    if batch is None or (isinstance(batch, str) and batch.strip() == "") or _is_update_domain(batch):
        return None
    if isinstance(batch, (list, tuple)):
        if not batch:
            raise BatchError("batch must not be an empty list: use %s." % BATCH_FORMS)
        return [_item(item) for item in batch]
    return [_item(batch)]


def _resolve(item, base):
    kind, value = item
    if kind == "count":
        return value
    if kind == "percent":
        return max(1, int(base * value // 100))
    return None  # the rest of the update domain


def batch_sizes(batch, total):
    """The sizes to use (last repeats; None for "the rest of the update domain"), or None for per-update-domain
    batches, percentages taken of ``total``. Validates ``batch``."""
    items = batch_items(batch)
    return None if items is None else [_resolve(item, total) for item in items]


def _ids_text(values):
    return ", ".join(str(v) for v in values)


def _domain_text(value):
    text = str(value).strip()
    return str(int(text)) if text.isascii() and text.isdigit() else text


def selection_errors(instances, update_domains=None, instance_ids=None, prefix="", scale_set=None):
    """One sentence per ``instance_ids`` / ``update_domains`` entry the scale set does not have.

    Planned as asked, such an entry selects nothing and the rollout "completes" with nothing rolled: a typo must
    fail, before the model is changed (as vmss_instance_upgrade refuses it)."""
    errors = []
    where = "scale set %s" % scale_set if scale_set else "the scale set"
    # compared as exclusions() compares them: an id the plan would not match is unknown
    known_ids = set(str(i["instance_id"]) for i in instances)
    unknown_ids = [i for i in dict.fromkeys(str(i) for i in instance_ids or []) if i not in known_ids]
    if unknown_ids:
        errors.append("%sinstance_ids %s do not exist in %s (instances: %s)." % (
            prefix, _ids_text(unknown_ids), where, _ids_text(i["instance_id"] for i in sort_instances(instances))))
    known_domains = sorted(set(i["update_domain"] for i in instances if i.get("update_domain") is not None))
    domain_texts = set(str(d) for d in known_domains)
    unknown_domains = [d for d in dict.fromkeys(update_domains or []) if _domain_text(d) not in domain_texts]
    if unknown_domains:
        errors.append("%supdate_domains %s match no instance of %s (its update domains: %s)." % (
            prefix, _ids_text(unknown_domains), where, _ids_text(known_domains) or "none"))
    return errors


def exclusions(instances, include_current=False, update_domains=None, instance_ids=None):
    """[{instance_id, reason}] for instances a rollout must leave alone (or was asked to leave alone)."""
    wanted_domains = None if update_domains is None else set(int(d) for d in update_domains)
    wanted_ids = None if instance_ids is None else set(str(i) for i in instance_ids)
    excluded = []
    for inst in sort_instances(instances):
        reason = None
        if wanted_ids is not None and str(inst["instance_id"]) not in wanted_ids:
            reason = "not among the instance_ids asked for (%s)" % _ids_text(instance_ids)
        elif wanted_domains is not None and inst.get("update_domain") not in wanted_domains:
            reason = "not in the update_domains asked for (%s)" % _ids_text(update_domains)
        elif inst.get("protected"):
            reason = inst.get("protected_reason") or REASON_PROTECTED   # a VM's: the resource lock that holds it
        elif inst.get("latest_model_applied") and not include_current:
            reason = REASON_CURRENT
        elif inst.get("app_skip_upgrade"):
            reason = REASON_APP_SKIP
        if reason:
            excluded.append({"instance_id": inst["instance_id"], "reason": reason})
    return excluded


def group_exclusions(excluded):
    """[{reason, instance_ids}] in order of first appearance: one line per reason instead of one per instance."""
    grouped = {}
    for item in excluded:
        grouped.setdefault(item["reason"], []).append(item["instance_id"])
    return [{"reason": reason, "instance_ids": members} for reason, members in grouped.items()]


def _phase_key(inst):
    phase = inst.get("app_phase")
    return (1, 0) if phase is None else (0, phase)


def order_by_phase(instances):
    """The instances in rollout order: by the phase their app reports (App Health custom metrics), those reporting
    none last; inside a phase, zone, update domain and instance id (sort_instances)."""
    return sorted(sort_instances(instances), key=_phase_key)


def _label(zone, domains, phase=None, phased=False):
    uds = "update domain%s %s" % ("s" if len(domains) > 1 else "", ", ".join(str(d) for d in domains))
    label = "zone %s, %s" % (zone, uds) if zone else uds
    if phased:
        label = "%s, %s" % ("phase %s" % phase if phase is not None else "no phase", label)
    return label


def _make_batch(members, phased=False):
    zone = members[0].get("zone")
    phase = members[0].get("app_phase")
    domains = []
    for inst in members:
        if inst.get("update_domain") not in domains:
            domains.append(inst.get("update_domain"))
    batch = {"zone": zone, "update_domains": domains, "instance_ids": [m["instance_id"] for m in members],
             "label": _label(zone, domains, phase, phased)}
    if phased:
        batch["phase"] = phase
    return batch


def _rest_of_domain(members, start):
    domain = members[start].get("update_domain")
    end = start
    while end < len(members) and members[end].get("update_domain") == domain:
        end += 1
    return end - start


def plan(instances, batch="update_domain", include_current=False, across_update_domains=False,
         update_domains=None, instance_ids=None, max_batches=None, max_batches_name="max_batches"):
    """{'batches': [{number, zone, update_domains, instance_ids, label}], 'excluded': [...], 'held_back': [...]}.

    ``instances`` are instance summaries (vmss_info ``instances``). Counts and percentages are taken inside an
    update domain (a percentage of its instances, planned or not) unless ``across_update_domains``, where they run
    on through the zone and percentages are of the whole set. ``held_back``: the instances of the batches after
    ``max_batches``, left for a later run (the reason names the option as ``max_batches_name``, the user's own).
    """
    if is_flexible(instances) and not any(i.get("update_domain") is not None for i in instances):
        # a Flexible set's members: the same batches by fault domain (and zone), never silently by "no update domain"
        return plan_by_placement(instances, batch, "fault_domain", include_current,
                                 across_update_domains=across_update_domains, instance_ids=instance_ids,
                                 max_batches=max_batches)
    items = batch_items(batch)
    excluded = exclusions(instances, include_current, update_domains, instance_ids)
    skipped = set(e["instance_id"] for e in excluded)
    ordered = [i for i in order_by_phase(instances) if i["instance_id"] not in skipped]
    phased = any(i.get("app_phase") is not None for i in ordered)
    domain_sizes = {}
    for inst in instances:
        key = (inst.get("zone"), inst.get("update_domain"))
        domain_sizes[key] = domain_sizes.get(key, 0) + 1

    groups = []  # runs that may share a batch: one phase, one zone and one update domain (one zone when asked)
    for inst in ordered:
        place = (inst.get("zone"),) if items and across_update_domains else (inst.get("zone"), inst.get("update_domain"))
        key = (inst.get("app_phase"),) + place
        if not groups or groups[-1][0] != key:
            groups.append((key, []))
        groups[-1][1].append(inst)

    batches = []
    for key, members in groups:
        if items is None:
            batches.append(_make_batch(members, phased))
            continue
        base = len(instances) if across_update_domains else domain_sizes[key[1:]]
        start = 0
        while start < len(members):
            size = _resolve(items[min(len(batches), len(items) - 1)], base)
            if size is None:
                size = _rest_of_domain(members, start)
            batches.append(_make_batch(members[start:start + size], phased))
            start += size
    held_back = []
    if max_batches is not None and len(batches) > max_batches:
        reason = "left for a later run (%s: %d)" % (max_batches_name, max_batches)
        held_back = [{"instance_id": i, "reason": reason} for b in batches[max_batches:] for i in b["instance_ids"]]
        batches = batches[:max_batches]
    for number, item in enumerate(batches, 1):
        item["number"] = number
    return {"batches": batches, "excluded": excluded, "held_back": held_back}


def describe(result, scale_set, would_change_model=False):
    """The plan as lines of text: each batch with its update domains and instances, then the exclusions grouped by
    reason (one line per reason, not per instance)."""
    batches = result["batches"]
    count = sum(len(b["instance_ids"]) for b in batches)
    lines = ["Plan for %s%s: %d batch(es), %d instance(s)." % (
        scale_set, " (after the model change)" if would_change_model else "", len(batches), count)]
    phases = []
    for item in batches:
        if "phase" in item and item["phase"] not in phases:
            phases.append(item["phase"])
    if phases:
        lines.append("  Ordered by the phases the apps report (App Health custom metrics): %s." % ", then ".join(
            "phase %s" % p if p is not None else "instances reporting none" for p in phases))
    for index, item in enumerate(batches):
        lines.append("  Batch %d/%d: %s — instances %s" % (
            index + 1, len(batches), item["label"], ", ".join(item["instance_ids"])))
    for group in group_exclusions(list(result.get("excluded") or []) + list(result.get("held_back") or [])):
        lines.append("  Left out, %s: %d instance(s): %s" % (
            group["reason"], len(group["instance_ids"]), ", ".join(group["instance_ids"])))
    return lines


# --- Flexible scale sets and groups of plain VMs: batches by another placement key -------------------------------

# What a batch is "one domain" of, per key: Flexible sets have no update domains (fault domain and zone instead);
# plain VMs have their availability set's update domain, or their zone, or nothing (plain counts).
PLACEMENT_KEYS = ("update_domain", "fault_domain", "zone", "none")
_PLACEMENT_WORDS = {"update_domain": "update domain", "fault_domain": "fault domain"}


def is_flexible(instances):
    """True for the members of a Flexible scale set (vms.summarize_vm's kind): they plan by fault domain."""
    return bool(instances) and all(i.get("kind") == "flexible_member" for i in instances)


def plan_by_placement(instances, batch="update_domain", key="fault_domain", include_current=False, **kwargs):
    """plan() with ``key`` (PLACEMENT_KEYS) in the place of the update domain, never crossing a zone.

    ``batch`` takes the same forms; the per-domain word may be the key's own ("fault_domain", "zone"). ``key``
    "zone" makes each zone one domain, "none" lets counts run on through the zone. Batches carry
    ``placement_key`` and ``domains`` (the values of the key), labels name the key ("zone 2, fault domain 1").
    """
    if key not in PLACEMENT_KEYS:
        raise BatchError("batch_by must be one of %s, got %r." % (", ".join(PLACEMENT_KEYS), key))
    words = (key, "fault_domain", "zone")
    if isinstance(batch, str) and batch.strip().lower() in words:
        batch = "update_domain"
    elif isinstance(batch, (list, tuple)):
        batch = ["update_domain" if isinstance(b, str) and b.strip().lower() in words else b for b in batch]
    if key == "update_domain":
        return plan(instances, batch, include_current, **kwargs)
    moved = []
    for inst in instances:
        copy = dict(inst)
        copy["update_domain"] = inst.get(key) if key == "fault_domain" else None
        copy["kind"] = "placed by %s" % key  # planned as update domains below, once
        moved.append(copy)
    result = plan(moved, batch, include_current, **kwargs)
    for item in result["batches"]:
        item["placement_key"] = key
        item["domains"] = item.pop("update_domains")
        item["update_domains"] = []
        item["label"] = placement_label(item["zone"], key, item["domains"])
    return result


def placement_label(zone, key, domains):
    parts = ["zone %s" % zone] if zone else []
    if key in _PLACEMENT_WORDS and domains != [None]:
        parts.append("%s%s %s" % (_PLACEMENT_WORDS[key], "s" if len(domains) > 1 else "",
                                  ", ".join(str(d) for d in domains)))
    return ", ".join(parts) or "no zone"
