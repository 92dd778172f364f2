"""Microsoft.Compute (and resource groups): the ARM handlers. Their routes are in `urls.py`.

Each handler gets (request, match groups) and returns a response or raises ArmError. A handler only parses the
request, calls the backend (`models.ComputeBackend`, app[COMPUTE]) and renders what it returns; state changes and
the work of long-running operations are the backend's.
"""
from __future__ import annotations

import copy
import re
from typing import Any

from aiohttp import web

from .. import wire
from ..app_keys import BASE_URL, COMPUTE, OPERATIONS
from ..arm import expect_type, invalid, json_response, page, read_json
from ..exceptions import ArmError
from ..model import check_extension, check_resource, deep_merge, fill_extension_defaults, put_over, render_extension
from ..operations import Operation
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
    return request.app[COMPUTE]


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
    headers = request.app[OPERATIONS].headers(request, op, with_location=False)
    return json_response(body, status=status, headers=headers)


def accepted(request: web.Request, op: Operation) -> web.Response:
    return request.app[OPERATIONS].accepted(request, op)


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


async def vmss_put(request: web.Request, m: dict[str, str]) -> web.Response:
    body = await read_json(request)
    check_members(body, "VirtualMachineScaleSet")
    compute = backend(request)
    rg = resource_group(request, m)
    ss = compute.scale_set_or_none(m["sub"], m["rg"], m["vmss"])
    check_resource(body, creating=ss is None)
    if ss is not None:
        ensure_writable(ss)
    check_preconditions(request, ss)
    sku = {"tier": "Standard", **(ss.sku if ss else {}), **(body.get("sku") or {})}
    sku.setdefault("name", "Standard_D2s_v3")
    sku.setdefault("capacity", ss.capacity if ss else 2)
    given = body.get("properties") or {}
    props, secrets = compute.checked_model(m["sub"], m["rg"], m["vmss"], put_over(ss.model, given) if ss else given,
                                           ss, ss.protected_settings if ss else {})
    if ss is None:
        ss, op = await compute.create_scale_set(m["sub"], rg, m["vmss"], body["location"], sku,
                                                list(body.get("zones") or []), props, body.get("tags") or {}, secrets)
        return lro_created(request, op, render_vmss(ss), 201)
    # tags and zones left out are kept, as the rest of what a PUT of an existing set leaves out
    op = compute.write_model(ss, props, secrets, "VirtualMachineScaleSets_CreateOrUpdate", sku=sku,
                             tags=(body.get("tags") or {}) if "tags" in body else None,
                             zones=list(body["zones"]) if body.get("zones") is not None else None)
    return lro_created(request, op, render_vmss(ss), 200)


async def vmss_patch(request: web.Request, m: dict[str, str]) -> web.Response:
    body = await read_json(request)
    check_members(body, "VirtualMachineScaleSetUpdate")
    compute = backend(request)
    ss = scale_set(request, m)
    check_resource(body, creating=False, patch=True)
    ensure_writable(ss)
    check_preconditions(request, ss)
    merged = deep_merge(dict(ss.model.items()), body.get("properties") or {})
    props, secrets = compute.checked_model(m["sub"], m["rg"], ss.name, merged, ss, ss.protected_settings)
    sku = deep_merge(ss.sku, body.get("sku") or {})  # a null name is "not specified"; capacity was checked
    op = compute.write_model(ss, props, secrets, "VirtualMachineScaleSets_Update", sku=sku, tags=body.get("tags"),
                             zones=list(body["zones"]) if body.get("zones") is not None else None)
    return lro_created(request, op, render_vmss(ss), 200)


async def vmss_get(request: web.Request, m: dict[str, str]) -> web.Response:
    return json_response(render_vmss(scale_set(request, m)))


async def vmss_delete(request: web.Request, m: dict[str, str]) -> web.StreamResponse:
    op = backend(request).delete_scale_set(m["sub"], m["rg"], m["vmss"])
    return web.Response(status=204) if op is None else accepted(request, op)


async def vmss_list(request: web.Request, m: dict[str, str]) -> web.Response:
    compute = backend(request)
    return json_response(page(request, request.app[BASE_URL], compute.list_scale_sets(m["sub"], m["rg"]),
                              compute.page_size, render_vmss))


async def vmss_list_all(request: web.Request, m: dict[str, str]) -> web.Response:
    compute = backend(request)
    return json_response(page(request, request.app[BASE_URL], compute.list_scale_sets(m["sub"]), compute.page_size,
                              render_vmss))


async def vmss_instance_view(request: web.Request, m: dict[str, str]) -> web.Response:
    return json_response(scale_set_instance_view(request.app, scale_set(request, m)))


# ---------------------------------------------------------------- actions on instances


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


async def vmss_action(request: web.Request, m: dict[str, str]) -> web.StreamResponse:
    action = m["action"].lower()
    ss = scale_set(request, m)
    body = await read_json(request, required=False)
    check_members(body, ACTION_BODIES.get(action, "VirtualMachineScaleSetVMInstanceIDs"))
    targets = target_instances(ss, body, required=action in ("manualupgrade", "delete"), action=action)
    return accepted(request, backend(request).scale_set_action(ss, targets, action, SS_ACTIONS[action]))


async def vm_action(request: web.Request, m: dict[str, str]) -> web.StreamResponse:
    action = m["action"].lower()
    ss = scale_set(request, m, child=True)
    inst = instance(ss, m["vm"])
    body = await read_json(request, required=False)
    if action == "reimage":  # the only per-instance action with a body
        check_members(body, "VirtualMachineScaleSetVMReimageParameters")
    return accepted(request, backend(request).instance_action(ss, inst, action, VM_ACTIONS[action]))


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
    return json_response(page(request, request.app[BASE_URL], items, backend(request).page_size,
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
    op = backend(request).set_protection(ss, inst, policy)
    return lro_created(request, op, render_vm(request.app, ss, inst, False), 200)


async def vm_delete(request: web.Request, m: dict[str, str]) -> web.StreamResponse:
    ss = scale_set(request, m, child=True)
    op = backend(request).delete_instance(ss, m["vm"])
    return web.Response(status=204) if op is None else accepted(request, op)


# ---------------------------------------------------------------- extensions sub-resource


async def ext_list(request: web.Request, m: dict[str, str]) -> web.Response:
    ss = scale_set(request, m, child=True)
    return json_response(page(request, request.app[BASE_URL], render_extensions(ss),
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
    op = backend(request).write_extensions(ss, extensions, operation)
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
    op = backend(request).write_extensions(ss, extensions, "VirtualMachineScaleSetExtensions_Delete")
    return accepted(request, op)


# ---------------------------------------------------------------- rolling upgrades


async def rolling_start(request: web.Request, m: dict[str, str]) -> web.StreamResponse:
    ss = scale_set(request, m)
    kind = "os" if m["kind"].lower() == "osrollingupgrade" else "extension"
    return accepted(request, backend(request).start_rolling_upgrade(ss, kind))


async def rolling_cancel(request: web.Request, m: dict[str, str]) -> web.StreamResponse:
    return accepted(request, backend(request).cancel_rolling_upgrade(scale_set(request, m)))


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
    return json_response(page(request, request.app[BASE_URL], items, backend(request).page_size))


# ---------------------------------------------------------------- operation status


async def operation_status(request: web.Request, m: dict[str, str]) -> web.Response:
    op = request.app[OPERATIONS].get(m["op"])
    if op is None or op.subscription.lower() != m["sub"].lower():
        raise ArmError(404, "NotFound", "The entity was not found in this Azure location.")
    return request.app[OPERATIONS].status_response(request, op)
