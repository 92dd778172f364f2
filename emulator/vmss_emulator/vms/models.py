"""Plain VMs and Flexible members: state, lookups and every change, no HTTP. `VmBackend` takes plain values, raises
ArmError, returns state objects and the operations (LROs) it starts; the handlers in `responses.py` and `admin.py`
parse a request, call it and render what it returns.

A plain VM is a `VirtualMachine` holding its own model; its running side is a `state.Instance` (instance_id = the
VM's name) inside a hidden "group" `ScaleSet` that only the fleet sees: the group gives the VMs of one resource
group and load-balancer group their apps and one load balancer. Groups are never in `World.scale_sets`, so no
scale-set API lists them.

A member of a Flexible scale set is an `Instance` of that set whose instance_id is its VM name (`<set>_<8 hex>`);
it is served as a `Microsoft.Compute/virtualMachines` resource from the set's model (`MemberRef`).
"""
from __future__ import annotations

import copy
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Mapping

from .. import lifecycle as instance_lifecycle
from ..app_keys import EVENTS, FLEET, OPERATIONS
from ..arm import ARM_NOT_FOUND_HINT, CONFLICT_MESSAGE, invalid, now_iso
from ..exceptions import ArmError
from ..model import SECRET_OS_KEYS, deep_merge, fill_extension_defaults, property_change_not_allowed, put_over
from ..operations import Operation, OperationFailed
from ..state import VM_GROUP_MODE, Instance, ScaleSet, World
from . import lifecycle
from .flexible import is_flexible

DEFAULT_GROUP = "vms"
AVSET_FAULT_DOMAINS = 2      # Azure's defaults for an availability set
AVSET_UPDATE_DOMAINS = 5
FLEX_ZONAL_FAULT_DOMAINS = 1
READ_ONLY_PROPS = ("provisioningState", "vmId", "timeCreated", "instanceView", "latestModelApplied")

Work = Callable[[Operation], Awaitable[None]]


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


def vm_not_found(name: str, rg: str) -> ArmError:
    return ArmError(404, "ResourceNotFound", f"The Resource 'Microsoft.Compute/virtualMachines/{name}' under resource "
                    f"group '{rg}' was not found. {ARM_NOT_FOUND_HINT}")


def parent_not_found(name: str) -> ArmError:
    return ArmError(404, "ParentResourceNotFound", "Can not perform requested operation on nested resource. "
                    f"Parent resource '{name}' not found.")


def rg_prefix(sub: str, rg: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}"


def nic_id(sub: str, rg: str, name: str) -> str:
    return f"{rg_prefix(sub, rg)}/providers/Microsoft.Network/networkInterfaces/{name}"


def clean_properties(props: dict[str, Any], name: str, sub: str, rg: str) -> dict[str, Any]:
    """Defaults filled, secrets and read-only members dropped (in a copy)."""
    props = copy.deepcopy(props)
    for key in READ_ONLY_PROPS:
        props.pop(key, None)
    hardware = props.setdefault("hardwareProfile", {})
    hardware.setdefault("vmSize", "Standard_D2s_v3")
    storage = props.setdefault("storageProfile", {})
    storage.setdefault("imageReference", {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server",
                                          "version": "latest"})
    storage["imageReference"].pop("exactVersion", None)
    os_disk = storage.setdefault("osDisk", {})
    os_disk.setdefault("createOption", "FromImage")
    os_disk.setdefault("osType", "Windows" if "windows" in str(storage["imageReference"]).lower() else "Linux")
    os_disk.setdefault("name", f"{name}_OsDisk_1")
    storage.setdefault("dataDisks", [])
    os_profile = props.setdefault("osProfile", {})
    for key in SECRET_OS_KEYS:
        os_profile.pop(key, None)
    os_profile.setdefault("computerName", name)
    os_profile.setdefault("adminUsername", "azureuser")
    os_profile.setdefault("secrets", [])
    os_profile.setdefault("allowExtensionOperations", True)
    network = props.setdefault("networkProfile", {})
    if not network.get("networkInterfaces"):
        # the emulator's leniency: a VM without a NIC gets one (Azure would ask for it first)
        network["networkInterfaces"] = [{"id": nic_id(sub, rg, f"{name}-nic"), "properties": {"primary": True}}]
    return props


def check_vm_create_time(old: dict[str, Any], new: dict[str, Any]) -> None:
    if availability_set_name(old) != availability_set_name(new):
        raise property_change_not_allowed("availabilitySet")


def find_extension(vm: VirtualMachine, name: str) -> dict[str, Any] | None:
    return next((e for e in vm.extensions if e["name"].lower() == name.lower()), None)


def extension_missing(vm_name: str, rg: str, name: str) -> ArmError:
    return ArmError(404, "ResourceNotFound", f"The Resource 'Microsoft.Compute/virtualMachines/{vm_name}/extensions/"
                    f"{name}' under resource group '{rg}' was not found.")


