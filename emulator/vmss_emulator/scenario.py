"""Scenarios (YAML or JSON): timings, principals, resource groups and running scale sets, added to the world."""
from __future__ import annotations

import copy
from typing import Any

import yaml
from aiohttp import web

from . import lifecycle
from .app_keys import DEFAULT_SUBSCRIPTION, EVENTS, FLEET, WORLD
from .arm import now_iso
from .exceptions import ArmError
from .model import check_resource, fill_defaults, network_ids, split_secrets, validate_extension_order, \
    validate_health_signal
from .state import Principal, ResourceGroup, ScaleSet
from .vms import scenario as vm_scenario
from .wire import check_members

SCALE_SET_KEYS = {"name", "resource_group", "subscription", "location", "capacity", "sku", "zones", "upgrade_policy",
                  "image", "extensions", "upgrade_seconds", "protected_instances", "app", "load_balancer", "tags",
                  "fail_upgrade_instances", "os_profile", "properties", "orchestration_mode",
                  "platform_fault_domain_count"}
TOP_KEYS = {"config", "principals", "resource_groups", "scale_sets", "virtual_machines"}
DEFAULT_LOCATION = "westeurope"


class ScenarioError(ValueError):
    """A scenario that cannot be loaded; the message names the key and what is allowed."""


