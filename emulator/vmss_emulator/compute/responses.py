"""Microsoft.Compute (and resource groups): the ARM handlers. Their routes are in `urls.py`.

Each handler gets (request, match groups) and returns a response or raises ArmError.
"""
from __future__ import annotations

import asyncio
import copy
import re
from typing import Any, Awaitable, Callable

from aiohttp import web

from .. import lifecycle, rolling, wire
from ..arm import CONFLICT_MESSAGE, expect_type, invalid, json_response, now_iso, page, read_json
from ..exceptions import ArmError
from ..model import check_create_time, check_extension, check_resource, deep_merge, fill_defaults, \
    fill_extension_defaults, network_ids, put_over, render_extension, split_secrets, validate_extension_order, \
    validate_health_signal
from ..operations import OperationFailed, Operation
from ..render import instance_view, render_extensions, render_vm, render_vmss, scale_set_instance_view, vmss_id
from ..state import Instance, ResourceGroup, ScaleSet
from ..wire import check_members
from .models import ComputeBackend, ensure_writable, extension_missing, find_extension, instance

SS_ACTIONS = {"manualupgrade": "VirtualMachineScaleSets_UpdateInstances", "reimage": "VirtualMachineScaleSets_Reimage",
              "reimageall": "VirtualMachineScaleSets_ReimageAll", "restart": "VirtualMachineScaleSets_Restart",
              "start": "VirtualMachineScaleSets_Start", "poweroff": "VirtualMachineScaleSets_PowerOff",
              "deallocate": "VirtualMachineScaleSets_Deallocate", "redeploy": "VirtualMachineScaleSets_Redeploy",
              "delete": "VirtualMachineScaleSets_DeleteInstances"}
VM_ACTIONS = {"reimage": "VirtualMachineScaleSetVMs_Reimage", "reimageall": "VirtualMachineScaleSetVMs_ReimageAll",
              "restart": "VirtualMachineScaleSetVMs_Restart", "start": "VirtualMachineScaleSetVMs_Start",
              "poweroff": "VirtualMachineScaleSetVMs_PowerOff", "deallocate": "VirtualMachineScaleSetVMs_Deallocate",
              "redeploy": "VirtualMachineScaleSetVMs_Redeploy"}
# the request type of each scale-set action's body (the others take VirtualMachineScaleSetVMInstanceIDs)
ACTION_BODIES = {"manualupgrade": "VirtualMachineScaleSetVMInstanceRequiredIDs",
                 "delete": "VirtualMachineScaleSetVMInstanceRequiredIDs",
                 "reimage": "VirtualMachineScaleSetReimageParameters"}
_INSTANCE_ID = re.compile(r"^\d+$")


# ---------------------------------------------------------------- lookups and guards


def backend(request: web.Request) -> ComputeBackend:
    return request.app["compute"]


def resource_group(request: web.Request, m: dict[str, str]) -> ResourceGroup:
    return backend(request).resource_group(m["sub"], m["rg"])


def scale_set(request: web.Request, m: dict[str, str], child: bool = False) -> ScaleSet:
    return backend(request).scale_set(m["sub"], m["rg"], m["vmss"], child=child)


def check_preconditions(request: web.Request, ss: ScaleSet | None) -> None:
    if_match = request.headers.get("If-Match")
    if_none_match = request.headers.get("If-None-Match")
    current = f'"{ss.etag}"' if ss else None
    if if_match is not None:
        wanted = if_match.strip()
        if ss is None or (wanted != "*" and wanted.strip('"') != str(ss.etag)):
            raise ArmError(412, "PreconditionFailed", f"Etag provided in if-match header {wanted} does not match etag "
                           f"{current} of resource." if ss else "The resource does not exist (If-Match).")
    if if_none_match is not None and ss is not None:
        wanted = if_none_match.strip()
        if wanted == "*" or wanted.strip('"') == str(ss.etag):
            raise ArmError(412, "PreconditionFailed", f"Etag provided in if-none-match header {wanted} matches etag "
                           f"{current} of resource: the resource already exists.")


