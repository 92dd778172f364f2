"""The aiohttp application: one dispatcher over the route table (ARM, sign-in, the admin API, and the rows of the
hooks for the fleet and faults)."""
from __future__ import annotations

import importlib
import importlib.util
import logging
import re
import time
import uuid

from aiohttp import web

from . import admin, auth, urls
from .app_keys import (ADMIN, BASE_URL, COMPUTE, COUNTERS, DEFAULT_PRINCIPAL, DEFAULT_SUBSCRIPTION, EVENTS, FAULTS,
                       FLEET, LOCKS, OPERATIONS, ROUTE_TABLE, TOKENS, VMS, WORLD)
from .admin_models import AdminBackend, RequestCounters
from .compute.models import ComputeBackend
from .vms.models import VmBackend
from .exceptions import ArmError
from .events import EventLog
from .hooks import NullFaults, NullFleet
from .lock_models import LockBackend
from .operations import Operations
from .state import Principal, World

log = logging.getLogger("vmss_emulator")
_SUBSCRIPTION = re.compile(r"^/subscriptions/([^/]+)", re.I)
TOKEN_ROUTES = ("Token", "TokenV1")
RATE_FAMILIES = {
    "VirtualMachineScaleSets_Get": "Microsoft.Compute/GetVMScaleSet3Min;398,Microsoft.Compute/GetVMScaleSet30Min;2586",
    "VirtualMachineScaleSetVMs_List": "Microsoft.Compute/HighCostGetVMScaleSet3Min;178,"
                                      "Microsoft.Compute/HighCostGetVMScaleSet30Min;898",
    "VirtualMachineScaleSetVMs_Get": "Microsoft.Compute/GetVMScaleSetVM3Min;999,Microsoft.Compute/GetVMScaleSetVM30Min;4999",
    "Operations_Get": "Microsoft.Compute/GetOperation3Min;14987,Microsoft.Compute/GetOperation30Min;29955",
}
WRITE_FAMILY = "Microsoft.Compute/VMScaleSetActions3Min;239,Microsoft.Compute/VMScaleSetActions30Min;1196"


def _load_hook(module: str, factory: str, app: web.Application, events: EventLog, default):
    """part 2's implementation when its module exists (import errors in it are real errors), else the null one."""
    if importlib.util.find_spec(f"vmss_emulator.{module}") is None:
        return default
    return getattr(importlib.import_module(f"vmss_emulator.{module}"), factory)(app, events)


def create_app(base_url: str, principal: Principal, subscription: str, fleet=None, faults=None) -> web.Application:
    """The emulator application. base_url is the https URL clients use (links in answers point there)."""
    app = web.Application(middlewares=[admin.loopback_only, arm_middleware], client_max_size=32 * 1024 * 1024)
    events = EventLog()
    world = World()
    world.principals.append(principal)
    app[BASE_URL] = base_url.rstrip("/")
    app[WORLD] = world
    app[COMPUTE] = ComputeBackend(world, app)
    app[VMS] = VmBackend(world, app)
    app[EVENTS] = events
    app[LOCKS] = LockBackend(events)
    app[COUNTERS] = RequestCounters()
    app[ADMIN] = AdminBackend(world, app)
    app[OPERATIONS] = Operations(app)
    app[TOKENS] = auth.TokenIssuer(app[BASE_URL])
    app[DEFAULT_PRINCIPAL] = principal
    app[DEFAULT_SUBSCRIPTION] = subscription
    app[FLEET] = fleet if fleet is not None else _load_hook("fleet", "make_fleet", app, events, NullFleet())
    app[FAULTS] = faults if faults is not None else _load_hook("faults", "make_faults", app, events, NullFaults())
    app[ROUTE_TABLE] = [*urls.ROUTES, *app[FLEET].routes(), *app[FAULTS].routes()]
    # aiohttp only hands every request to the one dispatcher; urls rows do the routing
    app.router.add_route("*", "/{tail:.*}", dispatch)
    app.on_startup.append(_start_hooks)
    app.on_shutdown.append(_stop_hooks)
    return app


async def _start_hooks(app: web.Application) -> None:
    await app[FLEET].start()


async def _stop_hooks(app: web.Application) -> None:
    await app[OPERATIONS].cancel_all()
    await app[FLEET].stop()


def _kind(method: str, operation_id: str, is_arm: bool) -> str:
    if operation_id in TOKEN_ROUTES:
        return "token_requests"
    if operation_id == "Operations_Get":
        return "lro_polls"
    if not is_arm:
        return "other"
    return "reads" if method in ("GET", "HEAD") else "writes"


