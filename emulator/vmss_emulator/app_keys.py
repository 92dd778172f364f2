"""The keys of what ``server.create_app`` keeps on the aiohttp application, typed (aiohttp's ``web.AppKey``), so every
module reads ``app[WORLD]`` and the like by one shared constant. The types are imported for checkers only: this
module imports nothing of the package at run time, so any module may import it without a cycle."""
from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from .admin_models import AdminBackend, RequestCounters
    from .auth import TokenIssuer
    from .compute.models import ComputeBackend
    from .events import EventLog
    from .hooks import Faults, Fleet
    from .lock_models import LockBackend
    from .operations import Operations
    from .state import Principal, World
    from .urls import Route
    from .vms.models import VmBackend

ADMIN: web.AppKey[AdminBackend] = web.AppKey("admin")
BASE_URL: web.AppKey[str] = web.AppKey("base_url")  # the https URL clients use, no trailing slash
COMPUTE: web.AppKey[ComputeBackend] = web.AppKey("compute")
COUNTERS: web.AppKey[RequestCounters] = web.AppKey("counters")
DEFAULT_PRINCIPAL: web.AppKey[Principal] = web.AppKey("default_principal")
DEFAULT_SUBSCRIPTION: web.AppKey[str] = web.AppKey("default_subscription")
EVENTS: web.AppKey[EventLog] = web.AppKey("events")
FAULTS: web.AppKey[Faults] = web.AppKey("faults")
FLEET: web.AppKey[Fleet] = web.AppKey("fleet")
LOCKS: web.AppKey[LockBackend] = web.AppKey("locks")
OPERATIONS: web.AppKey[Operations] = web.AppKey("operations")
ROUTE_TABLE: web.AppKey[list[Route]] = web.AppKey("routes")  # urls.ROUTES + the fleet's and faults' rows
TOKENS: web.AppKey[TokenIssuer] = web.AppKey("tokens")
VMS: web.AppKey[VmBackend] = web.AppKey("vms")
WORLD: web.AppKey[World] = web.AppKey("world")
