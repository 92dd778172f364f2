# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Health classification and threshold math over instance summaries (pure)."""

from __future__ import annotations

__metaclass__ = type

HEALTH_STATES = ("healthy", "unhealthy", "unknown", "initializing")
TRANSITIONAL_PROVISIONING = ("creating", "updating", "deleting", "migrating")


def health_from_instance_view(instance_view):
    """App Health state from an instance view: healthy|unhealthy|unknown|initializing, or None when not reported."""
    code = (((instance_view or {}).get("vmHealth") or {}).get("status") or {}).get("code") or ""
    if not code:
        return None
    state = code.split("/", 1)[-1].strip().lower()
    return state if state in HEALTH_STATES else "unknown"


def is_updating(summary):
    return (summary.get("provisioning_state") or "").lower() in TRANSITIONAL_PROVISIONING


def is_failed(summary):
    return (summary.get("provisioning_state") or "").lower() == "failed"


def is_settled(summary):
    """Done changing: not mid-operation and App Health past its grace period (not initializing)."""
    return not is_updating(summary) and summary.get("health_state") != "initializing"


def rollout_unhealthy_ids(summaries):
    """Ids a rollout's thresholds count as unhealthy, in input order: App Health unhealthy or unknown (unknown
    counts, as in Azure's own rolling upgrades) or a failed provisioning. An instance without App Health or a
    stopped one is not counted, so a set with deallocated standby instances can still be rolled."""
    return [s["instance_id"] for s in summaries
            if s.get("health_state") in ("unhealthy", "unknown")
            or is_failed(s)]


def percent(part, whole):
    return 0.0 if not whole else 100.0 * part / whole


def exceeds(bad, total, max_percent):
    """True when ``bad`` out of ``total`` is more than ``max_percent`` percent (integer-exact, no float drift)."""
    return bad * 100 > max_percent * total
