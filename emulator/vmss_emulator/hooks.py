"""The seams between the ARM side (part 1) and the fleet / fault injection (part 2).

``create_app`` puts one ``Fleet`` in ``app[FLEET]`` and one ``Faults`` in ``app[FAULTS]``. When the modules
``vmss_emulator.fleet`` / ``vmss_emulator.faults`` exist, their ``make_fleet(app, events)`` /
``make_faults(app, events)`` build them; otherwise the null implementations below are used.
``app[WORLD]`` is the ``state.World`` (settings included) and ``app[EVENTS]`` the ``events.EventLog``.
(The keys are the typed ``web.AppKey`` constants of ``app_keys.py``.)

Call order the ARM side guarantees for a scale set:
  scenario load: allocate_ip(ss, inst) for each instance -> scale_set_created(ss) -> instance_started each
  SDK create (PUT): scale_set_created(ss) -> allocate_ip each (instances "Creating"/"starting")
           -> after upgrade_seconds and faults.instance_upgrade_outcome(ss, inst, "create"): instance_started each
  upgrade / reimage / restart of an instance (operation manualupgrade | rolling | reimage | restart):
           instance_stopped (power_state "stopping", provisioning_state "Updating") -> power_state "starting"
           -> sleep upgrade_seconds -> faults.instance_upgrade_outcome(...) (may block)
           -> the latest model applied (upgrades only, and only on success) -> power_state "running"
           -> instance_started
  scale-out: allocate_ip, then as for create
  power off / deallocate: instance_stopped; start: instance_started after upgrade_seconds
  scale-in / delete instances: instance_stopped then the instance is removed from ss.instances
  delete:  instance_stopped for each running instance -> scale_set_deleted(ss)
  POST /_emulator/reset: every scale set is deleted as above, then fleet.reset() and faults.reset()
  (fleet: zero the availability counters; faults: drop every rule).
"""
from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from aiohttp import web

    from .state import Instance, ScaleSet
    from .urls import Route


class Fleet(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def reset(self) -> None: ...
    async def scale_set_created(self, ss: ScaleSet) -> None: ...
    async def scale_set_deleted(self, ss: ScaleSet) -> None: ...
    async def instance_started(self, ss: ScaleSet, inst: Instance) -> None: ...
    async def instance_stopped(self, ss: ScaleSet, inst: Instance) -> None: ...
    def allocate_ip(self, ss: ScaleSet, inst: Instance) -> str: ...

    def health_state(self, ss: ScaleSet, inst: Instance) -> str | None:
        """healthy | unhealthy | unknown | initializing; None when no App Health extension is applied."""

    def describe_instance(self, ss: ScaleSet, inst: Instance) -> dict[str, Any]:
        """Extra fields for GET /_emulator/scale_sets/{rg}/{name}/instances (e.g. app_port, in_rotation)."""

    def routes(self) -> list[Route]:
        """Rows it adds to the route table (urls.Route), taken when the app is built."""


class Faults(Protocol):
    async def on_request(self, request: web.Request) -> web.StreamResponse | None:
        """Called before routing for every ARM and token request: a response short-circuits, raising drops."""

    async def reset(self) -> None: ...
    def token_lifetime(self, default: int) -> int: ...

    async def instance_upgrade_outcome(self, ss: ScaleSet, inst: Instance, operation: str) -> dict[str, Any] | None:
        """None for success, or an ARM error {code, message} failing this instance. May block (hang rules)."""

    def routes(self) -> list[Route]:
        """Rows it adds to the route table (urls.Route), taken when the app is built."""


class NullFleet:
    """No apps, no load balancer: unique loopback IPs, and "healthy" for running instances with App Health."""

    def __init__(self, second_octet: int | None = None) -> None:
        # a random second octet per process so two emulators on one machine hand out different IPs
        self._octet = second_octet if second_octet is not None else random.randint(100, 250)
        self._next = 0

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def reset(self) -> None:
        return None

    async def scale_set_created(self, ss: ScaleSet) -> None:
        return None

    async def scale_set_deleted(self, ss: ScaleSet) -> None:
        return None

    async def instance_started(self, ss: ScaleSet, inst: Instance) -> None:
        inst.health = self.health_state(ss, inst)

    async def instance_stopped(self, ss: ScaleSet, inst: Instance) -> None:
        inst.health = None

    def allocate_ip(self, ss: ScaleSet, inst: Instance) -> str:
        n = self._next
        self._next += 1
        # 254 hosts per /24, never .0 or .255
        return f"127.{self._octet}.{(n // 254) % 256}.{n % 254 + 1}"

    def health_state(self, ss: ScaleSet, inst: Instance) -> str | None:
        if inst.health_extension() is None:
            return None
        return "healthy" if inst.running else "unknown"

    def describe_instance(self, ss: ScaleSet, inst: Instance) -> dict[str, Any]:
        return {}

    def routes(self) -> list[Route]:
        return []


class NullFaults:
    async def reset(self) -> None:
        return None

    async def on_request(self, request: web.Request) -> web.StreamResponse | None:
        return None

    def token_lifetime(self, default: int) -> int:
        return default

    async def instance_upgrade_outcome(self, ss: ScaleSet, inst: Instance, operation: str) -> dict[str, Any] | None:
        return None

    def routes(self) -> list[Route]:
        return []
