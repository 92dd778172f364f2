"""Microsoft.Authorization/locks at resource-group scope and at a VM's scope (plain VMs and Flexible members).

A lock applies to its scope and everything under it: a ReadOnly lock refuses writes (PUT/PATCH of the VM, extension
writes, manualupgrade of a locked Flexible member), any lock refuses deletes; Azure answers 409 ScopeLocked naming
the locked scope. Locks live in VmBackend.locks, keyed (sub, rg, vm or "", lock name), all lower case.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web

from ..arm import expect_type, json_response, page, read_json
from ..exceptions import ArmError
from .render import rg_prefix

API_VERSIONS = ("2016-09-01", "2020-05-01")
LEVELS = ("CanNotDelete", "ReadOnly")
_PROVIDER = "/providers/Microsoft.Authorization/locks"


def _store(request: web.Request) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    return request.app["vms"].locks


def _check_api_version(request: web.Request) -> None:
    version = request.query.get("api-version", "")
    if version not in API_VERSIONS:
        raise ArmError(400, "NoRegisteredProviderFound", f"No registered resource provider found for API version "
                       f"'{version}' and type 'locks'. The supported api-versions are '{', '.join(API_VERSIONS)}'.")


def _scope_id(sub: str, rg: str, vm: str) -> str:
    base = rg_prefix(sub, rg)
    return f"{base}/providers/Microsoft.Compute/virtualMachines/{vm}" if vm else base


def _scope(request: web.Request, m: dict[str, str]) -> tuple[str, str, str]:
    """(sub, rg, vm name as Azure spells it or ""); 404 when the resource group or the VM does not exist."""
    backend = request.app["vms"]
    backend.check_resource_group(m["sub"], m["rg"])
    rg = request.app["world"].resource_group(m["sub"], m["rg"]).name
    vm = m.get("vm") or ""
    if vm:
        vm = backend.find(m["sub"], m["rg"], vm).name
    return m["sub"], rg, vm


def render_lock(lock: dict[str, Any]) -> dict[str, Any]:
    props = {"level": lock["level"]}
    if lock.get("notes"):
        props["notes"] = lock["notes"]
    if lock.get("owners"):
        props["owners"] = lock["owners"]
    return {"id": _scope_id(lock["sub"], lock["rg"], lock["vm"]) + f"{_PROVIDER}/{lock['name']}",
            "type": "Microsoft.Authorization/locks", "name": lock["name"], "properties": props}


def add_lock(store, sub: str, rg: str, vm: str, name: str, level: str, notes: str | None = None,
             owners: list | None = None) -> tuple[dict[str, Any], bool]:
    key = (sub.lower(), rg.lower(), vm.lower(), name.lower())
    created = key not in store
    store[key] = {"sub": sub, "rg": rg, "vm": vm, "name": name, "level": level, "notes": notes, "owners": owners}
    return store[key], created


async def lock_put(request: web.Request, m: dict[str, str]) -> web.Response:
    _check_api_version(request)
    sub, rg, vm = _scope(request, m)
    body = await read_json(request)
    expect_type(body, dict, "parameters", "a JSON object", null_ok=False)
    props = expect_type(body.get("properties"), dict, "properties", "an object", null_ok=False)
    level = props.get("level")
    if level not in LEVELS:
        raise ArmError(400, "InvalidLockLevel", f"The lock level '{level}' is not valid. Allowed values: "
                       f"{', '.join(LEVELS)}.", target="properties.level")
    notes = expect_type(props.get("notes"), str, "properties.notes", "a string")
    owners = expect_type(props.get("owners"), list, "properties.owners", "a list of {applicationId}")
    lock, created = add_lock(_store(request), sub, rg, vm, m["lock"], level, notes, owners)
    request.app["events"].append("lock_write", resource_group=rg, vm=vm or None, lock=lock["name"], level=level)
    return json_response(render_lock(lock), 201 if created else 200)


async def lock_get(request: web.Request, m: dict[str, str]) -> web.Response:
    _check_api_version(request)
    sub, rg, vm = _scope(request, m)
    lock = _store(request).get((sub.lower(), rg.lower(), vm.lower(), m["lock"].lower()))
    if lock is None:
        raise ArmError(404, "LockNotFound", f"The lock '{m['lock']}' could not be found.")
    return json_response(render_lock(lock))


async def lock_delete(request: web.Request, m: dict[str, str]) -> web.Response:
    _check_api_version(request)
    sub, rg, vm = _scope(request, m)
    lock = _store(request).pop((sub.lower(), rg.lower(), vm.lower(), m["lock"].lower()), None)
    if lock is None:
        return web.Response(status=204)
    request.app["events"].append("lock_delete", resource_group=rg, vm=vm or None, lock=lock["name"])
    return web.Response(status=200)


async def lock_list(request: web.Request, m: dict[str, str]) -> web.Response:
    """Locks of a scope and of everything under it (at resource-group scope: the group's and its VMs'), as Azure
    lists them; `$filter=atScope()` keeps the scope's own and its parents'."""
    _check_api_version(request)
    sub, rg, vm = _scope(request, m)
    at_scope = request.query.get("$filter", "").replace(" ", "").lower() == "atscope()"
    items = [lock for (s, r, v, _n), lock in sorted(_store(request).items())
             if s == sub.lower() and r == rg.lower()
             and (v == vm.lower() or v == "" or (not vm and not at_scope))]
    return json_response(page(request, request.app["base_url"], items, request.app["world"].settings.page_size,
                              render_lock))


def check_not_locked(app, sub: str, rg: str, vm: str, vm_id: str, delete: bool = False) -> None:
    """409 ScopeLocked when a lock on the VM or its resource group forbids the write (ReadOnly) or delete (any)."""
    locked = [lock for (s, r, v, _n), lock in sorted(app["vms"].locks.items())
              if s == sub.lower() and r == rg.lower() and v in ("", vm.lower())
              and (delete or lock["level"] == "ReadOnly")]
    if locked:
        scopes = ",".join(f"'{_scope_id(lock['sub'], lock['rg'], lock['vm'])}'" for lock in locked)
        raise ArmError(409, "ScopeLocked", f"The scope '{vm_id}' cannot perform {'delete' if delete else 'write'} "
                       f"operation because following scope(s) are locked: {scopes}. Please remove the lock and try "
                       "again.")
