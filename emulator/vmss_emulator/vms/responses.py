"""Microsoft.Compute virtualMachines (+ extensions), Microsoft.Network networkInterfaces of VMs, and what Flexible
scale sets answer differently from Uniform ones. Rows in `routes.py`.

A handler only parses the request, calls the backend (`models.VmBackend`, app[VMS]; for a Flexible member's
actions `ComputeBackend`, app[COMPUTE]) and renders what it returns; state changes and the work of long-running
operations are the backends'.
"""
from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from .. import wire
from ..app_keys import BASE_URL, COMPUTE, LOCKS, VMS, WORLD
from ..arm import expect_type, invalid, json_response, page, read_json
from ..compute import responses as compute
from ..exceptions import ArmError
from ..model import check_extension
from ..render import vmss_id
from .flexible import is_flexible
from .models import MemberRef, VirtualMachine, VmBackend, ensure_vm_writable, extension_missing, find_extension
from .render import nic_names, ref_id, ref_instance_view, render_availability_set, render_extension, render_nic, \
    render_ref

VM_ACTIONS = {"restart": "VirtualMachines_Restart", "start": "VirtualMachines_Start",
              "poweroff": "VirtualMachines_PowerOff", "deallocate": "VirtualMachines_Deallocate",
              "reimage": "VirtualMachines_Reimage", "redeploy": "VirtualMachines_Redeploy"}
_FILTER = re.compile(r"^'?virtualMachineScaleSet/id'?\s+eq\s+'([^']*)'$", re.I)


def vms(request: web.Request) -> VmBackend:
    return request.app[VMS]


def _expand(request: web.Request) -> bool:
    return ("instanceview" in request.query.get("$expand", "").lower()
            or request.query.get("statusOnly", "").lower() == "true")


def _ensure_plain(ref: VirtualMachine | MemberRef, what: str) -> VirtualMachine:
    if isinstance(ref, MemberRef):
        raise ArmError(409, "OperationNotAllowed", f"Operation '{what}' on '{ref.name}', a member of the Flexible "
                       f"scale set '{ref.ss.name}', is not supported by the emulator: change the scale set's model "
                       "and upgrade the member (manualupgrade with its name).")
    return ref


# ---------------------------------------------------------------- lists and reads


def _filtered(request: web.Request, items: list[VirtualMachine | MemberRef]) -> list[VirtualMachine | MemberRef]:
    flt = request.query.get("$filter", "").strip()
    if not flt:
        if "instanceview" in request.query.get("$expand", "").lower():
            # the REST spec: instanceView "can only be specified if a valid $filter option is specified"
            raise invalid("The $expand option 'instanceView' can only be specified if a valid $filter option is "
                          "specified ('virtualMachineScaleSet/id' eq '<scale set resource id>'). To read the run time "
                          "status of every VM, list with statusOnly=true or read each VM's instanceView.",
                          target="$expand")
        return items
    match = _FILTER.match(flt)
    if not match:
        raise invalid(f"The $filter '{flt}' is not supported. Allowed: 'virtualMachineScaleSet/id' eq "
                      "'<scale set resource id>'.", target="$filter")
    wanted = match.group(1).strip().rstrip("/").lower()
    return [r for r in items if isinstance(r, MemberRef) and vmss_id(r.ss).lower() == wanted]


async def vm_list(request: web.Request, m: dict[str, str]) -> web.Response:
    items = _filtered(request, vms(request).list(m["sub"], m["rg"]))
    expand = _expand(request)
    return json_response(page(request, request.app[BASE_URL], items, request.app[WORLD].settings.page_size,
                              lambda r: render_ref(request.app, r, expand)))


async def vm_list_all(request: web.Request, m: dict[str, str]) -> web.Response:
    items = _filtered(request, vms(request).list(m["sub"]))
    expand = _expand(request)
    return json_response(page(request, request.app[BASE_URL], items, request.app[WORLD].settings.page_size,
                              lambda r: render_ref(request.app, r, expand)))


async def vm_get(request: web.Request, m: dict[str, str]) -> web.Response:
    return json_response(render_ref(request.app, vms(request).find(m["sub"], m["rg"], m["vm"]), _expand(request)))


