"""The scenario key `virtual_machines`: plain VMs, running from the start (checked whole before anything is added)."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable

from aiohttp import web

from ..app_keys import DEFAULT_SUBSCRIPTION, EVENTS, FLEET, LOCKS, VMS, WORLD
from ..model import check_extension, fill_extension_defaults
from ..state import ResourceGroup
from . import lifecycle
from ..lock_models import LEVELS
from .locks import vm_scope
from .render import rg_prefix

VM_KEYS = {"name", "resource_group", "subscription", "location", "size", "image", "zones", "availability_set",
           "extensions", "tags", "os_profile", "properties", "app", "load_balancer", "load_balancer_group",
           "upgrade_seconds", "fail_upgrade", "locks"}
DEFAULT_LOCATION = "westeurope"


@dataclass
class PlannedVm:
    sub: str
    rg: str
    name: str
    location: str
    props: dict[str, Any]
    extensions: list[dict[str, Any]]
    secrets: dict[str, Any]
    zones: list[str]
    tags: dict[str, Any]
    group: str | None
    app: dict[str, Any] = field(default_factory=dict)
    load_balancer: dict[str, Any] = field(default_factory=dict)
    upgrade_seconds: float | None = None
    fail_upgrade: bool = False
    locks: list[dict[str, Any]] = field(default_factory=list)   # [{name, level, notes}] at the VM's scope


def plan(app: web.Application, specs: Any, groups: list[ResourceGroup], set_names: set[tuple[str, str, str]],
         fail: Callable[[str], Exception]) -> list[PlannedVm]:
    """Check every VM of the scenario; `fail(message)` makes the scenario's error."""
    if specs is None:
        return []
    if not isinstance(specs, list):
        raise fail("virtual_machines must be a list of mappings")
    planned: list[PlannedVm] = []
    seen: set[tuple[str, str, str]] = set()
    for index, spec in enumerate(specs):
        planned.append(_plan_one(app, spec, f"virtual_machines[{index}]", groups, set_names, seen, fail))
    return planned