def raise_failed(error: dict[str, Any] | None) -> None:
    """Ends an LRO as Failed with a VM operation's error (what lifecycle.run_vm_action returned), if any."""
    if error:
        raise OperationFailed({"code": error.get("code", "VMExtensionProvisioningError"),
                               "message": error.get("message", "The operation failed.")})


def ensure_vm_writable(vm: VirtualMachine) -> None:
    if vm.deleting:
        raise ArmError(409, "OperationNotAllowed", f"Operation on Virtual Machine '{vm.name}' is not allowed since it "
                       "is marked for deletion.")
    if vm.active_operation is not None or vm.instance.busy:
        raise ArmError(409, "Conflict", CONFLICT_MESSAGE)


class VmBackend:
    """One per app (app[VMS]): the plain VMs, their fleet groups, and lookups over Flexible members."""

    def __init__(self, world: World, runtime: Mapping[str, Any]) -> None:
        self.world = world
        # the collaborators of the LRO work (the app: "operations", "events", "fleet", "faults", "vms"), which
        # lifecycle.py takes; the backend never reads a request from it
        self.runtime = runtime
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

    def existing(self, sub: str, rg: str, name: str) -> VirtualMachine | MemberRef | None:
        """The plain VM or Flexible member of that name, or None; the resource group must exist."""
        self.check_resource_group(sub, rg)
        return self.plain(sub, rg, name) or self.member(sub, rg, name)

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
                         model={"virtualMachineProfile": {}, "orchestrationMode": VM_GROUP_MODE},
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

    def set_timing(self, vm: VirtualMachine, upgrade_seconds: float | None, fail_upgrade: bool) -> None:
        """The admin API's per-VM settings (checked by the caller)."""
        vm.upgrade_seconds = upgrade_seconds
        vm.fail_upgrade = fail_upgrade

    # ---- writes (each but new_vm starts the LRO that carries it out) -------------------------------------
    async def new_vm(self, sub: str, rg: str, name: str, location: str, props: dict[str, Any],
                     extensions: list[dict[str, Any]], zones: list[str], tags: dict[str, Any], running: bool,
                     group_name: str | None = None, app_options: dict[str, Any] | None = None,
                     lb_options: dict[str, Any] | None = None, secrets: dict[str, Any] | None = None) -> VirtualMachine:
        """A new plain VM in its fleet group; its app starts with the caller's create work (or
        lifecycle.start_vm, if running)."""
        props = clean_properties(props, name, sub, rg)
        avset = availability_set_name(props)
        group, created = self.group_for(sub, rg, location, group_name or avset or DEFAULT_GROUP, app_options,
                                        lb_options)
        profile = runtime_profile(props, extensions)
        inst = new_instance(name, self.place(sub, rg, avset, zones), profile, running=running)
        vm = VirtualMachine(subscription=sub, resource_group=self.world.resource_group(sub, rg).name, name=name,
                            location=location, properties=props, extensions=extensions, instance=inst, group=group,
                            zones=zones, tags=tags, profile=profile, availability_set=avset,
                            protected_settings=dict(secrets or {}))
        fleet = self.runtime[FLEET]
        inst.private_ip = fleet.allocate_ip(group, inst)
        self.add(vm)
        if created:   # the group's load balancer (hooks order: allocate_ip, scale_set_created, instance_started)
            await fleet.scale_set_created(group)
        return vm

    async def create_vm(self, sub: str, rg: str, name: str, location: str, props: dict[str, Any], zones: list[str],
                        tags: dict[str, Any]) -> tuple[VirtualMachine, Operation]:
        """A new plain VM (PUT), and the LRO that provisions it."""
        vm = await self.new_vm(sub, rg, name, location, props, [], zones, tags, running=False)
        self._record_write(vm, "VirtualMachines_CreateOrUpdate")
        return vm, self._start(vm, "VirtualMachines_CreateOrUpdate", self._run_vm(vm, "create"))

    def update_vm(self, vm: VirtualMachine, props: dict[str, Any], patch: bool, tags: dict[str, Any] | None,
                  zones: list[str] | None) -> Operation:
        """A PUT (over) or PATCH (merged) of an existing plain VM's properties; tags and zones None are kept. The
        LRO applies the model when what runs on the VM changed."""
        merged = deep_merge(vm.properties, props) if patch else put_over(vm.properties, props)
        new_props = clean_properties(merged, vm.name, vm.subscription, vm.resource_group)
        check_vm_create_time(vm.properties, new_props)
        if zones is not None and zones != vm.zones:
            raise property_change_not_allowed("zones")
        vm.properties = new_props
        if tags is not None:
            vm.tags = tags
        vm.etag += 1
        changed = vm.refresh_profile()
        operation = "VirtualMachines_Update" if patch else "VirtualMachines_CreateOrUpdate"
        self._record_write(vm, operation)
        return self._start(vm, operation, self._run_vm(vm, "vm_update", changed))

    def delete_vm(self, vm: VirtualMachine) -> Operation:
        ensure_vm_writable(vm)
        vm.deleting = True
        self._record_write(vm, "VirtualMachines_Delete")
        return self.runtime[OPERATIONS].start("VirtualMachines_Delete", vm.subscription, vm.location, vm,
                                              lambda op: lifecycle.delete_vm(self.runtime, vm), lock=False)

    def vm_action(self, vm: VirtualMachine, action: str, operation: str) -> Operation:
        """restart, redeploy, reimage, poweroff, deallocate or start of a plain VM."""
        ensure_vm_writable(vm)
        runtime = self.runtime

        async def work(op: Operation) -> None:
            if action in ("restart", "redeploy"):
                raise_failed(await lifecycle.run_vm_action(runtime, vm, "restart"))
            elif action == "reimage":
                raise_failed(await lifecycle.run_vm_action(runtime, vm, "reimage"))
            elif action in ("poweroff", "deallocate"):
                await instance_lifecycle.power_off(runtime, vm.group, vm.instance, deallocate=action == "deallocate")
            else:
                await instance_lifecycle.power_on(runtime, vm.group, vm.instance)

        return self._start(vm, operation, work)

    def write_extension(self, vm: VirtualMachine, name: str, given: dict[str, Any],
                        patch: bool) -> tuple[dict[str, Any], bool, Operation]:
        """A PUT or PATCH of a plain VM's extension `name` with the request's properties: (the extension as stored,
        whether it was created, the LRO that applies it when what runs on the VM changed)."""
        existing = find_extension(vm, name)
        if patch and existing is None:
            raise extension_missing(vm.name, vm.resource_group, name)
        name = existing["name"] if existing else name
        given = copy.deepcopy(given)
        if given.get("provisionAfterExtensions"):
            raise invalid("provisionAfterExtensions is a scale-set feature; a VM's extensions do not take it.",
                          target="properties.provisionAfterExtensions")
        secret = {k: given.pop(k) for k in ("protectedSettings", "protectedSettingsFromKeyVault") if k in given}
        props = deep_merge(existing.get("properties") or {}, given) if patch else given
        props = fill_extension_defaults(props)
        if existing is not None:
            for key in ("publisher", "type"):
                before = str((existing.get("properties") or {}).get(key) or "").lower()
                if before != str(props.get(key) or "").lower():
                    raise property_change_not_allowed(key)
        else:
            for key in ("publisher", "type", "typeHandlerVersion"):
                if not props.get(key):
                    raise invalid(f"Required parameter '{key}' is missing (null).", target=f"properties.{key}")
        new_ext = {"name": name, "properties": props}
        vm.extensions = [new_ext if e is existing else e for e in vm.extensions]
        if existing is None:
            vm.extensions.append(new_ext)
        if secret:
            vm.protected_settings[name] = secret
        vm.etag += 1
        changed = vm.refresh_profile() or bool(secret)
        operation = "VirtualMachineExtensions_" + ("Update" if patch else "CreateOrUpdate")
        self._record_write(vm, operation)
        return new_ext, existing is None, self._start(vm, operation, self._run_vm(vm, "vm_extension", changed))

    def delete_extension(self, vm: VirtualMachine, existing: dict[str, Any]) -> Operation:
        """Drops one of the VM's extensions (as find_extension returned it) and its protected settings."""
        ensure_vm_writable(vm)
        vm.extensions = [e for e in vm.extensions if e is not existing]
        vm.protected_settings.pop(existing["name"], None)
        vm.etag += 1
        changed = vm.refresh_profile()
        self._record_write(vm, "VirtualMachineExtensions_Delete")
        return self._start(vm, "VirtualMachineExtensions_Delete", self._run_vm(vm, "vm_extension", changed))

    def _run_vm(self, vm: VirtualMachine, operation: str, needed: bool = True) -> Work:
        """The work of an LRO that takes the VM through lifecycle.run_vm_action (nothing when not `needed`)."""
        runtime = self.runtime

        async def work(op: Operation) -> None:
            if needed:
                raise_failed(await lifecycle.run_vm_action(runtime, vm, operation))

        return work

    def _record_write(self, vm: VirtualMachine, operation: str) -> None:
        self.runtime[EVENTS].append("model_write", resource_group=vm.resource_group, vm=vm.name,
                                    operation=operation, etag=vm.etag)

    def _start(self, vm: VirtualMachine, kind: str, work: Work) -> Operation:
        """An LRO locking this VM (other writes to it -> 409) while `work` runs."""
        return self.runtime[OPERATIONS].start(kind, vm.subscription, vm.location, vm, work, lock=True)


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