async def vm_instance_view(request: web.Request, m: dict[str, str]) -> web.Response:
    return json_response(ref_instance_view(request.app, vms(request).find(m["sub"], m["rg"], m["vm"], child=True)))


# ---------------------------------------------------------------- writes


def _check_vm_body(body: Any, creating: bool, patch: bool) -> dict[str, Any]:
    expect_type(body, dict, "parameters", "a JSON object", null_ok=False)
    wire.check_members(body, "VirtualMachineUpdate" if patch else "VirtualMachine")
    if creating:
        location = expect_type(body.get("location"), str, "location", "a string")
        if not location:
            raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
    expect_type(body.get("tags"), dict, "tags", "an object")
    zones = expect_type(body.get("zones"), list, "zones", "a list of zone names") or []
    for zone in zones:
        expect_type(zone, str, "zones", "a list of zone names", null_ok=False)
    props = expect_type(body.get("properties"), dict, "properties", "an object") or {}
    for key in ("hardwareProfile", "storageProfile", "osProfile", "networkProfile", "availabilitySet",
                "virtualMachineScaleSet", "diagnosticsProfile", "securityProfile", "scheduledEventsProfile"):
        expect_type(props.get(key), dict, f"properties.{key}", "an object")
    nics = expect_type((props.get("networkProfile") or {}).get("networkInterfaces"), list,
                       "properties.networkProfile.networkInterfaces", "a list of {id}") or []
    for nic in nics:
        expect_type(nic, dict, "properties.networkProfile.networkInterfaces", "a list of {id}", null_ok=False)
    if (props.get("virtualMachineScaleSet") or {}).get("id"):
        raise invalid("Adding a VM to a scale set with properties.virtualMachineScaleSet is not supported by the "
                      "emulator: grow the Flexible scale set (sku.capacity) instead.",
                      target="properties.virtualMachineScaleSet")
    return props


async def vm_put(request: web.Request, m: dict[str, str], patch: bool = False) -> web.Response:
    body = await read_json(request)
    backend = vms(request)
    existing = backend.existing(m["sub"], m["rg"], m["vm"])
    if patch and existing is None:
        raise ArmError(404, "ResourceNotFound", f"The Resource 'Microsoft.Compute/virtualMachines/{m['vm']}' under "
                       f"resource group '{m['rg']}' was not found.")
    props = _check_vm_body(body, creating=existing is None, patch=patch)
    if existing is not None:
        vm = _ensure_plain(existing, "Update Virtual Machine")
        ensure_vm_writable(vm)
        compute.check_preconditions(request, vm)   # etag / If-Match as on scale sets
        tags = dict(body.get("tags") or {}) if body.get("tags") is not None or (not patch and "tags" in body) else None
        zones = list(body["zones"]) if body.get("zones") is not None else None
        op = backend.update_vm(vm, props, patch, tags, zones)
        return compute.lro_created(request, op, render_ref(request.app, vm, False), 200)
    compute.check_preconditions(request, None)
    vm, op = await backend.create_vm(m["sub"], m["rg"], m["vm"], body["location"], props,
                                     list(body.get("zones") or []), dict(body.get("tags") or {}))
    return compute.lro_created(request, op, render_ref(request.app, vm, False), 201)


async def vm_patch(request: web.Request, m: dict[str, str]) -> web.Response:
    return await vm_put(request, m, patch=True)


async def vm_delete(request: web.Request, m: dict[str, str]) -> web.StreamResponse:
    ref = vms(request).existing(m["sub"], m["rg"], m["vm"])
    if ref is None:
        return web.Response(status=204)
    if isinstance(ref, MemberRef):
        return _member_run(request, ref, "delete", "VirtualMachines_Delete")
    return compute.accepted(request, vms(request).delete_vm(ref))


def _member_run(request: web.Request, ref: MemberRef, action: str, kind: str) -> web.StreamResponse:
    """A Flexible member's single-VM action, run on the set's instance as the Uniform per-instance ones are."""
    return compute.accepted(request, request.app[COMPUTE].instance_action(ref.ss, ref.inst, action, kind))


