"""Microsoft.Compute virtualMachines (+ extensions), Microsoft.Network networkInterfaces of VMs, and what Flexible
scale sets answer differently from Uniform ones. Rows in `routes.py`."""
from __future__ import annotations

import copy
import re
from typing import Any

from aiohttp import web

from .. import lifecycle as instance_lifecycle, wire
from ..arm import expect_type, invalid, json_response, page, read_json
from ..compute import responses as compute
from ..exceptions import ArmError
from ..model import SECRET_OS_KEYS, check_extension, deep_merge, fill_extension_defaults, property_change_not_allowed, \
    put_over
from ..operations import Operation, OperationFailed
from ..render import vmss_id
from . import lifecycle
from .models import DEFAULT_GROUP, MemberRef, VirtualMachine, VmBackend, availability_set_name, ensure_vm_writable, \
    is_flexible, new_instance, runtime_profile
from .render import nic_id, nic_names, ref_id, ref_instance_view, render_availability_set, render_extension, \
    render_nic, render_ref

VM_ACTIONS = {"restart": "VirtualMachines_Restart", "start": "VirtualMachines_Start",
              "poweroff": "VirtualMachines_PowerOff", "deallocate": "VirtualMachines_Deallocate",
              "reimage": "VirtualMachines_Reimage", "redeploy": "VirtualMachines_Redeploy"}
_FILTER = re.compile(r"^'?virtualMachineScaleSet/id'?\s+eq\s+'([^']*)'$", re.I)
READ_ONLY_PROPS = ("provisioningState", "vmId", "timeCreated", "instanceView", "latestModelApplied")


def vms(request: web.Request) -> VmBackend:
    return request.app["vms"]


def _expand(request: web.Request) -> bool:
    return ("instanceview" in request.query.get("$expand", "").lower()
            or request.query.get("statusOnly", "").lower() == "true")


def _start(request: web.Request, vm: VirtualMachine, kind: str, work) -> Operation:
    """An LRO locking this VM (other writes to it -> 409) while `work` runs."""
    return request.app["operations"].start(kind, vm.subscription, vm.location, vm, work, lock=True)


def _record_write(request: web.Request, vm: VirtualMachine, operation: str) -> None:
    request.app["events"].append("model_write", resource_group=vm.resource_group, vm=vm.name, operation=operation,
                                 etag=vm.etag)


def _ensure_plain(ref: VirtualMachine | MemberRef, what: str) -> VirtualMachine:
    if isinstance(ref, MemberRef):
        raise ArmError(409, "OperationNotAllowed", f"Operation '{what}' on '{ref.name}', a member of the Flexible "
                       f"scale set '{ref.ss.name}', is not supported by the emulator: change the scale set's model "
                       "and upgrade the member (manualupgrade with its name).")
    return ref


def _raise_error(error: dict[str, Any] | None) -> None:
    if error:
        raise OperationFailed({"code": error.get("code", "VMExtensionProvisioningError"),
                               "message": error.get("message", "The operation failed.")})


# ---------------------------------------------------------------- lists and reads


def _filtered(request: web.Request, items: list[VirtualMachine | MemberRef]) -> list[VirtualMachine | MemberRef]:
    flt = request.query.get("$filter", "").strip()
    if not flt:
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
    return json_response(page(request, request.app["base_url"], items, request.app["world"].settings.page_size,
                              lambda r: render_ref(request.app, r, expand)))


