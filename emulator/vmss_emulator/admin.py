"""The admin API under /_emulator/ (loopback only, no token): health, config, scenario, reset, counters, events.

Each handler gets (request, match groups), parses, calls the AdminBackend (admin_models.py, app[ADMIN]) and
renders; an AdminError it raises becomes the admin envelope in the dispatcher (server.py)."""
from __future__ import annotations

import ipaddress
import json
from typing import Any

from aiohttp import web

from . import scenario
from .app_keys import ADMIN
from .admin_models import AdminBackend
from .arm import json_response
from .exceptions import AdminError
from .state import Principal

LOOPBACK_ONLY = "the admin API answers loopback clients only"


def backend(request: web.Request) -> AdminBackend:
    return request.app[ADMIN]


async def read_body(request: web.Request) -> Any:
    """An admin call's body: JSON, or YAML; empty is {}."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        try:
            return scenario.parse(raw)  # YAML is accepted too
        except scenario.ScenarioError as exc:
            raise AdminError(400, str(exc)) from None


@web.middleware
async def loopback_only(request: web.Request, handler):
    if request.path.startswith("/_emulator/"):
        try:
            if not ipaddress.ip_address((request.remote or "").split("%")[0]).is_loopback:
                return AdminError(403, LOOPBACK_ONLY).response()
        except ValueError:
            return AdminError(403, LOOPBACK_ONLY).response()
    return await handler(request)


async def health(request: web.Request, groups: dict[str, str]) -> web.Response:
    return json_response({"status": "ok"})


async def config(request: web.Request, groups: dict[str, str]) -> web.Response:
    return json_response(backend(request).configure(await read_body(request)))


async def load_scenario(request: web.Request, groups: dict[str, str]) -> web.Response:
    raw = await request.read()
    try:
        data = scenario.parse(raw)
    except scenario.ScenarioError as exc:
        raise AdminError(400, str(exc)) from None
    return json_response(await backend(request).load_scenario(data))


async def reset(request: web.Request, groups: dict[str, str]) -> web.Response:
    await backend(request).reset()
    return json_response({"status": "reset"})


async def requests_get(request: web.Request, groups: dict[str, str]) -> web.Response:
    return json_response(backend(request).request_counts())


async def requests_delete(request: web.Request, groups: dict[str, str]) -> web.Response:
    return json_response(backend(request).request_counts(reset=True))


async def events_get(request: web.Request, groups: dict[str, str]) -> web.Response:
    return json_response({"events": backend(request).events(request.query.get("type"), request.query.get("since"))})


async def events_delete(request: web.Request, groups: dict[str, str]) -> web.Response:
    backend(request).clear_events()
    return json_response({"events": []})


async def fleet_view(request: web.Request, groups: dict[str, str]) -> web.Response:
    return json_response(backend(request).fleet_view(groups["rg"], groups["name"]))


async def custom_metrics_set(request: web.Request, groups: dict[str, str]) -> web.Response:
    """Tell one instance's app what to report as App Health customMetrics (``{}`` stops reporting them)."""
    metrics = backend(request).set_custom_metrics(groups["rg"], groups["name"], groups["instance_id"],
                                                  await read_body(request))
    return json_response({"scale_set": f"{groups['rg']}/{groups['name']}", "instance_id": groups["instance_id"],
                          "custom_metrics": metrics})


def default_principal(tenant: str, client_id: str, secret: str) -> Principal:
    return Principal(tenant, client_id, secret, ["*"])