async def vm_action(request: web.Request, m: dict[str, str]) -> web.StreamResponse:
    action = m["action"].lower()
    kind = VM_ACTIONS[action]
    ref = vms(request).find(m["sub"], m["rg"], m["vm"], child=False)
    await read_json(request, required=False)
    if isinstance(ref, MemberRef):
        return _member_run(request, ref, action, kind)
    return compute.accepted(request, vms(request).vm_action(ref, action, kind))


# ---------------------------------------------------------------- extensions


def _ref_extensions(ref: VirtualMachine | MemberRef) -> list[dict[str, Any]]:
    return ref.extensions if isinstance(ref, VirtualMachine) else ref.inst.extensions()


def _instance(ref: VirtualMachine | MemberRef):
    return ref.instance if isinstance(ref, VirtualMachine) else ref.inst


def _location(ref: VirtualMachine | MemberRef) -> str:
    return ref.location if isinstance(ref, VirtualMachine) else ref.ss.location


async def ext_list(request: web.Request, m: dict[str, str]) -> web.Response:
    ref = vms(request).find(m["sub"], m["rg"], m["vm"], child=True)
    rid = ref_id(ref)
    inst, expand = _instance(ref), _expand(request)
    return json_response({"value": [render_extension(e, rid, _location(ref), inst, expand)
                                    for e in _ref_extensions(ref)]})


async def ext_get(request: web.Request, m: dict[str, str]) -> web.Response:
    ref = vms(request).find(m["sub"], m["rg"], m["vm"], child=True)
    ext = next((e for e in _ref_extensions(ref) if e["name"].lower() == m["ext"].lower()), None)
    if ext is None:
        raise extension_missing(m["vm"], m["rg"], m["ext"])
    return json_response(render_extension(ext, ref_id(ref), _location(ref), _instance(ref), _expand(request)))


async def ext_put(request: web.Request, m: dict[str, str], patch: bool = False) -> web.Response:
    ref = vms(request).find(m["sub"], m["rg"], m["vm"], child=True)
    body = await read_json(request)
    wire.check_members(body, "VirtualMachineExtension" + ("Update" if patch else ""))
    check_extension(body, "extensionParameters", name_required=False, patch=patch)
    vm = _ensure_plain(ref, "Update Virtual Machine Extension")
    ensure_vm_writable(vm)
    ext, created, op = vms(request).write_extension(vm, m["ext"], body.get("properties") or {}, patch)
    return compute.lro_created(request, op, render_extension(ext, ref_id(vm), vm.location, vm.instance),
                               201 if created else 200)


async def ext_patch(request: web.Request, m: dict[str, str]) -> web.Response:
    return await ext_put(request, m, patch=True)


async def ext_delete(request: web.Request, m: dict[str, str]) -> web.StreamResponse:
    ref = vms(request).find(m["sub"], m["rg"], m["vm"], child=True)
    vm = _ensure_plain(ref, "Delete Virtual Machine Extension")
    existing = find_extension(vm, m["ext"])
    if existing is None:
        return web.Response(status=204)
    return compute.accepted(request, vms(request).delete_extension(vm, existing))


# ---------------------------------------------------------------- network interfaces


def _nics(request: web.Request, sub: str, rg: str | None) -> list[tuple[str, VirtualMachine | MemberRef, bool]]:
    out = []
    for ref in vms(request).list(sub, rg):
        out.extend((name, ref, i == 0) for i, name in enumerate(nic_names(ref)))
    return out


async def nic_list(request: web.Request, m: dict[str, str]) -> web.Response:
    items = _nics(request, m["sub"], m["rg"])
    return json_response(page(request, request.app[BASE_URL], items, request.app[WORLD].settings.page_size,
                              lambda t: render_nic(t[1], t[0], t[2])))


async def nic_get(request: web.Request, m: dict[str, str]) -> web.Response:
    vms(request).check_resource_group(m["sub"], m["rg"])
    for name, ref, primary in _nics(request, m["sub"], m["rg"]):
        if name.lower() == m["nic"].lower():
            return json_response(render_nic(ref, name, primary))
    raise ArmError(404, "ResourceNotFound", f"The Resource 'Microsoft.Network/networkInterfaces/{m['nic']}' under "
                   f"resource group '{m['rg']}' was not found.")