def parse(text: str | bytes) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text) if text else {}
    except yaml.YAMLError as exc:
        raise ScenarioError(f"scenario is neither valid YAML nor JSON: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ScenarioError("scenario must be a mapping with keys: " + ", ".join(sorted(TOP_KEYS)))
    return data


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise ScenarioError(message)


async def load(app: web.Application, data: dict[str, Any]) -> dict[str, Any]:
    """Check the whole scenario first, then apply it; returns what was added."""
    world = app[WORLD]
    unknown = set(data) - TOP_KEYS
    _require(not unknown, f"unknown scenario key(s) {sorted(unknown)}; allowed: {sorted(TOP_KEYS)}")
    config = data.get("config") or {}
    _require(isinstance(config, dict), "scenario 'config' must be a mapping")
    settings = copy.deepcopy(world.settings)
    try:
        settings.merge(config)
    except ValueError as exc:
        raise ScenarioError(str(exc)) from None
    principals = [_principal(p, i) for i, p in enumerate(data.get("principals") or [])]
    default_sub = app[DEFAULT_SUBSCRIPTION]
    groups: list[ResourceGroup] = []
    for i, rg in enumerate(data.get("resource_groups") or []):
        _require(isinstance(rg, dict) and isinstance(rg.get("name"), str) and rg["name"],
                 f"resource_groups[{i}] needs a 'name' (string)")
        groups.append(ResourceGroup(str(rg.get("subscription") or default_sub), rg["name"],
                                    str(rg.get("location") or DEFAULT_LOCATION), dict(rg.get("tags") or {})))
    planned = [_scale_set(app, spec, i, groups) for i, spec in enumerate(data.get("scale_sets") or [])]
    set_names = {(s.subscription.lower(), s.resource_group.lower(), s.name.lower()) for s, _c, _p in planned}
    set_names.update(world.scale_sets)
    planned_vms = vm_scenario.plan(app, data.get("virtual_machines"), groups, set_names, ScenarioError)
    # everything checked: apply
    world.settings = settings
    world.principals.extend(principals)
    for rg in groups:
        world.resource_groups[(rg.subscription.lower(), rg.name.lower())] = rg
    added = []
    for ss, capacity, protected in planned:
        if world.resource_group(ss.subscription, ss.resource_group) is None:
            world.resource_groups[(ss.subscription.lower(), ss.resource_group.lower())] = ResourceGroup(
                ss.subscription, ss.resource_group, ss.location)
        world.add_scale_set(ss)
        for _index in range(capacity):
            inst = lifecycle.new_instance(app, ss, running=True)
            inst.protected = inst.instance_id in protected
        ss.sku["capacity"] = capacity
        app[EVENTS].append("model_write", resource_group=ss.resource_group, vmss=ss.name, operation="scenario",
                           etag=ss.etag)
        await lifecycle.start_scale_set(app, ss)
        added.append(ss.key)
    added_vms = await vm_scenario.apply(app, planned_vms)
    return {"scale_sets": added, "virtual_machines": added_vms, "resource_groups": [g.name for g in groups],
            "principals": len(principals)}


def _principal(spec: Any, index: int) -> Principal:
    where = f"principals[{index}]"
    _require(isinstance(spec, dict), f"{where} must be a mapping with tenant, client_id, secret, subscriptions")
    for key in ("tenant", "client_id", "secret"):
        _require(isinstance(spec.get(key), str) and spec[key], f"{where}.{key} must be a non-empty string")
    subs = spec.get("subscriptions", ["*"])
    _require(isinstance(subs, list) and all(isinstance(s, str) for s in subs),
             f"{where}.subscriptions must be a list of subscription ids or [\"*\"]")
    return Principal(spec["tenant"], spec["client_id"], spec["secret"], list(subs))


def _upgrade_policy(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {"mode": "Manual"}
    if isinstance(value, str):
        return {"mode": value}
    _require(isinstance(value, dict), f"{where}.upgrade_policy must be Manual|Automatic|Rolling or an ARM "
                                      "upgradePolicy object")
    return copy.deepcopy(value)


def _scale_set(app: web.Application, spec: Any, index: int, groups: list[ResourceGroup]) -> tuple[ScaleSet, int, set]:
    where = f"scale_sets[{index}]"
    _require(isinstance(spec, dict), f"{where} must be a mapping")
    unknown = set(spec) - SCALE_SET_KEYS
    _require(not unknown, f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(SCALE_SET_KEYS)}")
    for key in ("name", "resource_group"):
        _require(isinstance(spec.get(key), str) and spec[key], f"{where}.{key} must be a non-empty string")
    world = app[WORLD]
    sub = str(spec.get("subscription") or app[DEFAULT_SUBSCRIPTION])
    _require(world.scale_set(sub, spec["resource_group"], spec["name"]) is None,
             f"{where}: scale set {spec['resource_group']}/{spec['name']} already exists (reset first)")
    rg = world.resource_group(sub, spec["resource_group"]) or next(
        (g for g in groups if g.name.lower() == spec["resource_group"].lower() and g.subscription == sub), None)
    location = spec.get("location") or (rg.location if rg else DEFAULT_LOCATION)
    capacity = spec.get("capacity", 2)
    _require(isinstance(capacity, int) and not isinstance(capacity, bool) and 0 <= capacity <= 1000,
             f"{where}.capacity must be an integer from 0 to 1000")
    props = copy.deepcopy(spec.get("properties") or {})
    mode = spec.get("orchestration_mode")
    _require(mode in (None, "Uniform", "Flexible"), f"{where}.orchestration_mode must be Uniform or Flexible")
    if mode is not None:
        props["orchestrationMode"] = mode
    fd_count = spec.get("platform_fault_domain_count", 1 if mode == "Flexible" else None)
    _require(fd_count is None or (isinstance(fd_count, int) and not isinstance(fd_count, bool) and 1 <= fd_count <= 5),
             f"{where}.platform_fault_domain_count must be an integer from 1 to 5")
    if fd_count is not None:
        props["platformFaultDomainCount"] = fd_count
    props["upgradePolicy"] = _upgrade_policy(spec.get("upgrade_policy"), where) if "upgrade_policy" in spec \
        else props.get("upgradePolicy", {"mode": "Manual"})
    profile = props.setdefault("virtualMachineProfile", {})
    if spec.get("image") is not None:
        _require(isinstance(spec["image"], dict), f"{where}.image must be an ARM imageReference mapping")
        profile.setdefault("storageProfile", {})["imageReference"] = copy.deepcopy(spec["image"])
    if spec.get("os_profile") is not None:
        profile["osProfile"] = copy.deepcopy(spec["os_profile"])
    if spec.get("extensions") is not None:
        _require(isinstance(spec["extensions"], list), f"{where}.extensions must be a list of {{name, properties}}")
        profile["extensionProfile"] = {"extensions": copy.deepcopy(spec["extensions"])}
    sku = spec.get("sku") or "Standard_D2s_v3"
    sku = {"name": sku, "tier": "Standard"} if isinstance(sku, str) else dict(sku)
    body = {"location": location, "sku": {**sku, "capacity": capacity}, "properties": props}
    for key in ("zones", "tags"):  # optional here: null means none (check_resource refuses a null as in a PUT)
        if spec.get(key) is not None:
            body[key] = spec[key]
    try:
        check_members(body, "VirtualMachineScaleSet")
        check_resource(body, creating=True)
        props = fill_defaults(props, network_ids(sub, rg.name if rg else spec["resource_group"], spec["name"]))
        clean, secrets = split_secrets(props["virtualMachineProfile"])
        validate_extension_order(spec["name"], clean["extensionProfile"]["extensions"])
        validate_health_signal(props)
    except ArmError as exc:
        raise ScenarioError(f"{where}: {exc.details[0]['message'] if exc.details else exc.message}") from None
    props["virtualMachineProfile"] = clean
    props["timeCreated"] = now_iso()
    for key in ("protected_instances", "fail_upgrade_instances"):
        _require(isinstance(spec.get(key, []), list), f"{where}.{key} must be a list of instance ids")
    upgrade_seconds = spec.get("upgrade_seconds")
    _require(upgrade_seconds is None or (isinstance(upgrade_seconds, (int, float)) and upgrade_seconds >= 0),
             f"{where}.upgrade_seconds must be a non-negative number")
    for key in ("app", "load_balancer"):
        _require(isinstance(spec.get(key) or {}, dict), f"{where}.{key} must be a mapping")
    check_fleet_options = getattr(app[FLEET], "validate_options", None)   # part 2 knows the keys and ranges
    if check_fleet_options is not None:
        try:
            check_fleet_options(spec.get("app"), spec.get("load_balancer"))
        except ValueError as exc:
            raise ScenarioError(f"{where}: {exc}") from None
    ss = ScaleSet(subscription=sub, resource_group=rg.name if rg else spec["resource_group"], name=spec["name"],
                  location=location, sku={**sku, "capacity": capacity}, zones=[str(z) for z in spec.get("zones") or []],
                  model=props, tags=dict(spec.get("tags") or {}), upgrade_seconds=upgrade_seconds,
                  app=dict(spec.get("app") or {}), load_balancer=dict(spec.get("load_balancer") or {}),
                  protected_settings=secrets,
                  fail_upgrade_instances={str(i) for i in spec.get("fail_upgrade_instances") or []})
    return ss, capacity, {str(i) for i in spec.get("protected_instances") or []}
