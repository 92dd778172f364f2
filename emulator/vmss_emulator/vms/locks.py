"""Microsoft.Authorization/locks handlers at resource-group scope, at a scale set's and at a VM's (plain VMs and
Flexible members). They parse, call `LockBackend` (lock_models.py, app[LOCKS]) and render; the backend holds the
locks and the rule (ARM refuses writes and deletes under a lock in `server.py`, before any handler runs).
"""
from __future__ import annotations

from typing import Any

from aiohttp import web

from ..app_keys import BASE_URL, COMPUTE, LOCKS, VMS, WORLD
from ..arm import expect_type, json_response, page, read_json
from ..exceptions import ArmError
from ..lock_models import LEVELS, PROVIDER, LockBackend
from ..render import vmss_id
from .render import rg_prefix

API_VERSIONS = ("2016-09-01", "2020-05-01")


def backend(request: web.Request) -> LockBackend:
    return request.app[LOCKS]


def _check_api_version(request: web.Request) -> None:
    version = request.query.get("api-version", "")
    if version not in API_VERSIONS:
        raise ArmError(400, "NoRegisteredProviderFound", f"No registered resource provider found for API version "
                       f"'{version}' and type 'locks'. The supported api-versions are '{', '.join(API_VERSIONS)}'.")


def vm_scope(sub: str, rg: str, vm: str) -> str:
    return f"{rg_prefix(sub, rg)}/providers/Microsoft.Compute/virtualMachines/{vm}"


def _scope(request: web.Request, m: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """(the scope's resource id as Azure spells it, how lock events name it); 404 when the resource group, the scale
    set or the VM does not exist."""
    request.app[VMS].check_resource_group(m["sub"], m["rg"])
    rg = request.app[WORLD].resource_group(m["sub"], m["rg"]).name
    if m.get("vmss"):
        ss = request.app[COMPUTE].scale_set(m["sub"], m["rg"], m["vmss"])
        return vmss_id(ss), {"resource_group": rg, "vm": None, "vmss": ss.name}
    if m.get("vm"):
        vm = request.app[VMS].find(m["sub"], m["rg"], m["vm"]).name
        return vm_scope(m["sub"], rg, vm), {"resource_group": rg, "vm": vm}
    return rg_prefix(m["sub"], rg), {"resource_group": rg, "vm": None}


def render_lock(lock: dict[str, Any]) -> dict[str, Any]:
    props = {"level": lock["level"]}
    if lock.get("notes"):
        props["notes"] = lock["notes"]
    if lock.get("owners"):
        props["owners"] = lock["owners"]
    return {"id": f"{lock['scope']}{PROVIDER}/{lock['name']}", "type": "Microsoft.Authorization/locks",
            "name": lock["name"], "properties": props}


async def lock_put(request: web.Request, m: dict[str, str]) -> web.Response:
    _check_api_version(request)
    scope, owner = _scope(request, m)
    body = await read_json(request)
    expect_type(body, dict, "parameters", "a JSON object", null_ok=False)
    props = expect_type(body.get("properties"), dict, "properties", "an object", null_ok=False)
    level = props.get("level")
    if level not in LEVELS:
        raise ArmError(400, "InvalidLockLevel", f"The lock level '{level}' is not valid. Allowed values: "
                       f"{', '.join(LEVELS)}.", target="properties.level")
    notes = expect_type(props.get("notes"), str, "properties.notes", "a string")
    owners = expect_type(props.get("owners"), list, "properties.owners", "a list of {applicationId}")
    lock, created = backend(request).put(scope, m["lock"], level, owner, notes, owners)
    return json_response(render_lock(lock), 201 if created else 200)


async def lock_get(request: web.Request, m: dict[str, str]) -> web.Response:
    _check_api_version(request)
    scope, _owner = _scope(request, m)
    lock = backend(request).get(scope, m["lock"])
    if lock is None:
        raise ArmError(404, "LockNotFound", f"The lock '{m['lock']}' could not be found.")
    return json_response(render_lock(lock))


async def lock_delete(request: web.Request, m: dict[str, str]) -> web.Response:
    _check_api_version(request)
    scope, owner = _scope(request, m)
    return web.Response(status=204 if backend(request).delete(scope, m["lock"], owner) is None else 200)


async def lock_list(request: web.Request, m: dict[str, str]) -> web.Response:
    """Locks of a scope and its parents; at resource-group scope also those of the resources in it, as Azure lists
    them, unless `$filter=atScope()` (the scope's own and its parents')."""
    _check_api_version(request)
    scope, _owner = _scope(request, m)
    at_scope = request.query.get("$filter", "").replace(" ", "").lower() == "atscope()"
    below = not (m.get("vm") or m.get("vmss")) and not at_scope
    return json_response(page(request, request.app[BASE_URL], backend(request).listed(scope, below),
                              request.app[WORLD].settings.page_size, render_lock))