def _expand_instance_view(request: web.Request) -> bool:
    return "instanceview" in request.query.get("$expand", "").lower()


def lro_created(request: web.Request, op: Operation, body: dict[str, Any], status: int) -> web.Response:
    headers = request.app["operations"].headers(request, op, with_location=False)
    return json_response(body, status=status, headers=headers)


def start_op(request: web.Request, kind: str, ss: ScaleSet | None, work, lock: bool = True) -> Operation:
    location = ss.location if ss else "westeurope"
    sub = ss.subscription if ss else request.match_info.get("sub", "")
    return request.app["operations"].start(kind, sub, location, ss, work, lock=lock)


# ---------------------------------------------------------------- resource groups


def render_rg(rg: ResourceGroup) -> dict[str, Any]:
    return {"id": f"/subscriptions/{rg.subscription}/resourceGroups/{rg.name}", "name": rg.name,
            "type": "Microsoft.Resources/resourceGroups", "location": rg.location, "tags": rg.tags,
            "properties": {"provisioningState": "Succeeded"}}


async def rg_put(request: web.Request, m: dict[str, str]) -> web.Response:
    body = await read_json(request)
    check_members(body, wire.RESOURCE_GROUP)
    expect_type(body, dict, "parameters", "a JSON object")
    location = expect_type(body.get("location"), str, "location", "a string")
    if not location:
        raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
    tags = expect_type(body.get("tags"), dict, "tags", "an object") or {}
    rg, created = backend(request).put_resource_group(m["sub"], m["rg"], location, tags)
    return json_response(render_rg(rg), status=201 if created else 200)


async def rg_get(request: web.Request, m: dict[str, str]) -> web.Response:
    return json_response(render_rg(resource_group(request, m)))


async def rg_head(request: web.Request, m: dict[str, str]) -> web.Response:
    return web.Response(status=204 if backend(request).resource_group_exists(m["sub"], m["rg"]) else 404)


# ---------------------------------------------------------------- scale sets


