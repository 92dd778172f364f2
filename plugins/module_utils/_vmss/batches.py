# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Batch planning for rolling upgrades (pure).

Instances are walked zone by zone, update domain by update domain inside a zone, instance id inside a
domain. A batch never holds two zones. ``batch`` is one of:

* ``"update_domain"`` (default): one batch per update domain (per zone);
* an int N: N instances per batch;
* ``"N%"``: N percent of the whole scale set per batch (rounded down, at least 1);
* a ramp, a list of sizes (ints or "N%") such as ``[1, "10%", "25%"]``: batch k has the k-th size and the
  last size repeats.

Protected instances and, unless asked otherwise, those already on the latest model are left out and
reported with the reason.
"""

from __future__ import annotations

__metaclass__ = type

import re

from ansible_collections.vmss.rollout.plugins.module_utils._vmss.instances import sort_instances

BATCH_FORMS = ('"update_domain", a positive integer, a percentage such as "20%", '
               'or a list of those (a ramp, e.g. [1, "10%", "25%"])')
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


class BatchError(ValueError):
    """Invalid ``batch`` value; the message names the option and the allowed forms."""


def _size(spec, total):
    """One batch size from an int, a digit string or "N%" (of ``total`` instances)."""
    if isinstance(spec, bool):
        raise BatchError("batch %r is not allowed: use %s." % (spec, BATCH_FORMS))
    if isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit()):
        size = int(spec)
        if size < 1:
            raise BatchError("batch size must be at least 1, got %r." % spec)
        return size
    match = _PERCENT.match(spec) if isinstance(spec, str) else None
    if not match:
        raise BatchError("batch %r is not allowed: use %s." % (spec, BATCH_FORMS))
    value = float(match.group(1))
    if not 0 < value <= 100:
        raise BatchError("batch percentage must be above 0%% and at most 100%%, got %r." % spec)
    return max(1, int(total * value // 100))


def batch_sizes(batch, total):
    """The sizes to use (last repeats), or None for per-update-domain batches. Validates ``batch``."""
    if batch is None or (isinstance(batch, str) and batch.strip().lower() in ("update_domain", "ud", "")):
        return None
    if isinstance(batch, (list, tuple)):
        if not batch:
            raise BatchError("batch must not be an empty list: use %s." % BATCH_FORMS)
        return [_size(item, total) for item in batch]
    return [_size(batch, total)]


def exclusions(instances, include_current=False):
    """[{instance_id, reason}] for instances a rollout must leave alone."""
    excluded = []
    for inst in sort_instances(instances):
        if inst.get("protected"):
            excluded.append({"instance_id": inst["instance_id"], "reason": "protected from scale-set actions"})
        elif inst.get("latest_model_applied") and not include_current:
            excluded.append({"instance_id": inst["instance_id"], "reason": "already on the latest model"})
    return excluded


def _label(zone, domains):
    uds = "update domain%s %s" % ("s" if len(domains) > 1 else "", ", ".join(str(d) for d in domains))
    return "zone %s, %s" % (zone, uds) if zone else uds


def _make_batch(members):
    zone = members[0].get("zone")
    domains = []
    for inst in members:
        if inst.get("update_domain") not in domains:
            domains.append(inst.get("update_domain"))
    return {"zone": zone, "update_domains": domains, "instance_ids": [m["instance_id"] for m in members],
            "label": _label(zone, domains)}


def plan(instances, batch="update_domain", include_current=False):
    """{'batches': [{number, zone, update_domains, instance_ids, label}], 'excluded': [...]}.

    ``instances`` are instance summaries (vmss_info ``instances``). Percentages are of the whole set.
    """
    total = len(instances)
    sizes = batch_sizes(batch, total)
    skipped = set(e["instance_id"] for e in exclusions(instances, include_current))
    ordered = [i for i in sort_instances(instances) if i["instance_id"] not in skipped]

    groups = []  # runs that may share a batch: one zone (per-UD mode: one zone and one update domain)
    for inst in ordered:
        key = (inst.get("zone"),) if sizes else (inst.get("zone"), inst.get("update_domain"))
        if not groups or groups[-1][0] != key:
            groups.append((key, []))
        groups[-1][1].append(inst)

    batches = []
    for _key, members in groups:
        if sizes is None:
            batches.append(_make_batch(members))
            continue
        start = 0
        while start < len(members):
            size = sizes[min(len(batches), len(sizes) - 1)]
            batches.append(_make_batch(members[start:start + size]))
            start += size
    for number, item in enumerate(batches, 1):
        item["number"] = number
    return {"batches": batches, "excluded": exclusions(instances, include_current)}