@web.middleware
async def arm_middleware(request: web.Request, handler):
    if request.path.startswith("/_emulator/"):
        return await handler(request)
    started = time.monotonic()
    request_id = str(uuid.uuid4())
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # a 404 for paths outside ARM
        response = ArmError(exc.status, "NotFound" if exc.status == 404 else "MethodNotAllowed",
                            f"No HTTP resource was found that matches the request URI '{request.path}' with method "
                            f"{request.method}.").response()
    correlation = request.headers.get("x-ms-correlation-request-id") or str(uuid.uuid4())
    headers = response.headers
    headers.setdefault("x-ms-request-id", request_id)
    headers.setdefault("x-ms-correlation-request-id", correlation)
    headers.setdefault("x-ms-routing-request-id", f"EMULATOR:{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}:"
                                                  f"{correlation}")
    if "x-ms-client-request-id" in request.headers:
        headers.setdefault("x-ms-client-request-id", request.headers["x-ms-client-request-id"])
    operation_id = request.get("operation_id", "Unknown")
    kind = {"GET": "reads", "HEAD": "reads", "DELETE": "deletes"}.get(request.method, "writes")
    headers.setdefault(f"x-ms-ratelimit-remaining-subscription-{kind}",
                       {"reads": "11999", "writes": "1199", "deletes": "14999"}[kind])
    headers.setdefault("x-ms-ratelimit-remaining-resource",
                       RATE_FAMILIES.get(operation_id, WRITE_FAMILY if kind != "reads" else
                                         RATE_FAMILIES["VirtualMachineScaleSets_Get"]))
    # the path escaped: a name with a newline (or other control character) must not forge a log line
    log.info("%s %s -> %s %s %.1fms", request.method, request.path.encode("unicode_escape").decode("ascii"),
             response.status, operation_id, (time.monotonic() - started) * 1000)
    return response


async def dispatch(request: web.Request) -> web.StreamResponse:
    """The one handler aiohttp knows: resolve the request in app[ROUTE_TABLE] and call the row's handler."""
    routes = request.app[ROUTE_TABLE]
    resolved = urls.resolve(request.method, request.path, routes)
    if not request.path.startswith("/_emulator/"):
        return await _serve(request, resolved)
    # the admin API answers as aiohttp's router did: plain 404, 405 naming the allowed methods
    if resolved is None:
        allowed = urls.allowed_methods(request.path, routes)
        if allowed:
            raise web.HTTPMethodNotAllowed(request.method, allowed)
        raise web.HTTPNotFound()
    route, groups = resolved
    try:
        return await route.handler(request, groups)
    except ArmError as exc:  # AdminError: the admin API's envelope
        return exc.response()


async def _serve(request: web.Request, resolved: tuple[urls.Route, dict[str, str]] | None) -> web.StreamResponse:
    app = request.app
    path = request.path
    subscription = _SUBSCRIPTION.match(path)
    # ARM: everything under /subscriptions, plus the subscription list and /batch (a token, no subscription)
    is_arm = bool(subscription) or path.rstrip("/").lower() in ("/subscriptions", "/batch")
    if resolved:
        route, groups = resolved
        operation_id, action = urls.operation_id(route, groups), route.action or f"{request.method} {path}"
    else:
        operation_id, action = "Unknown", ""
    request["operation_id"] = operation_id
    app[COUNTERS].count(_kind(request.method, operation_id, is_arm), operation_id)
    try:
        faulted = await app[FAULTS].on_request(request)
        if faulted is not None:
            return faulted
        if is_arm:
            auth.authenticate(request, subscription.group(1) if subscription else None, action)
        if resolved is None:
            if is_arm:
                raise ArmError(404, "InvalidResourceType" if "/providers/" in path else "NotFound",
                               f"The resource type or operation could not be found for {request.method} '{path}'.")
            raise web.HTTPNotFound()
        route, groups = resolved
        if is_arm:   # ARM refuses a write or delete under a management lock before the provider sees it
            app[LOCKS].check_request(request.method, path, operation_id)
        return await route.handler(request, groups)
    except ArmError as exc:
        response = exc.response()
        if exc.status == 401:
            # as ARM words it; no insufficient_claims, so azure-core raises instead of re-authenticating
            response.headers["WWW-Authenticate"] = (
                f'Bearer authorization_uri="{app[BASE_URL]}/{app[DEFAULT_PRINCIPAL].tenant}", '
                f'error="invalid_token", error_description="{exc.message}"')
        return response
    except web.HTTPException:
        raise
    except Exception:  # noqa: BLE001 - answer with ARM's envelope, keep serving
        log.exception("error serving %s %s", request.method, path)
        return ArmError(500, "InternalServerError", "The server encountered an internal error. Please retry the "
                        "request.").response()