def _plan_one(app, spec, where, groups, set_names, seen, fail) -> PlannedVm:
    def require(cond: bool, message: str) -> None:
        if not cond:
            raise fail(message)

    require(isinstance(spec, dict), f"{where} must be a mapping")
    unknown = set(spec) - VM_KEYS
    require(not unknown, f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(VM_KEYS)}")
    for key in ("name", "resource_group"):
        require(isinstance(spec.get(key), str) and spec[key], f"{where}.{key} must be a non-empty string")
    sub = str(spec.get("subscription") or app[DEFAULT_SUBSCRIPTION])
    key = (sub.lower(), spec["resource_group"].lower(), spec["name"].lower())
    backend = app[VMS]
    require(key not in seen and backend.plain(sub, spec["resource_group"], spec["name"]) is None
            and backend.member(sub, spec["resource_group"], spec["name"]) is None,
            f"{where}: virtual machine {spec['resource_group']}/{spec['name']} already exists (reset first)")
    seen.add(key)
    rg = app[WORLD].resource_group(sub, spec["resource_group"]) or next(
        (g for g in groups if g.name.lower() == spec["resource_group"].lower() and g.subscription == sub), None)
    location = str(spec.get("location") or (rg.location if rg else DEFAULT_LOCATION))
    props = copy.deepcopy(spec.get("properties") or {})
    require(isinstance(props, dict), f"{where}.properties must be a mapping (ARM VM properties)")
    if spec.get("size") is not None:
        require(isinstance(spec["size"], str), f"{where}.size must be a VM size name")
        props.setdefault("hardwareProfile", {})["vmSize"] = spec["size"]
    if spec.get("image") is not None:
        require(isinstance(spec["image"], dict), f"{where}.image must be an ARM imageReference mapping")
        props.setdefault("storageProfile", {})["imageReference"] = copy.deepcopy(spec["image"])
    if spec.get("os_profile") is not None:
        require(isinstance(spec["os_profile"], dict), f"{where}.os_profile must be an ARM osProfile mapping")
        props["osProfile"] = copy.deepcopy(spec["os_profile"])
    avset = spec.get("availability_set")
    require(avset is None or (isinstance(avset, str) and avset), f"{where}.availability_set must be a name")
    zones = spec.get("zones") or []
    require(isinstance(zones, list) and all(isinstance(z, (str, int)) for z in zones) and len(zones) <= 1,
            f"{where}.zones must be a list of one zone")
    require(not (avset and zones), f"{where}: a VM is in an availability set or in a zone, not both")
    if avset:
        props["availabilitySet"] = {"id": f"{rg_prefix(sub, rg.name if rg else spec['resource_group'])}/providers/"
                                          f"Microsoft.Compute/availabilitySets/{avset}"}
    raw_exts = spec.get("extensions") or []
    require(isinstance(raw_exts, list), f"{where}.extensions must be a list of {{name, properties}}")
    extensions, secrets = [], {}
    for i, ext in enumerate(raw_exts):
        try:
            check_extension(ext, f"{where}.extensions[{i}]", name_required=True)
        except Exception as exc:  # ArmError: its message names the key
            raise fail(f"{where}: {getattr(exc, 'message', exc)}") from None
        ext_props = copy.deepcopy(ext.get("properties") or {})
        secret = {k: ext_props.pop(k) for k in ("protectedSettings", "protectedSettingsFromKeyVault") if k in ext_props}
        if secret:
            secrets[ext["name"]] = secret
        extensions.append({"name": ext["name"], "properties": fill_extension_defaults(ext_props)})
    require(len({e["name"].lower() for e in extensions}) == len(extensions),
            f"{where}.extensions names the same extension twice")
    for key in ("app", "load_balancer", "tags"):
        require(isinstance(spec.get(key) or {}, dict), f"{where}.{key} must be a mapping")
    check_fleet_options = getattr(app[FLEET], "validate_options", None)
    if check_fleet_options is not None:
        try:
            check_fleet_options(spec.get("app"), spec.get("load_balancer"))
        except ValueError as exc:
            raise fail(f"{where}: {exc}") from None
    group = spec.get("load_balancer_group")
    require(group is None or (isinstance(group, str) and group), f"{where}.load_balancer_group must be a name")
    group_name = group or avset or "vms"
    require((sub.lower(), spec["resource_group"].lower(), group_name.lower()) not in set_names,
            f"{where}: load balancer group '{group_name}' has the name of a scale set in its resource group; "
            "set load_balancer_group")
    upgrade_seconds = spec.get("upgrade_seconds")
    require(upgrade_seconds is None or (isinstance(upgrade_seconds, (int, float)) and not isinstance(
        upgrade_seconds, bool) and upgrade_seconds >= 0), f"{where}.upgrade_seconds must be a non-negative number")
    require(isinstance(spec.get("fail_upgrade", False), bool), f"{where}.fail_upgrade must be true or false")
    locks = spec.get("locks") or []
    require(isinstance(locks, list) and all(
        isinstance(lock, dict) and isinstance(lock.get("name"), str) and lock["name"] and lock.get("level") in LEVELS
        and set(lock) <= {"name", "level", "notes"} for lock in locks),
        f"{where}.locks must be a list of {{name, level ({' or '.join(LEVELS)}), notes}}")
    return PlannedVm(sub, rg.name if rg else spec["resource_group"], spec["name"], location, props, extensions, secrets,
                     [str(z) for z in zones], dict(spec.get("tags") or {}), group_name, dict(spec.get("app") or {}),
                     dict(spec.get("load_balancer") or {}), upgrade_seconds, bool(spec.get("fail_upgrade", False)),
                     [dict(lock) for lock in locks])


async def apply(app: web.Application, planned: list[PlannedVm]) -> list[str]:
    world, backend, added = app[WORLD], app[VMS], []
    for p in planned:
        if world.resource_group(p.sub, p.rg) is None:
            world.resource_groups[(p.sub.lower(), p.rg.lower())] = ResourceGroup(p.sub, p.rg, p.location)
        vm = await backend.new_vm(p.sub, p.rg, p.name, p.location, p.props, p.extensions, p.zones, p.tags,
                                  running=True, group_name=p.group, app_options=p.app, lb_options=p.load_balancer,
                                  secrets=p.secrets)
        backend.set_timing(vm, p.upgrade_seconds, p.fail_upgrade)
        for lock in p.locks:
            app[LOCKS].put(vm_scope(vm.subscription, vm.resource_group, vm.name), lock["name"], lock["level"],
                           {"resource_group": vm.resource_group, "vm": vm.name}, lock.get("notes"))
        app[EVENTS].append("model_write", resource_group=vm.resource_group, vm=vm.name, operation="scenario",
                           etag=vm.etag)
        await lifecycle.start_vm(app, vm)
        added.append(vm.key)
    return added