async def vm_list_all(request: web.Request, m: dict[str, str]) -> web.Response:
    items = _filtered(request, vms(request).list(m["sub"]))
    expand = _expand(request)
    return json_response(page(request, request.app["base_url"], items, request.app["world"].settings.page_size,
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


def _clean_properties(props: dict[str, Any], name: str, sub: str, rg: str) -> dict[str, Any]:
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


def _check_create_time(old: dict[str, Any], new: dict[str, Any]) -> None:
    if availability_set_name(old) != availability_set_name(new):
        raise property_change_not_allowed("availabilitySet")


async def vm_put(request: web.Request, m: dict[str, str], patch: bool = False) -> web.Response:
    body = await read_json(request)
    backend = vms(request)
    backend.check_resource_group(m["sub"], m["rg"])
    existing = backend.plain(m["sub"], m["rg"], m["vm"]) or backend.member(m["sub"], m["rg"], m["vm"])
    if patch and existing is None:
        raise ArmError(404, "ResourceNotFound", f"The Resource 'Microsoft.Compute/virtualMachines/{m['vm']}' under "
                       f"resource group '{m['rg']}' was not found.")
    props = _check_vm_body(body, creating=existing is None, patch=patch)
    if existing is not None:
        vm = _ensure_plain(existing, "Update Virtual Machine")
        ensure_vm_writable(vm)
        compute.check_preconditions(request, vm)   # etag / If-Match as on scale sets
        merged = deep_merge(vm.properties, props) if patch else put_over(vm.properties, props)
        new_props = _clean_properties(merged, vm.name, vm.subscription, vm.resource_group)
        _check_create_time(vm.properties, new_props)
        if "zones" in body and body["zones"] is not None and list(body["zones"]) != vm.zones:
            raise property_change_not_allowed("zones")
        vm.properties = new_props
        if body.get("tags") is not None or (not patch and "tags" in body):
            vm.tags = dict(body.get("tags") or {})
        vm.etag += 1
        changed = vm.refresh_profile()
        operation = "VirtualMachines_Update" if patch else "VirtualMachines_CreateOrUpdate"
        _record_write(request, vm, operation)

        async def update(op: Operation) -> None:
            if changed:
                _raise_error(await lifecycle.run_vm_action(request.app, vm, "vm_update"))

        op = _start(request, vm, operation, update)
        return compute.lro_created(request, op, render_ref(request.app, vm, False), 200)
    compute.check_preconditions(request, None)
    vm = await create_vm(request.app, m["sub"], m["rg"], m["vm"], body["location"], props, [],
                         list(body.get("zones") or []), dict(body.get("tags") or {}), running=False)
    _record_write(request, vm, "VirtualMachines_CreateOrUpdate")

    async def create(op: Operation) -> None:
        _raise_error(await lifecycle.run_vm_action(request.app, vm, "create"))

    op = _start(request, vm, "VirtualMachines_CreateOrUpdate", create)
    return compute.lro_created(request, op, render_ref(request.app, vm, False), 201)


async def vm_patch(request: web.Request, m: dict[str, str]) -> web.Response:
    return await vm_put(request, m, patch=True)


async def create_vm(app: web.Application, sub: str, rg: str, name: str, location: str, props: dict[str, Any],
                    extensions: list[dict[str, Any]], zones: list[str], tags: dict[str, Any], running: bool,
                    group_name: str | None = None, app_options: dict[str, Any] | None = None,
                    lb_options: dict[str, Any] | None = None, secrets: dict[str, Any] | None = None) -> VirtualMachine:
    """A new plain VM in its fleet group; its app starts with the caller's create work (or start_vm, if running)."""
    backend: VmBackend = app["vms"]
    props = _clean_properties(props, name, sub, rg)
    avset = availability_set_name(props)
    group, created = backend.group_for(sub, rg, location, group_name or avset or DEFAULT_GROUP, app_options,
                                       lb_options)
    profile = runtime_profile(props, extensions)
    inst = new_instance(name, backend.place(sub, rg, avset, zones), profile, running=running)
    vm = VirtualMachine(subscription=sub, resource_group=app["world"].resource_group(sub, rg).name, name=name,
                        location=location, properties=props, extensions=extensions, instance=inst, group=group,
                        zones=zones, tags=tags, profile=profile, availability_set=avset,
                        protected_settings=dict(secrets or {}))
    inst.private_ip = app["fleet"].allocate_ip(group, inst)
    backend.add(vm)
    if created:   # the group's load balancer (hooks order: allocate_ip, scale_set_created, instance_started)
        await app["fleet"].scale_set_created(group)
    return vm


async def vm_delete(request: web.Request, m: dict[str, str]) -> web.StreamResponse:
    backend = vms(request)
    backend.check_resource_group(m["sub"], m["rg"])
    ref = backend.plain(m["sub"], m["rg"], m["vm"]) or backend.member(m["sub"], m["rg"], m["vm"])
    if ref is None:
        return web.Response(status=204)
    if isinstance(ref, MemberRef):
        return await _member_run(request, ref, "delete", "VirtualMachines_Delete")
    ensure_vm_writable(ref)
    vm = ref
    vm.deleting = True
    _record_write(request, vm, "VirtualMachines_Delete")
    op = request.app["operations"].start("VirtualMachines_Delete", vm.subscription, vm.location, vm,
                                         lambda op: lifecycle.delete_vm(request.app, vm), lock=False)
    return request.app["operations"].accepted(request, op)


async def _member_run(request: web.Request, ref: MemberRef, action: str, kind: str) -> web.StreamResponse:
    """A Flexible member's single-VM action, run on the set's instance as the Uniform per-instance ones are."""
    ss, inst = ref.ss, ref.inst
    if ss.active_operation is not None or inst.busy:
        raise ArmError(409, "Conflict", compute.CONFLICT_MESSAGE)
    op = request.app["operations"].start(kind, ss.subscription, ss.location, ss,
                                         lambda op: compute._run_on(request.app, ss, [inst], action), lock=False)
    return request.app["operations"].accepted(request, op)


async def vm_action(request: web.Request, m: dict[str, str]) -> web.StreamResponse:
    action = m["action"].lower()
    kind = VM_ACTIONS[action]
    ref = vms(request).find(m["sub"], m["rg"], m["vm"], child=False)
    await read_json(request, required=False)
    if isinstance(ref, MemberRef):
        return await _member_run(request, ref, action, kind)
    vm = ref
    ensure_vm_writable(vm)
    app = request.app

    async def work(op: Operation) -> None:
        if action in ("restart", "redeploy"):
            _raise_error(await lifecycle.run_vm_action(app, vm, "restart"))
        elif action == "reimage":
            _raise_error(await lifecycle.run_vm_action(app, vm, "reimage"))
        elif action in ("poweroff", "deallocate"):
            await instance_lifecycle.power_off(app, vm.group, vm.instance, deallocate=action == "deallocate")
        else:
            await instance_lifecycle.power_on(app, vm.group, vm.instance)

    op = _start(request, vm, kind, work)
    return request.app["operations"].accepted(request, op)


# ---------------------------------------------------------------- extensions


def _extension(vm: VirtualMachine, name: str) -> dict[str, Any] | None:
    return next((e for e in vm.extensions if e["name"].lower() == name.lower()), None)


def _extension_missing(vm_name: str, rg: str, name: str) -> ArmError:
    return ArmError(404, "ResourceNotFound", f"The Resource 'Microsoft.Compute/virtualMachines/{vm_name}/extensions/"
                    f"{name}' under resource group '{rg}' was not found.")


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
        raise _extension_missing(m["vm"], m["rg"], m["ext"])
    return json_response(render_extension(ext, ref_id(ref), _location(ref), _instance(ref), _expand(request)))


async def ext_put(request: web.Request, m: dict[str, str], patch: bool = False) -> web.Response:
    ref = vms(request).find(m["sub"], m["rg"], m["vm"], child=True)
    body = await read_json(request)
    wire.check_members(body, "VirtualMachineExtension" + ("Update" if patch else ""))
    check_extension(body, "extensionParameters", name_required=False, patch=patch)
    vm = _ensure_plain(ref, "Update Virtual Machine Extension")
    ensure_vm_writable(vm)
    existing = _extension(vm, m["ext"])
    if patch and existing is None:
        raise _extension_missing(vm.name, vm.resource_group, m["ext"])
    name = existing["name"] if existing else m["ext"]
    given = copy.deepcopy(body.get("properties") or {})
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
    _record_write(request, vm, operation)

    async def apply(op: Operation) -> None:
        if changed:
            _raise_error(await lifecycle.run_vm_action(request.app, vm, "vm_extension"))

    op = _start(request, vm, operation, apply)
    rid = ref_id(vm)
    return compute.lro_created(request, op, render_extension(new_ext, rid, vm.location, vm.instance),
                               200 if existing else 201)


async def ext_patch(request: web.Request, m: dict[str, str]) -> web.Response:
    return await ext_put(request, m, patch=True)


async def ext_delete(request: web.Request, m: dict[str, str]) -> web.StreamResponse:
    ref = vms(request).find(m["sub"], m["rg"], m["vm"], child=True)
    vm = _ensure_plain(ref, "Delete Virtual Machine Extension")
    existing = _extension(vm, m["ext"])
    if existing is None:
        return web.Response(status=204)
    ensure_vm_writable(vm)
    vm.extensions = [e for e in vm.extensions if e is not existing]
    vm.protected_settings.pop(existing["name"], None)
    vm.etag += 1
    changed = vm.refresh_profile()
    _record_write(request, vm, "VirtualMachineExtensions_Delete")

    async def apply(op: Operation) -> None:
        if changed:
            _raise_error(await lifecycle.run_vm_action(request.app, vm, "vm_extension"))

    op = _start(request, vm, "VirtualMachineExtensions_Delete", apply)
    return request.app["operations"].accepted(request, op)


# ---------------------------------------------------------------- network interfaces


def _nics(request: web.Request, sub: str, rg: str | None) -> list[tuple[str, VirtualMachine | MemberRef, bool]]:
    out = []
    for ref in vms(request).list(sub, rg):
        out.extend((name, ref, i == 0) for i, name in enumerate(nic_names(ref)))
    return out


async def nic_list(request: web.Request, m: dict[str, str]) -> web.Response:
    items = _nics(request, m["sub"], m["rg"])
    return json_response(page(request, request.app["base_url"], items, request.app["world"].settings.page_size,
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
        ss = request.app["world"].scale_set(m["sub"], m["rg"], m["vmss"])
        if ss is not None and is_flexible(ss):
            raise _not_for_flexible(ss.name, what)
        return await handler(request, m)
    return guarded


def flexible_action(action: str):
    """POST .../virtualMachineScaleSets/{vmss}/{action}: on a Flexible set, manualupgrade and delete take VM names;
    the other batch actions are Uniform's (Flexible: one call per VM)."""
    async def handle(request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        ss = request.app["world"].scale_set(m["sub"], m["rg"], m["vmss"])
        if ss is None or not is_flexible(ss):
            return await compute.vmss_action(request, {**m, "action": action})
        if action not in ("manualupgrade", "delete"):
            raise _not_for_flexible(ss.name, action)
        body = await read_json(request, required=False)
        wire.check_members(body, compute.ACTION_BODIES.get(action, "VirtualMachineScaleSetVMInstanceIDs"))
        targets = member_targets(ss, body)
        compute.ensure_writable(ss, f"{action} Virtual Machine Scale Set")
        if any(i.busy for i in targets):
            raise ArmError(409, "Conflict", compute.CONFLICT_MESSAGE)
        op = compute.start_op(request, compute.SS_ACTIONS[action], ss,
                              lambda op: compute._run_on(request.app, ss, targets, action))
        return request.app["operations"].accepted(request, op)
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
    location = request.app["world"].resource_group(m["sub"], m["rg"])
    out = []
    for rg, name, members in vms(request).availability_set_list(m["sub"], m["rg"]):
        where = members[0].location if members else (location.location if location else "westeurope")
        out.append(render_availability_set(m["sub"], rg, name, where, members))
    return out


async def avset_list(request: web.Request, m: dict[str, str]) -> web.Response:
    return json_response(page(request, request.app["base_url"], _availability_sets(request, m),
                              request.app["world"].settings.page_size))


async def avset_get(request: web.Request, m: dict[str, str]) -> web.Response:
    for item in _availability_sets(request, m):
        if item["name"].lower() == m["avset"].lower():
            return json_response(item)
    raise ArmError(404, "ResourceNotFound", f"The Resource 'Microsoft.Compute/availabilitySets/{m['avset']}' under "
                   f"resource group '{m['rg']}' was not found.")
