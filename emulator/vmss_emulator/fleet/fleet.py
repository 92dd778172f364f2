"""The real ``hooks.Fleet``: an app per instance, App Health states, and a load balancer per scale set.

The ARM side owns the world and calls the hooks around every change (see hooks.py for the order); this class keeps
only what the data plane needs on top: each instance's app server, its drain flag, the last health state it
reported (for ``health_change`` events) and the scale set's load balancer.
"""
from __future__ import annotations

import asyncio
import logging
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ..events import EventLog
from ..state import Instance, ScaleSet, Settings
from .addresses import AddressPool
from .app import AppServer
from .balancer import Backend, LoadBalancer
from .health import AppStatus, health_body, health_state
from .options import DEFAULT_APP_PORT, validate_options
from .routes import routes

log = logging.getLogger("vmss_emulator.fleet")


@dataclass(eq=False)
class Node:
    """One instance's data plane."""

    inst: Instance
    server: AppServer
    listening_since: float | None = None
    drained: bool = False
    reported_health: str | None = None
    grace_timer: asyncio.TimerHandle | None = None


@dataclass(eq=False)
class SetFleet:
    ss: ScaleSet
    nodes: dict[str, Node] = field(default_factory=dict)
    balancer: LoadBalancer | None = None
    balancer_error: str | None = None


def app_port(ss: ScaleSet) -> int:
    return int((ss.app or {}).get("port") or DEFAULT_APP_PORT)