# ---------------------------------------------------------------- Flexible scale sets


def _not_for_flexible(ss_name: str, what: str) -> ArmError:
    return ArmError(400, "BadRequest", f"The operation '{what}' is not supported for Virtual Machine Scale Set "
                    f"'{ss_name}' with orchestration mode 'Flexible'. Its instances are virtual machines: use the "
                    "virtualMachines API (list them with $filter='virtualMachineScaleSet/id' eq '<scale set id>').")


def uniform_only(handler, what: str):
    """A Uniform-only scale-set endpoint: 400 for a Flexible set, else the Uniform handler."""
    async def guarded(request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        ss = request.app[WORLD].scale_set(m["sub"], m["rg"], m["vmss"])
        if ss is not None and is_flexible(ss):
            raise _not_for_flexible(ss.name, what)
        return await handler(request, m)
    return guarded


def flexible_action(action: str):
    """POST .../virtualMachineScaleSets/{vmss}/{action}: on a Flexible set, manualupgrade and delete take VM names;
    the other batch actions are Uniform's (Flexible: one call per VM)."""
    async def handle(request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        ss = request.app[WORLD].scale_set(m["sub"], m["rg"], m["vmss"])
        if ss is None or not is_flexible(ss):
            return await compute.vmss_action(request, {**m, "action": action})
        if action not in ("manualupgrade", "delete"):
            raise _not_for_flexible(ss.name, action)
        body = await read_json(request, required=False)
        wire.check_members(body, compute.ACTION_BODIES.get(action, "VirtualMachineScaleSetVMInstanceIDs"))
        targets = member_targets(ss, body)
        for inst in targets:   # a locked member refuses the whole call, as Azure does
            request.app[LOCKS].check(ref_id(MemberRef(ss, inst)), delete=action == "delete")
        op = request.app[COMPUTE].scale_set_action(ss, targets, action, compute.SS_ACTIONS[action])
        return compute.accepted(request, op)
    return handle


def member_targets(ss, body: Any) -> list:
    """The members an action names by VM name (as Azure takes them for Flexible sets); required."""
    ids = None
    if body is not None:
        expect_type(body, dict, "parameters", "a JSON object")
        ids = body.get("instanceIds")
    if ids is None:
        raise invalid("Required parameter 'instanceIds' is missing (null).", target="instanceIds")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        raise invalid("The value of parameter 'instanceIds' is invalid: for a Flexible scale set, a non-empty list of "
                      "VM names.", target="instanceIds")
    by_name = {name.lower(): inst for name, inst in ss.instances.items()}
    chosen = []
    for raw in dict.fromkeys(ids):
        inst = by_name.get(raw.lower())
        if inst is None:
            raise invalid(f"The provided instanceId {raw} is not an active Virtual Machine Scale Set VM instanceId "
                          f"(for a Flexible scale set: the name of one of its VMs).", target="instanceIds")
        chosen.append(inst)
    return chosen


# ---------------------------------------------------------------- availability sets (read-only, made by their VMs)


def _availability_sets(request: web.Request, m: dict[str, str]) -> list[dict[str, Any]]:
    location = request.app[WORLD].resource_group(m["sub"], m["rg"])
    out = []
    for rg, name, members in vms(request).availability_set_list(m["sub"], m["rg"]):
        where = members[0].location if members else (location.location if location else "westeurope")
        out.append(render_availability_set(m["sub"], rg, name, where, members))
    return out


async def avset_list(request: web.Request, m: dict[str, str]) -> web.Response:
    return json_response(page(request, request.app[BASE_URL], _availability_sets(request, m),
                              request.app[WORLD].settings.page_size))


async def avset_get(request: web.Request, m: dict[str, str]) -> web.Response:
    for item in _availability_sets(request, m):
        if item["name"].lower() == m["avset"].lower():
            return json_response(item)
    raise ArmError(404, "ResourceNotFound", f"The Resource 'Microsoft.Compute/availabilitySets/{m['avset']}' under "
                   f"resource group '{m['rg']}' was not found.")
