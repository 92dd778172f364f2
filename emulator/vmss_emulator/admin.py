"""The admin API under /_emulator/ (loopback only, no token): health, config, scenario, reset, counters, events."""
from __future__ import annotations

import ipaddress
import json
from collections import Counter
from typing import Any

from aiohttp import web

from . import lifecycle, scenario
from .arm import json_response
from .exceptions import admin_error
from .state import Principal, instance_order
from .vms import lifecycle as vm_lifecycle
from .vms.models import is_flexible


class RequestCounters:
    """What ARM and sign-in were asked, for tests and benchmarks (GET /_emulator/requests)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.total = self.reads = self.writes = self.lro_polls = self.token_requests = 0
        self.by_operation: Counter[str] = Counter()

    def count(self, kind: str, operation_id: str) -> None:
        self.total += 1
        if kind in ("reads", "writes", "lro_polls", "token_requests"):
            setattr(self, kind, getattr(self, kind) + 1)
        self.by_operation[operation_id] += 1

    def as_dict(self) -> dict[str, Any]:
        return {"total": self.total, "reads": self.reads, "writes": self.writes, "lro_polls": self.lro_polls,
                "token_requests": self.token_requests, "by_operation": dict(self.by_operation)}


_error = admin_error


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        return scenario.parse(raw)  # YAML is accepted too


@web.middleware
async def loopback_only(request: web.Request, handler):
    if request.path.startswith("/_emulator/"):
        try:
            if not ipaddress.ip_address((request.remote or "").split("%")[0]).is_loopback:
                return _error(403, "the admin API answers loopback clients only")
        except ValueError:
            return _error(403, "the admin API answers loopback clients only")
    return await handler(request)


async def health(request: web.Request, groups: dict[str, str]) -> web.Response:
    return json_response({"status": "ok"})


async def config(request: web.Request, groups: dict[str, str]) -> web.Response:
    try:
        body = await _body(request)
    except scenario.ScenarioError as exc:
        return _error(400, str(exc))
    if not isinstance(body, dict):
        return _error(400, "config must be a JSON object of timing settings")
    world = request.app["world"]
    target = body.pop("scale_set", None)
    if target is not None:
        rg, _sep, name = str(target).partition("/")
        ss = world.find_scale_set(rg, name)
        if ss is None:
            return _error(404, f"scale set '{target}' not found (use \"RG/NAME\")")
        unknown = set(body) - {"upgrade_seconds"}
        if unknown:
            return _error(400, f"per scale set only 'upgrade_seconds' can be set, not {sorted(unknown)}")
        value = body.get("upgrade_seconds")
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
            return _error(400, "upgrade_seconds must be a non-negative number")
        ss.upgrade_seconds = value
        return json_response({"scale_set": ss.key, "upgrade_seconds": world.upgrade_seconds(ss)})
    try:
        world.settings.merge(body)
    except ValueError as exc:
        return _error(400, str(exc))
    return json_response(vars(world.settings))


async def load_scenario(request: web.Request, groups: dict[str, str]) -> web.Response:
    raw = await request.read()
    try:
        data = scenario.parse(raw)
        added = await scenario.load(request.app, data)
    except scenario.ScenarioError as exc:
        return _error(400, str(exc))
    return json_response(added)


async def reset(request: web.Request, groups: dict[str, str]) -> web.Response:
    await reset_world(request.app)
    return json_response({"status": "reset"})


async def reset_world(app: web.Application) -> None:
    """Drop every resource, operation, event, counter, fault and extra principal (timings go back to defaults)."""
    world = app["world"]
    await app["operations"].cancel_all()
    for ss in list(world.scale_sets.values()):
        await lifecycle.delete_scale_set(app, ss)
    world.scale_sets.clear()
    world.resource_groups.clear()
    world.principals[:] = [p for p in world.principals if p is app["default_principal"]]
    world.settings = type(world.settings)()
    await vm_lifecycle.reset(app)
    await app["fleet"].reset()
    await app["faults"].reset()
    app["counters"].reset()
    app["events"].clear()


async def requests_get(request: web.Request, groups: dict[str, str]) -> web.Response:
    return json_response(request.app["counters"].as_dict())


async def requests_delete(request: web.Request, groups: dict[str, str]) -> web.Response:
    request.app["counters"].reset()
    return json_response(request.app["counters"].as_dict())


async def events_get(request: web.Request, groups: dict[str, str]) -> web.Response:
    since = request.query.get("since")
    try:
        since_seq = int(since) if since is not None else None
    except ValueError:
        return _error(400, "since must be an integer event seq")
    return json_response({"events": request.app["events"].list(request.query.get("type"), since_seq)})


async def events_delete(request: web.Request, groups: dict[str, str]) -> web.Response:
    request.app["events"].clear()
    return json_response({"events": []})


async def fleet_view(request: web.Request, groups: dict[str, str]) -> web.Response:
    ss = request.app["world"].find_scale_set(groups["rg"], groups["name"])
    if ss is None:
        return _error(404, f"scale set '{groups['rg']}/{groups['name']}' not found")
    fleet = request.app["fleet"]
    rows = []
    for inst in sorted(ss.instances.values(), key=instance_order):
        row = {"instance_id": inst.instance_id, "ip": inst.private_ip, "app_port": (ss.app or {}).get("port"),
               "running": inst.running, "power_state": inst.power_state,
               "provisioning_state": inst.provisioning_state, "health": fleet.health_state(ss, inst),
               "image_version": inst.image_version(), "latest_model_applied": ss.latest_model_applied(inst),
               "update_domain": None if is_flexible(ss) else inst.update_domain,   # Flexible: none
               "fault_domain": inst.fault_domain, "zone": inst.zone,
               "protected": inst.protected, "extension_order": list(inst.extension_order)}
        row.update(fleet.describe_instance(ss, inst))
        rows.append(row)
    return json_response({"scale_set": ss.key, "instances": rows})


def default_principal(tenant: str, client_id: str, secret: str) -> Principal:
    return Principal(tenant, client_id, secret, ["*"])