def _new_model(m: dict[str, str], ss_name: str, props: dict[str, Any], previous: ScaleSet | None,
               old_secrets: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(checked properties with defaults, protected settings by extension name) for a PUT or merged PATCH."""
    rg = previous.resource_group if previous else m["rg"]
    props = fill_defaults(copy.deepcopy(props), network_ids(previous.subscription if previous else m["sub"], rg,
                                                            ss_name))
    if previous is not None:
        check_create_time(previous.model, props)
    profile, secrets = split_secrets(props["virtualMachineProfile"])
    extensions = profile["extensionProfile"]["extensions"]
    validate_extension_order(ss_name, extensions, previous.extensions() if previous else None)
    validate_health_signal(props)
    names = {e["name"] for e in extensions}
    merged_secrets = {k: v for k, v in old_secrets.items() if k in names}
    merged_secrets.update(secrets)
    if previous is not None and profile == previous.profile:
        profile = previous.profile  # unchanged: instances keep matching by identity
    props["virtualMachineProfile"] = profile
    return props, merged_secrets


async def _after_model_write(request: web.Request, ss: ScaleSet, profile_changed: bool, target_capacity: int) -> \
        Callable[[Operation], Awaitable[None]]:
    """The work of a PUT/PATCH LRO: capacity changes, then what the upgrade policy does with a new model."""
    app = request.app
    refusal = app["faults"].scale_out_refusal(ss, len(ss.instances), target_capacity, "AllocationFailed")

    async def work(op: Operation) -> None:
        ss.provisioning_state = "Updating"
        try:
            if refusal:  # AllocationFailed (scale_out_fails): no instance is created, the capacity stays
                ss.sku["capacity"] = len(ss.instances)
                raise OperationFailed(refusal)
            if target_capacity > len(ss.instances):
                new = [lifecycle.new_instance(app, ss, running=False)
                       for _index in range(target_capacity - len(ss.instances))]
                errors = await lifecycle.provision_new(app, ss, new)
                if errors:
                    raise OperationFailed(_upgrade_error(errors))
            elif target_capacity < len(ss.instances):
                surplus = len(ss.instances) - target_capacity
                await lifecycle.remove_instances(app, ss, lifecycle.scale_in_victims(ss, surplus))
            mode = ss.upgrade_policy().get("mode")
            if profile_changed and mode == "Automatic":
                stale = [i for i in ss.instances.values() if not ss.latest_model_applied(i) and not i.protected]
                outcomes = await asyncio.gather(*(lifecycle.run_action(app, ss, i, "manualupgrade")
                                                  for i in stale))
                errors = [e for e in outcomes if e]
                if errors:
                    raise OperationFailed(_upgrade_error(errors))
        finally:
            ss.provisioning_state = "Succeeded"
        # a rolling upgrade already running picks the new model up in its next batch
        if profile_changed and ss.upgrade_policy().get("mode") == "Rolling" and not rolling.is_running(ss):
            rolling.start(app, ss, "rolling", started_by="Platform")

    return work


def refuse_over_quota(request: web.Request, ss: ScaleSet, target_capacity: int) -> None:
    """A scale_out_fails rule with code QuotaExceeded: ARM refuses the write itself (409), nothing is stored."""
    refusal = request.app["faults"].scale_out_refusal(ss, len(ss.instances), target_capacity, "QuotaExceeded")
    if refusal:
        raise ArmError(409, refusal["code"], refusal["message"], target="sku.capacity")


def _record_write(request: web.Request, ss: ScaleSet, operation: str) -> None:
    request.app["events"].append("model_write", resource_group=ss.resource_group, vmss=ss.name, operation=operation,
                                 etag=ss.etag)


async def vmss_put(request: web.Request, m: dict[str, str]) -> web.Response:
    body = await read_json(request)
    check_members(body, "VirtualMachineScaleSet")
    rg = resource_group(request, m)
    ss = backend(request).scale_set_or_none(m["sub"], m["rg"], m["vmss"])
    check_resource(body, creating=ss is None)
    if ss is not None:
        ensure_writable(ss)
    check_preconditions(request, ss)
    sku = {"tier": "Standard", **(ss.sku if ss else {}), **(body.get("sku") or {})}
    sku.setdefault("name", "Standard_D2s_v3")
    sku.setdefault("capacity", ss.capacity if ss else 2)
    given = body.get("properties") or {}
    props, secrets = _new_model(m, m["vmss"], put_over(ss.model, given) if ss else given, ss,
                                ss.protected_settings if ss else {})
    target = sku["capacity"]
    if ss is None:
        props["timeCreated"] = now_iso()
        ss = backend(request).create_scale_set(m["sub"], rg, m["vmss"], body["location"], sku,
                                               list(body.get("zones") or []), props, body.get("tags") or {}, secrets)
        _record_write(request, ss, "VirtualMachineScaleSets_CreateOrUpdate")
        await request.app["fleet"].scale_set_created(ss)
        instances = [lifecycle.new_instance(request.app, ss, running=False) for _index in range(target)]

        async def create(op: Operation) -> None:
            try:
                errors = await lifecycle.provision_new(request.app, ss, instances)
                if errors:
                    raise OperationFailed(_upgrade_error(errors))
            finally:
                ss.provisioning_state = "Succeeded"

        op = start_op(request, "VirtualMachineScaleSets_CreateOrUpdate", ss, create)
        return lro_created(request, op, render_vmss(ss), 201)
    refuse_over_quota(request, ss, target)
    changed = props["virtualMachineProfile"] is not ss.profile
    props["timeCreated"] = ss.model.get("timeCreated")
    # tags left out are kept, as the rest of what a PUT of an existing set leaves out
    backend(request).store_model(ss, props, secrets, sku=sku, tags=(body.get("tags") or {}) if "tags" in body else None,
                                 zones=list(body["zones"]) if body.get("zones") is not None else None)
    _record_write(request, ss, "VirtualMachineScaleSets_CreateOrUpdate")
    work = await _after_model_write(request, ss, changed, target)
    op = start_op(request, "VirtualMachineScaleSets_CreateOrUpdate", ss, work)
    return lro_created(request, op, render_vmss(ss), 200)


async def vmss_patch(request: web.Request, m: dict[str, str]) -> web.Response:
    body = await read_json(request)
    check_members(body, "VirtualMachineScaleSetUpdate")
    ss = scale_set(request, m)
    check_resource(body, creating=False, patch=True)
    ensure_writable(ss)
    check_preconditions(request, ss)
    patch_props = body.get("properties") or {}
    current = dict(ss.model.items())
    merged = deep_merge(current, patch_props)
    props, secrets = _new_model(m, ss.name, merged, ss, ss.protected_settings)
    sku = deep_merge(ss.sku, body.get("sku") or {})  # a null name is "not specified"; capacity was checked
    refuse_over_quota(request, ss, int(sku.get("capacity") or 0))
    changed = props["virtualMachineProfile"] is not ss.profile
    props["timeCreated"] = ss.model.get("timeCreated")  # fill_defaults drops it (read-only); a PATCH keeps it
    backend(request).store_model(ss, props, secrets, sku=sku, tags=body.get("tags"))
    _record_write(request, ss, "VirtualMachineScaleSets_Update")
    work = await _after_model_write(request, ss, changed, ss.capacity)
    op = start_op(request, "VirtualMachineScaleSets_Update", ss, work)
    return lro_created(request, op, render_vmss(ss), 200)


async def vmss_get(request: web.Request, m: dict[str, str]) -> web.Response:
    return json_response(render_vmss(scale_set(request, m)))


async def vmss_delete(request: web.Request, m: dict[str, str]) -> web.StreamResponse:
    ss = backend(request).begin_delete(m["sub"], m["rg"], m["vmss"])
    if ss is None:
        return web.Response(status=204)

    async def delete(op: Operation) -> None:
        await lifecycle.delete_scale_set(request.app, ss)

    op = start_op(request, "VirtualMachineScaleSets_Delete", ss, delete)
    _record_write(request, ss, "VirtualMachineScaleSets_Delete")
    return request.app["operations"].accepted(request, op)


async def vmss_list(request: web.Request, m: dict[str, str]) -> web.Response:
    compute = backend(request)
    return json_response(page(request, request.app["base_url"], compute.list_scale_sets(m["sub"], m["rg"]),
                              compute.page_size, render_vmss))


async def vmss_list_all(request: web.Request, m: dict[str, str]) -> web.Response:
    compute = backend(request)
    return json_response(page(request, request.app["base_url"], compute.list_scale_sets(m["sub"]), compute.page_size,
                              render_vmss))


async def vmss_instance_view(request: web.Request, m: dict[str, str]) -> web.Response:
    return json_response(scale_set_instance_view(request.app, scale_set(request, m)))


# ---------------------------------------------------------------- actions on instances


def _upgrade_error(errors: list[dict[str, Any]]) -> dict[str, Any]:
    first = errors[0]
    ids = ", ".join(e["instance_id"] for e in errors)
    error = {"code": first.get("code", "VMExtensionProvisioningError"),
             "message": f"{first.get('message', 'The upgrade failed.')} Failed instances: {ids}."}
    if len(errors) > 1:
        error["details"] = [{"code": e.get("code"), "target": e["instance_id"], "message": e.get("message")}
                            for e in errors]
    return error


def target_instances(ss: ScaleSet, body: Any, required: bool, action: str) -> list[Instance]:
    """The instances a scale-set action names; "*" or no ids means all (protected ones are then left out)."""
    ids = None
    if body is not None:
        expect_type(body, dict, "parameters", "a JSON object")
        ids = body.get("instanceIds")
    if ids is None:
        if required:
            raise invalid("Required parameter 'instanceIds' is missing (null).", target="instanceIds")
        ids = ["*"]
    if not isinstance(ids, list) or not ids:
        raise invalid("The value of parameter 'instanceIds' is invalid: expected a non-empty list of instance ids "
                      '(non-negative integers as strings, or "*").', target="instanceIds")
    for raw in ids:
        if not isinstance(raw, str) or not (raw == "*" or _INSTANCE_ID.match(raw)):
            raise invalid(f"The provided instanceId {raw} is invalid. It must be a non-negative integer or the "
                          'character "*".', target="instanceIds")
    if "*" in ids:
        return [i for i in ss.instances.values() if not i.protected]
    chosen: list[Instance] = []
    for raw in dict.fromkeys(ids):
        inst = ss.instances.get(str(int(raw)))
        if inst is None:
            raise invalid(f"The provided instanceId {raw} is not an active Virtual Machine Scale Set VM instanceId.",
                          target="instanceIds")
        chosen.append(inst)
    protected = [i.instance_id for i in chosen if i.protected]
    if protected:
        raise ArmError(409, "OperationNotAllowed",
                       f"Operation '{action}' is not allowed on Virtual Machine Scale Set VM instance(s) "
                       f"{', '.join(protected)} of '{ss.name}' since they are protected from scale set actions "
                       "(protectionPolicy.protectFromScaleSetActions). Remove the protection or leave these "
                       "instances out of instanceIds.", target="instanceIds")
    return chosen


async def _run_on(app: web.Application, ss: ScaleSet, instances: list[Instance], action: str) -> None:
    if action in ("manualupgrade", "reimage", "reimageall", "restart", "redeploy"):
        kind = {"reimageall": "reimage", "redeploy": "restart"}.get(action, action)
        errors = [e for e in await asyncio.gather(*(lifecycle.run_action(app, ss, i, kind) for i in instances)) if e]
        if errors:
            raise OperationFailed(_upgrade_error(errors))
    elif action in ("poweroff", "deallocate"):
        for inst in instances:
            await lifecycle.power_off(app, ss, inst, deallocate=action == "deallocate")
    elif action == "start":
        await asyncio.gather(*(lifecycle.power_on(app, ss, i) for i in instances))
    elif action == "delete":
        await lifecycle.remove_instances(app, ss, instances)


async def vmss_action(request: web.Request, m: dict[str, str]) -> web.StreamResponse:
    action = m["action"].lower()
    ss = scale_set(request, m)
    body = await read_json(request, required=False)
    check_members(body, ACTION_BODIES.get(action, "VirtualMachineScaleSetVMInstanceIDs"))
    targets = target_instances(ss, body, required=action in ("manualupgrade", "delete"), action=action)
    ensure_writable(ss, f"{action} Virtual Machine Scale Set")
    if rolling.is_running(ss) or any(i.busy for i in targets):
        raise ArmError(409, "Conflict", CONFLICT_MESSAGE)
    op = start_op(request, SS_ACTIONS[action], ss, lambda op: _run_on(request.app, ss, targets, action))
    return request.app["operations"].accepted(request, op)


async def vm_action(request: web.Request, m: dict[str, str]) -> web.StreamResponse:
    action = m["action"].lower()
    ss = scale_set(request, m, child=True)
    inst = instance(ss, m["vm"])
    if ss.active_operation is not None or inst.busy:
        raise ArmError(409, "Conflict", CONFLICT_MESSAGE)
    body = await read_json(request, required=False)
    if action == "reimage":  # the only per-instance action with a body
        check_members(body, "VirtualMachineScaleSetVMReimageParameters")
    # user-initiated per-instance operations are allowed on protected instances, and do not lock the set
    op = start_op(request, VM_ACTIONS[action], ss, lambda op: _run_on(request.app, ss, [inst], action), lock=False)
    return request.app["operations"].accepted(request, op)


# ---------------------------------------------------------------- scale-set VMs


async def vms_list(request: web.Request, m: dict[str, str]) -> web.Response:
    ss = scale_set(request, m, child=True)
    items = sorted(ss.instances.values(), key=lambda i: int(i.instance_id))
    flt = request.query.get("$filter", "").strip()
    if flt:
        match = re.fullmatch(r"properties/latestModelApplied\s+eq\s+(true|false)", flt, re.I)
        if match:
            wanted = match.group(1).lower() == "true"
            items = [i for i in items if ss.latest_model_applied(i) == wanted]
        elif not re.fullmatch(r"startswith\(\s*instanceView/statuses/code\s*,\s*'PowerState'\s*\)\s+eq\s+true",
                              flt, re.I):
            raise invalid(f"The $filter '{flt}' is not supported. Allowed: properties/latestModelApplied eq "
                          "true|false, startswith(instanceView/statuses/code, 'PowerState') eq true.", target="$filter")
    expand = _expand_instance_view(request)
    return json_response(page(request, request.app["base_url"], items, backend(request).page_size,
                              lambda i: render_vm(request.app, ss, i, expand)))


async def vm_get(request: web.Request, m: dict[str, str]) -> web.Response:
    ss = scale_set(request, m, child=True)
    return json_response(render_vm(request.app, ss, instance(ss, m["vm"]), _expand_instance_view(request)))


async def vm_instance_view(request: web.Request, m: dict[str, str]) -> web.Response:
    ss = scale_set(request, m, child=True)
    return json_response(instance_view(request.app, ss, instance(ss, m["vm"])))


async def vm_put(request: web.Request, m: dict[str, str]) -> web.Response:
    """Only protectionPolicy can be changed on a Uniform instance here."""
    ss = scale_set(request, m, child=True)
    inst = instance(ss, m["vm"])
    body = await read_json(request)
    check_members(body, "VirtualMachineScaleSetVM")
    expect_type(body, dict, "parameters", "a JSON object")
    props = expect_type(body.get("properties"), dict, "properties", "an object") or {}
    policy = expect_type(props.get("protectionPolicy"), dict, "properties.protectionPolicy", "an object") or {}
    for key in ("protectFromScaleIn", "protectFromScaleSetActions"):
        expect_type(policy.get(key), bool, f"protectionPolicy.{key}", "true or false")
    backend(request).set_protection(inst, policy)

    async def nothing(op: Operation) -> None:
        return None

    op = start_op(request, "VirtualMachineScaleSetVMs_Update", ss, nothing, lock=False)
    return lro_created(request, op, render_vm(request.app, ss, inst, False), 200)


async def vm_delete(request: web.Request, m: dict[str, str]) -> web.StreamResponse:
    ss = scale_set(request, m, child=True)
    inst = ss.instances.get(m["vm"])
    if inst is None:
        return web.Response(status=204)
    if inst.busy or ss.active_operation:
        raise ArmError(409, "Conflict", CONFLICT_MESSAGE)
    op = start_op(request, "VirtualMachineScaleSetVMs_Delete", ss,
                  lambda op: lifecycle.remove_instances(request.app, ss, [inst]), lock=False)
    return request.app["operations"].accepted(request, op)


# ---------------------------------------------------------------- extensions sub-resource


async def _write_extensions(request: web.Request, m: dict[str, str], ss: ScaleSet, extensions: list[dict[str, Any]],
                            operation: str) -> Operation:
    props = copy.deepcopy({k: v for k, v in ss.model.items() if k != "virtualMachineProfile"})
    profile = dict(ss.profile)
    profile["extensionProfile"] = {**(ss.profile.get("extensionProfile") or {}), "extensions": extensions}
    props["virtualMachineProfile"] = profile
    props, secrets = _new_model(m, ss.name, props, ss, ss.protected_settings)
    changed = props["virtualMachineProfile"] is not ss.profile
    backend(request).store_model(ss, props, secrets)
    _record_write(request, ss, operation)
    work = await _after_model_write(request, ss, changed, ss.capacity)
    return start_op(request, operation, ss, work)


async def ext_list(request: web.Request, m: dict[str, str]) -> web.Response:
    ss = scale_set(request, m, child=True)
    return json_response(page(request, request.app["base_url"], render_extensions(ss),
                              backend(request).page_size))


async def ext_get(request: web.Request, m: dict[str, str]) -> web.Response:
    ss = scale_set(request, m, child=True)
    ext = find_extension(ss, m["ext"])
    if ext is None:
        raise extension_missing(ss, m["ext"])
    return json_response(render_extension(ext, vmss_id(ss)))


async def ext_put(request: web.Request, m: dict[str, str], patch: bool = False) -> web.Response:
    ss = scale_set(request, m, child=True)
    body = await read_json(request)
    check_members(body, "VirtualMachineScaleSetExtension" + ("Update" if patch else ""))
    check_extension(body, "parameters", name_required=False, patch=patch)
    ensure_writable(ss)
    existing = find_extension(ss, m["ext"])
    if patch and existing is None:
        raise extension_missing(ss, m["ext"])
    name = existing["name"] if existing else m["ext"]
    props = body.get("properties") or {}
    if patch:
        props = deep_merge(existing.get("properties") or {}, props)
    new_ext = {"name": name, "properties": fill_extension_defaults(copy.deepcopy(props))}
    extensions = [new_ext if e is existing else e for e in ss.extensions()]
    if existing is None:
        extensions.append(new_ext)
    operation = "VirtualMachineScaleSetExtensions_" + ("Update" if patch else "CreateOrUpdate")
    op = await _write_extensions(request, m, ss, extensions, operation)
    stored = find_extension(ss, name)
    return lro_created(request, op, render_extension(stored, vmss_id(ss)), 200 if existing else 201)


async def ext_patch(request: web.Request, m: dict[str, str]) -> web.Response:
    return await ext_put(request, m, patch=True)


async def ext_delete(request: web.Request, m: dict[str, str]) -> web.StreamResponse:
    ss = scale_set(request, m, child=True)
    existing = find_extension(ss, m["ext"])
    if existing is None:
        return web.Response(status=204)
    ensure_writable(ss)
    extensions = [e for e in ss.extensions() if e is not existing]
    op = await _write_extensions(request, m, ss, extensions, "VirtualMachineScaleSetExtensions_Delete")
    return request.app["operations"].accepted(request, op)


# ---------------------------------------------------------------- rolling upgrades


async def rolling_start(request: web.Request, m: dict[str, str]) -> web.StreamResponse:
    ss = scale_set(request, m)
    kind = "os" if m["kind"].lower() == "osrollingupgrade" else "extension"
    ensure_writable(ss, "Start Rolling Upgrade")
    op = rolling.start(request.app, ss, kind, started_by="User")
    return request.app["operations"].accepted(request, op)


async def rolling_cancel(request: web.Request, m: dict[str, str]) -> web.StreamResponse:
    ss = scale_set(request, m)
    if not rolling.is_running(ss):
        raise ArmError(409, "OperationNotAllowed", f"There is no rolling upgrade in progress on Virtual Machine Scale "
                       f"Set '{ss.name}' to cancel.")
    rolling.cancel_running(ss)

    async def wait(op: Operation) -> None:
        await rolling.wait_stopped(ss)

    op = start_op(request, "VirtualMachineScaleSetRollingUpgrades_Cancel", ss, wait, lock=False)
    return request.app["operations"].accepted(request, op)


async def rolling_latest(request: web.Request, m: dict[str, str]) -> web.Response:
    ss = scale_set(request, m)
    if ss.rolling_upgrade is None:
        raise ArmError(404, "NotFound", f"No rolling upgrade has been run on Virtual Machine Scale Set '{ss.name}'.")
    return json_response({"type": "Microsoft.Compute/virtualMachineScaleSets/rollingUpgrades",
                          "location": ss.location, "properties": copy.deepcopy(ss.rolling_upgrade)})


async def os_upgrade_history(request: web.Request, m: dict[str, str]) -> web.Response:
    ss = scale_set(request, m)
    items = [{"properties": h, "type": "Microsoft.Compute/virtualMachineScaleSets/rollingUpgrades",
              "location": ss.location} for h in reversed(ss.os_upgrade_history)]
    return json_response(page(request, request.app["base_url"], items, backend(request).page_size))


# ---------------------------------------------------------------- operation status


async def operation_status(request: web.Request, m: dict[str, str]) -> web.Response:
    op = request.app["operations"].get(m["op"])
    if op is None or op.subscription.lower() != m["sub"].lower():
        raise ArmError(404, "NotFound", "The entity was not found in this Azure location.")
    return request.app["operations"].status_response(request, op)
