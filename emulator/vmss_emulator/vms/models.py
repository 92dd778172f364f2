"""Plain VMs and Flexible members: state and lookups, no HTTP. Raises ArmError, returns state objects.

A plain VM is a `VirtualMachine` holding its own model; its running side is a `state.Instance` (instance_id = the
VM's name) inside a hidden "group" `ScaleSet` that only the fleet sees: the group gives the VMs of one resource
group and load-balancer group their apps and one load balancer. Groups are never in `World.scale_sets`, so no
scale-set API lists them.

A member of a Flexible scale set is an `Instance` of that set whose instance_id is its VM name (`<set>_<8 hex>`);
it is served as a `Microsoft.Compute/virtualMachines` resource from the set's model (`MemberRef`).
"""
from __future__ import annotations

import copy
import hashlib
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from ..arm import ARM_NOT_FOUND_HINT, CONFLICT_MESSAGE, now_iso
from ..exceptions import ArmError
from ..state import Instance, ScaleSet, World

DEFAULT_GROUP = "vms"
AVSET_FAULT_DOMAINS = 2      # Azure's defaults for an availability set
AVSET_UPDATE_DOMAINS = 5
FLEX_ZONAL_FAULT_DOMAINS = 1


def is_flexible(ss: ScaleSet) -> bool:
    return str(ss.model.get("orchestrationMode") or "").lower() == "flexible"


@dataclass(eq=False)
class VirtualMachine:
    subscription: str
    resource_group: str
    name: str
    location: str
    properties: dict[str, Any]              # ARM "properties" without secrets and read-only members
    extensions: list[dict[str, Any]]        # [{name, properties}] without protectedSettings
    instance: Instance
    group: ScaleSet                         # the hidden fleet group (app port, load balancer)
    zones: list[str] = field(default_factory=list)
    tags: dict[str, Any] = field(default_factory=dict)
    etag: int = 1
    protected_settings: dict[str, Any] = field(default_factory=dict)   # write-only, by extension name
    profile: dict[str, Any] = field(default_factory=dict)   # the runtime snapshot (see runtime_profile)
    time_created: str = field(default_factory=now_iso)
    active_operation: str | None = None     # the LRO writing this VM (409 for others)
    deleting: bool = False
    availability_set: str | None = None     # its name, when in one
    upgrade_seconds: float | None = None
    fail_upgrade: bool = False               # scenario test hook: upgrades and creates end Failed

    @property
    def key(self) -> str:
        return f"{self.resource_group}/{self.name}"

    def event_fields(self) -> dict[str, str]:
        """How events name this VM (LRO events included: operations.py asks)."""
        return {"resource_group": self.resource_group, "vm": self.name}

    def latest_model_applied(self) -> bool:
        return self.instance.applied_model is self.profile

    def refresh_profile(self) -> bool:
        """A new runtime snapshot from the model; True when what runs on the VM (image, extensions) changed."""
        new = runtime_profile(self.properties, self.extensions)
        if new == self.profile:
            return False
        self.profile = new
        return True


def runtime_profile(properties: dict[str, Any], extensions: list[dict[str, Any]]) -> dict[str, Any]:
    """What an Instance runs, in the virtualMachineProfile shape the fleet and faults read (image, OS, extensions)."""
    return {"storageProfile": copy.deepcopy(properties.get("storageProfile") or {}),
            "osProfile": copy.deepcopy(properties.get("osProfile") or {}),
            "extensionProfile": {"extensions": copy.deepcopy(extensions)}}


@dataclass(frozen=True)
class MemberRef:
    """A Flexible set's member seen as a VM."""

    ss: ScaleSet
    inst: Instance

    @property
    def name(self) -> str:
        return self.inst.instance_id


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


def vm_not_found(name: str, rg: str) -> ArmError:
    return ArmError(404, "ResourceNotFound", f"The Resource 'Microsoft.Compute/virtualMachines/{name}' under resource "
                    f"group '{rg}' was not found. {ARM_NOT_FOUND_HINT}")


def parent_not_found(name: str) -> ArmError:
    return ArmError(404, "ParentResourceNotFound", "Can not perform requested operation on nested resource. "
                    f"Parent resource '{name}' not found.")