class EmulatorFleet:
    validate_options = staticmethod(validate_options)   # the scenario loader checks app / load_balancer with it

    def __init__(self, events: EventLog, settings: Callable[[], Settings], faults: Callable[[], Any] = lambda: None,
                 pool: AddressPool | None = None, clock: Callable[[], float] = time.time) -> None:
        self._events = events
        self._settings = settings
        self._faults = faults   # looked up when needed: the fault injector may be built after the fleet
        self._pool = pool or AddressPool()
        self._clock = clock
        self._sets: dict[ScaleSet, SetFleet] = {}

    # ---- lifecycle ---------------------------------------------------------------------------------------
    async def start(self) -> None:
        faults = self._faults()
        if faults is not None and hasattr(faults, "on_change"):
            faults.on_change(self.refresh_health)

    async def stop(self) -> None:
        for ss in list(self._sets):
            await self.scale_set_deleted(ss)

    async def reset(self) -> None:
        for ss in list(self._sets):   # normally none left: the ARM side deletes every set before reset()
            await self.scale_set_deleted(ss)

    # ---- hooks.Fleet -------------------------------------------------------------------------------------
    def allocate_ip(self, ss: ScaleSet, inst: Instance) -> str:
        fleet = self._fleet(ss)
        old = fleet.nodes.pop(inst.instance_id, None)
        if old is not None:
            self._close_node(old)
        try:
            ip, sock = self._pool.allocate(app_port(ss))
        except OSError as exc:   # e.g. no permission for the port: the instance runs, its app cannot listen
            ip, sock = self._pool.next_address(), None
            log.warning("%s instance %s: cannot reserve %s:%s for its app: %s", ss.key, inst.instance_id, ip,
                        app_port(ss), exc)
        fleet.nodes[inst.instance_id] = self._node(ss, inst, ip, sock)
        return ip

    async def scale_set_created(self, ss: ScaleSet) -> None:
        fleet = self._fleet(ss)
        options = ss.load_balancer or {}

        def probe_interval() -> float:   # read each round: the admin API may change it
            return float((ss.load_balancer or {}).get("probe_interval") or self._settings().probe_interval or 0.5)

        balancer = LoadBalancer(
            ss.key, backends=lambda: self._backends(fleet), probe_interval=probe_interval,
            on_rotation=lambda instance_id, entered: self._events.append(
                "lb_rotation", **ss.instance_owner(instance_id), instance_id=instance_id, in_rotation=entered),
            frontend_port=int(options.get("frontend_port") or 0), traffic_rps=float(options.get("traffic_rps") or 0))
        try:
            await balancer.start()
        except OSError as exc:
            fleet.balancer_error = f"load balancer frontend not started: {exc.strerror or exc}"
            log.warning("%s: %s", ss.key, fleet.balancer_error)
            return
        fleet.balancer = balancer

    async def scale_set_deleted(self, ss: ScaleSet) -> None:
        faults = self._faults()
        if faults is not None and hasattr(faults, "forget_scale_set"):
            faults.forget_scale_set(ss)
        fleet = self._sets.pop(ss, None)
        if fleet is None:
            return
        if fleet.balancer is not None:
            await fleet.balancer.stop()
        for node in fleet.nodes.values():
            self._close_node(node)

    async def instance_started(self, ss: ScaleSet, inst: Instance) -> None:
        if ss.deleting:   # an operation finishing after the set was deleted must not bring an app back
            return
        node = self._node_for(ss, inst)
        node.drained = False   # a drain lasts until the next restart / upgrade
        try:
            await node.server.start()
        except OSError as exc:   # the app cannot listen: the instance runs but its app does not answer
            log.warning("%s instance %s: app not started on %s:%s: %s", ss.key, inst.instance_id, node.server.ip,
                        node.server.port, exc)
            node.listening_since = None
            self._observe(ss, node)
            return
        node.listening_since = self._clock()
        self._observe(ss, node)
        grace = self._settings().health_grace_seconds
        if node.grace_timer is not None:
            node.grace_timer.cancel()
        # re-evaluate right after the grace period so the initializing -> healthy change is recorded on time
        node.grace_timer = asyncio.get_running_loop().call_later(grace + 0.001, self._observe, ss, node)

    async def instance_stopped(self, ss: ScaleSet, inst: Instance) -> None:
        node = self._fleet(ss).nodes.get(inst.instance_id)
        if node is None:
            return
        node.server.stop()
        node.listening_since = None
        if node.grace_timer is not None:
            node.grace_timer.cancel()
            node.grace_timer = None
        self._observe(ss, node)

    def health_state(self, ss: ScaleSet, inst: Instance) -> str | None:
        node = self._sets.get(ss) and self._sets[ss].nodes.get(inst.instance_id)
        if not node or node.inst is not inst:
            return health_state(inst, AppStatus(False, None, False, False), 0, self._clock())
        return self._observe(ss, node)

    def describe_instance(self, ss: ScaleSet, inst: Instance) -> dict[str, Any]:
        fleet = self._sets.get(ss)
        node = fleet.nodes.get(inst.instance_id) if fleet else None
        balancer = fleet.balancer if fleet else None
        return {
            "app_port": app_port(ss),
            "listening": bool(node and node.server.listening),
            "drained": bool(node and node.drained),
            "app_healthy": bool(node and node.server.listening and self._status(ss, node).healthy),
            "in_rotation": bool(balancer and inst.instance_id in balancer.in_rotation),
        }

    def routes(self) -> list[Any]:
        return routes(self)

    # ---- used by the admin routes and tests ----------------------------------------------------------------
    def balancers(self) -> dict[str, LoadBalancer | None]:
        return {fleet.ss.key: fleet.balancer for fleet in self._sets.values()}

    def balancer(self, ss: ScaleSet) -> LoadBalancer | None:
        fleet = self._sets.get(ss)
        return fleet.balancer if fleet else None

    def balancer_error(self, ss: ScaleSet) -> str | None:
        fleet = self._sets.get(ss)
        return fleet.balancer_error if fleet else None

    async def configure_balancer(self, ss: ScaleSet, options: dict[str, Any]) -> None:
        """Apply checked load-balancer options (frontend_port, probe_interval, traffic_rps); OSError when the new
        frontend port is not free (nothing changed then)."""
        balancer = self.balancer(ss)
        if "frontend_port" in options and options["frontend_port"] != balancer.port:
            await balancer.move_frontend(options["frontend_port"])
        ss.load_balancer.update(options)
        balancer.traffic_rps = float(ss.load_balancer.get("traffic_rps") or 0)
        balancer.settings_changed()

    def reset_availability(self) -> None:
        for fleet in self._sets.values():
            if fleet.balancer is not None:
                fleet.balancer.reset_availability()

    def refresh_health(self) -> None:
        """Re-evaluate every instance (after fault rules were removed, an app may be healthy again)."""
        for ss, fleet in list(self._sets.items()):
            for node in list(fleet.nodes.values()):
                self._observe(ss, node)

    # ---- internals -------------------------------------------------------------------------------------------
    def _fleet(self, ss: ScaleSet) -> SetFleet:
        fleet = self._sets.get(ss)
        if fleet is None:
            fleet = self._sets[ss] = SetFleet(ss)
        return fleet

    def _node(self, ss: ScaleSet, inst: Instance, ip: str, sock: socket.socket | None) -> Node:
        node = Node(inst, AppServer(ip, app_port(ss), sock, lambda method, path: self._answer(ss, node, method, path)))
        return node

    def _node_for(self, ss: ScaleSet, inst: Instance) -> Node:
        """The node of an instance, also for one whose address the fleet did not hand out."""
        fleet = self._fleet(ss)
        node = fleet.nodes.get(inst.instance_id)
        if node is not None and node.inst is inst:
            return node
        if node is not None:
            self._close_node(node)
        if not inst.private_ip:
            inst.private_ip = self.allocate_ip(ss, inst)
            return fleet.nodes[inst.instance_id]
        # an address handed out earlier (its node was pruned): rebind it; start() reports a failure to listen
        node = fleet.nodes[inst.instance_id] = self._node(ss, inst, inst.private_ip, None)
        return node

    def _is_sick(self, ss: ScaleSet, inst: Instance) -> bool:
        faults = self._faults()
        return bool(faults is not None and hasattr(faults, "app_is_sick") and faults.app_is_sick(ss, inst))

    def _close_node(self, node: Node) -> None:
        if node.grace_timer is not None:
            node.grace_timer.cancel()
        node.server.close()

    def _status(self, ss: ScaleSet, node: Node) -> AppStatus:
        return AppStatus(listening=node.server.listening, listening_since=node.listening_since,
                         drained=node.drained, sick=self._is_sick(ss, node.inst))

    def _observe(self, ss: ScaleSet, node: Node) -> str | None:
        """Compute the App Health state, store it on the instance, and record a change as an event."""
        state = health_state(node.inst, self._status(ss, node), self._settings().health_grace_seconds,
                             self._clock())
        node.inst.health = state
        if state != node.reported_health:
            self._events.append("health_change", **ss.instance_owner(node.inst.instance_id),
                                instance_id=node.inst.instance_id, **{"from": node.reported_health, "to": state})
            node.reported_health = state
        return state

    def _answer(self, ss: ScaleSet, node: Node, method: str, path: str) -> tuple[int, dict]:
        inst = node.inst
        if path == "/health":
            if method != "GET":
                return 405, {"error": "use GET /health"}
            status = self._status(ss, node)
            return (200 if status.healthy else 503), health_body(inst, status)
        if path == "/drain":
            if method != "POST":
                return 405, {"error": "use POST /drain"}
            node.drained = True
            self._observe(ss, node)
            return 200, {"status": "Draining", "instanceId": inst.instance_id}
        if method != "GET":
            return 405, {"error": "the app answers GET"}
        if self._is_sick(ss, inst):
            return 503, {"status": "Unhealthy", "instanceId": inst.instance_id}
        return 200, {"instanceId": inst.instance_id, "imageVersion": inst.image_version(), "path": path}

    def _backends(self, fleet: SetFleet) -> list[Backend]:
        """The instances behind the load balancer; drops the nodes of instances that no longer exist."""
        live = fleet.ss.instances
        for instance_id in [i for i, node in fleet.nodes.items() if live.get(i) is not node.inst]:
            self._close_node(fleet.nodes.pop(instance_id))
        return [Backend(i, node.server.ip, node.server.port) for i, node in fleet.nodes.items()]
