"""How the members of a Flexible scale set are named and placed. Its own module (state only) so that `lifecycle.py`,
which creates them, and `models.py`, whose backend runs lifecycle work, need not import each other."""
from __future__ import annotations

import hashlib

from ..state import ScaleSet


def is_flexible(ss: ScaleSet) -> bool:
    return str(ss.model.get("orchestrationMode") or "").lower() == "flexible"


def member_name(resource_group: str, set_name: str, index: int) -> str:
    """`{set}_{8 hex}` as Azure names Flexible members; the suffix is the start of sha256("{rg}/{set}/{index}")
    (resource group and set lower-cased), so a scenario or a test can name a member before it exists."""
    digest = hashlib.sha256(f"{resource_group.lower()}/{set_name.lower()}/{index}".encode()).hexdigest()
    return f"{set_name}_{digest[:8]}"


def new_member_name(ss: ScaleSet, index: int) -> str:
    name = member_name(ss.resource_group, ss.name, index)
    while name in ss.instances:   # practically never: another index's hash collided
        index += 1_000_000
        name = member_name(ss.resource_group, ss.name, index)
    return name


def flexible_placement(ss: ScaleSet, index: int) -> tuple[int, str | None]:
    """(fault domain, zone) of a Flexible set's index-th member: round robin over zones, then over the fault domains
    (platformFaultDomainCount; 1 means "spread as the platform likes", reported as fault domain 0)."""
    count = int(ss.model.get("platformFaultDomainCount") or 1)
    if ss.zones:
        slot = index // len(ss.zones)
        return slot % count, ss.zones[index % len(ss.zones)]
    return index % count, None