def ensure_vm_writable(vm: VirtualMachine) -> None:
    if vm.deleting:
        raise ArmError(409, "OperationNotAllowed", f"Operation on Virtual Machine '{vm.name}' is not allowed since it "
                       "is marked for deletion.")
    if vm.active_operation is not None or vm.instance.busy:
        raise ArmError(409, "Conflict", CONFLICT_MESSAGE)


class VmBackend:
    """One per app (app["vms"]): the plain VMs, their fleet groups, and lookups over Flexible members."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.vms: dict[tuple[str, str, str], VirtualMachine] = {}
        self.groups: dict[tuple[str, str, str], ScaleSet] = {}
        # availability sets seen (by sub, rg, name): how many VMs were ever placed there
        self.availability_sets: dict[tuple[str, str, str], int] = {}
        self.availability_set_names: dict[tuple[str, str, str], tuple[str, str]] = {}   # -> (rg, name) as given

    # ---- lookups -------------------------------------------------------------------------------------------
    def check_resource_group(self, sub: str, rg: str) -> None:
        if self.world.resource_group(sub, rg) is None:
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")

    def plain(self, sub: str, rg: str, name: str) -> VirtualMachine | None:
        return self.vms.get((sub.lower(), rg.lower(), name.lower()))

    def member(self, sub: str, rg: str, name: str) -> MemberRef | None:
        for ss in self.flexible_sets(sub, rg):
            for inst in ss.instances.values():
                if inst.instance_id.lower() == name.lower():
                    return MemberRef(ss, inst)
        return None

    def find(self, sub: str, rg: str, name: str, child: bool = False) -> VirtualMachine | MemberRef:
        self.check_resource_group(sub, rg)
        found = self.plain(sub, rg, name) or self.member(sub, rg, name)
        if found is None:
            raise parent_not_found(name) if child else vm_not_found(name, rg)
        return found

    def flexible_sets(self, sub: str, rg: str | None = None) -> list[ScaleSet]:
        return [ss for (s, r, _n), ss in self.world.scale_sets.items()
                if s == sub.lower() and (rg is None or r == rg.lower()) and is_flexible(ss)]

    def list(self, sub: str, rg: str | None = None) -> list[VirtualMachine | MemberRef]:
        """Plain VMs and Flexible members of a subscription or resource group (which must exist), by name."""
        if rg is not None:
            self.check_resource_group(sub, rg)
        items: list[VirtualMachine | MemberRef] = [
            vm for (s, r, _n), vm in self.vms.items() if s == sub.lower() and (rg is None or r == rg.lower())]
        for ss in self.flexible_sets(sub, rg):
            items.extend(MemberRef(ss, inst) for inst in ss.instances.values())
        return sorted(items, key=lambda v: (v.resource_group.lower() if isinstance(v, VirtualMachine)
                                            else v.ss.resource_group.lower(), v.name.lower()))

    def find_by_admin_name(self, rg: str, name: str) -> VirtualMachine | MemberRef | None:
        """By resource group and name in any subscription (the admin API's naming)."""
        for (_s, r, n), vm in self.vms.items():
            if r == rg.lower() and n == name.lower():
                return vm
        for (s, r, _n), ss in self.world.scale_sets.items():
            if r == rg.lower() and is_flexible(ss):
                ref = self.member(s, r, name)
                if ref is not None:
                    return ref
        return None

    def find_group(self, rg: str, name: str) -> ScaleSet | None:
        """A load-balancer group by resource group and name in any subscription (the admin API's naming)."""
        return next((g for (_s, r, n), g in self.groups.items() if r == rg.lower() and n == name.lower()), None)

    # ---- plain VMs ---------------------------------------------------------------------------------------
    def group_for(self, sub: str, rg: str, location: str, name: str, app: dict[str, Any] | None = None,
                  load_balancer: dict[str, Any] | None = None) -> tuple[ScaleSet, bool]:
        """The hidden fleet group (created when missing; the bool says so)."""
        key = (sub.lower(), rg.lower(), name.lower())
        group = self.groups.get(key)
        if group is not None:
            return group, False
        group = ScaleSet(subscription=sub, resource_group=rg, name=name, location=location,
                         sku={"name": "Standard_D2s_v3", "tier": "Standard", "capacity": 0}, zones=[],
                         model={"virtualMachineProfile": {}, "orchestrationMode": "VirtualMachines"},
                         app=dict(app or {}), load_balancer=dict(load_balancer or {}))
        self.groups[key] = group
        return group, True

    def place(self, sub: str, rg: str, availability_set: str | None, zones: list[str]) -> tuple[int, int, str | None]:
        """(update domain, fault domain, zone) of a new plain VM."""
        if availability_set:
            key = (sub.lower(), rg.lower(), availability_set.lower())
            self.availability_set_names.setdefault(key, (rg, availability_set))
            index = self.availability_sets.get(key, 0)
            self.availability_sets[key] = index + 1
            return index % AVSET_UPDATE_DOMAINS, index % AVSET_FAULT_DOMAINS, None
        return 0, 0, (zones[0] if zones else None)

    def add(self, vm: VirtualMachine) -> None:
        self.vms[(vm.subscription.lower(), vm.resource_group.lower(), vm.name.lower())] = vm
        vm.group.instances[vm.instance.instance_id] = vm.instance
        vm.group.sku["capacity"] = len(vm.group.instances)

    def remove(self, vm: VirtualMachine) -> bool:
        """Drops the VM; True when its group is now empty (and dropped too)."""
        self.vms.pop((vm.subscription.lower(), vm.resource_group.lower(), vm.name.lower()), None)
        vm.group.instances.pop(vm.instance.instance_id, None)
        vm.group.sku["capacity"] = len(vm.group.instances)
        if not vm.group.instances:
            self.groups.pop((vm.group.subscription.lower(), vm.group.resource_group.lower(),
                             vm.group.name.lower()), None)
            return True
        return False

    def clear(self) -> list[ScaleSet]:
        """Forget everything; returns the groups (the caller stops their fleet)."""
        groups = list(self.groups.values())
        self.vms.clear()
        self.groups.clear()
        self.availability_sets.clear()
        self.availability_set_names.clear()
        return groups

    def availability_set_list(self, sub: str, rg: str) -> list[tuple[str, str, list[VirtualMachine]]]:
        """(resource group, name, its VMs) of the availability sets of a resource group (which must exist)."""
        self.check_resource_group(sub, rg)
        out = []
        for (s, r, n), (rg_name, name) in sorted(self.availability_set_names.items()):
            if s == sub.lower() and r == rg.lower():
                members = [vm for vm in self.vms.values() if vm.subscription.lower() == s
                           and vm.resource_group.lower() == r and (vm.availability_set or "").lower() == n]
                out.append((rg_name, name, members))
        return out

    def upgrade_seconds(self, vm: VirtualMachine) -> float:
        return vm.upgrade_seconds if vm.upgrade_seconds is not None else self.world.settings.upgrade_seconds


def new_instance(name: str, placement: tuple[int, int, str | None], profile: dict[str, Any],
                 running: bool) -> Instance:
    ud, fd, zone = placement
    return Instance(instance_id=name, update_domain=ud, fault_domain=fd, zone=zone, applied_model=profile,
                    provisioning_state="Succeeded" if running else "Creating",
                    power_state="running" if running else "starting", vm_id=str(uuid.uuid4()),
                    started_at=time.time())


_ID_PATTERNS = {
    "availabilitySets": re.compile(r"/providers/microsoft\.compute/availabilitysets/([^/]+)$", re.I),
    "virtualMachineScaleSets": re.compile(
        r"^/subscriptions/([^/]+)/resourcegroups/([^/]+)/providers/microsoft\.compute/virtualmachinescalesets/([^/]+)$",
        re.I),
}


def availability_set_name(properties: dict[str, Any]) -> str | None:
    ref = (properties.get("availabilitySet") or {}).get("id")
    match = _ID_PATTERNS["availabilitySets"].search(ref or "")
    return match.group(1) if match else None


def scale_set_id_parts(set_id: str) -> tuple[str, str, str] | None:
    match = _ID_PATTERNS["virtualMachineScaleSets"].match(set_id.strip())
    return match.groups() if match else None  # type: ignore[return-value]
