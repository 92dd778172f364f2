"""The admin backend: what the admin API (/_emulator/...) reads and changes, with no HTTP.

AdminBackend (app[ADMIN]) takes plain values, raises AdminError (the admin API's one error), and returns plain
data; the handlers in admin.py parse a request, call it and render what it returns."""
from __future__ import annotations

import math
from collections import Counter
from typing import Any, Mapping

from . import custom_metrics, lifecycle, scenario
from .app_keys import COUNTERS, DEFAULT_PRINCIPAL, EVENTS, FAULTS, FLEET, LOCKS, OPERATIONS, VMS
from .exceptions import AdminError
from .state import Instance, World, instance_order
from .vms import lifecycle as vm_lifecycle
from .vms.flexible import is_flexible
from .vms.models import MemberRef, VirtualMachine


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


class AdminBackend:
    """One per app. `runtime` is the app: the world, counters, events, operations, fleet and faults it resets."""

    def __init__(self, world: World, runtime: Mapping[str, Any]) -> None:
        self.world = world
        self.runtime = runtime

    # ---- timings -------------------------------------------------------------------------------------------
    def configure(self, settings: Any) -> dict[str, Any]:
        """Merge timing settings (a JSON object); or, with "scale_set": "RG/NAME", that set's upgrade_seconds."""
        if not isinstance(settings, dict):
            raise AdminError(400, "config must be a JSON object of timing settings")
        settings = dict(settings)
        target = settings.pop("scale_set", None)
        if target is not None:
            return self._configure_scale_set(str(target), settings)
        try:
            self.world.settings.merge(settings)
        except ValueError as exc:
            raise AdminError(400, str(exc)) from None
        return dict(vars(self.world.settings))

    def _configure_scale_set(self, target: str, settings: dict[str, Any]) -> dict[str, Any]:
        rg, _sep, name = target.partition("/")
        ss = self.world.find_scale_set(rg, name)
        if ss is None:
            raise AdminError(404, f"scale set '{target}' not found (use \"RG/NAME\")")
        unknown = set(settings) - {"upgrade_seconds"}
        if unknown:
            raise AdminError(400, f"per scale set only 'upgrade_seconds' can be set, not {sorted(unknown)}")
        ss.upgrade_seconds = _seconds_or_none(settings.get("upgrade_seconds"))
        return {"scale_set": ss.key, "upgrade_seconds": self.world.upgrade_seconds(ss)}

    # ---- plain VMs (the fleet view of VMs and their timings; rows in vms/admin.py) -----------------------
    def vm(self, rg: str, name: str) -> VirtualMachine | MemberRef:
        ref = self.runtime[VMS].find_by_admin_name(rg, name)
        if ref is None:
            raise AdminError(404, f"virtual machine '{rg}/{name}' not found")
        return ref

    def configure_vm(self, rg: str, name: str, settings: Any) -> dict[str, Any]:
        """One plain VM's timing and failure hook: {"upgrade_seconds"?: N | null (the global value), "fail_upgrade"?:
        bool}; what is left out is kept."""
        vm = self.runtime[VMS].find_by_admin_name(rg, name)
        if not isinstance(vm, VirtualMachine):
            raise AdminError(404, f"plain virtual machine '{rg}/{name}' not found (a Flexible member is configured "
                                  "through its scale set)")
        if not isinstance(settings, dict) or set(settings) - {"upgrade_seconds", "fail_upgrade"}:
            raise AdminError(400, "allowed keys: upgrade_seconds (non-negative number or null), fail_upgrade (bool)")
        seconds = _seconds_or_none(settings.get("upgrade_seconds", vm.upgrade_seconds))
        fail = settings.get("fail_upgrade", vm.fail_upgrade)
        if not isinstance(fail, bool):
            raise AdminError(400, "fail_upgrade must be true or false")
        self.runtime[VMS].set_timing(vm, seconds, fail)
        return {"virtual_machine": vm.key, "upgrade_seconds": self.runtime[VMS].upgrade_seconds(vm),
                "fail_upgrade": vm.fail_upgrade}

    # ---- scenarios and reset -------------------------------------------------------------------------------
    async def load_scenario(self, data: dict[str, Any]) -> dict[str, Any]:
        try:
            return await scenario.load(self.runtime, data)
        except scenario.ScenarioError as exc:
            raise AdminError(400, str(exc)) from None

    async def reset(self) -> None:
        """Drop every resource, lock, operation, event, counter, fault and extra principal (timings back to defaults)."""
        runtime, world = self.runtime, self.world
        await runtime[OPERATIONS].cancel_all()
        for ss in list(world.scale_sets.values()):
            await lifecycle.delete_scale_set(runtime, ss)
        world.scale_sets.clear()
        world.resource_groups.clear()
        world.principals[:] = [p for p in world.principals if p is runtime[DEFAULT_PRINCIPAL]]
        world.settings = type(world.settings)()
        await vm_lifecycle.reset(runtime)
        runtime[LOCKS].clear()
        await runtime[FLEET].reset()
        await runtime[FAULTS].reset()
        runtime[COUNTERS].reset()
        runtime[EVENTS].clear()

    # ---- counters and events -------------------------------------------------------------------------------
    def request_counts(self, reset: bool = False) -> dict[str, Any]:
        counters = self.runtime[COUNTERS]
        if reset:
            counters.reset()
        return counters.as_dict()

    def events(self, kind: str | None, since: str | None) -> list[dict[str, Any]]:
        try:
            since_seq = int(since) if since is not None else None
        except ValueError:
            raise AdminError(400, "since must be an integer event seq") from None
        return self.runtime[EVENTS].list(kind, since_seq)

    def clear_events(self) -> None:
        self.runtime[EVENTS].clear()

    # ---- the fleet view ------------------------------------------------------------------------------------
    def fleet_view(self, rg: str, name: str) -> dict[str, Any]:
        ss = self.world.find_scale_set(rg, name)
        if ss is None:
            raise AdminError(404, f"scale set '{rg}/{name}' not found")
        fleet = self.runtime[FLEET]
        rows = []
        for inst in sorted(ss.instances.values(), key=instance_order):
            row = {"instance_id": inst.instance_id, "ip": inst.private_ip, "app_port": (ss.app or {}).get("port"),
                   "running": inst.running, "power_state": inst.power_state,
                   "provisioning_state": inst.provisioning_state, "health": fleet.health_state(ss, inst),
                   "image_version": inst.image_version(), "latest_model_applied": ss.latest_model_applied(inst),
                   "update_domain": None if is_flexible(ss) else inst.update_domain,   # Flexible: none
                   "fault_domain": inst.fault_domain, "zone": inst.zone,
                   "protected": inst.protected, "extension_order": list(inst.extension_order),
                   "custom_metrics": inst.custom_metrics}
            row.update(fleet.describe_instance(ss, inst))
            rows.append(row)
        # the model beside its instances: what a rollout must leave behind (capacity, image, tags) without an SDK read
        model = {"capacity": ss.capacity, "image_version": Instance("model", 0, 0, None, ss.profile).image_version(),
                 "tags": dict(ss.tags)}
        return {"scale_set": ss.key, "model": model, "instances": rows}

    def set_custom_metrics(self, rg: str, name: str, instance_id: str, body: Any) -> dict[str, Any]:
        """What one instance's app reports as App Health customMetrics from now on (``{}``: nothing)."""
        ss = self.world.find_scale_set(rg, name)
        inst = ss.instances.get(instance_id) if ss is not None else None
        if inst is None:
            raise AdminError(404, f"instance '{instance_id}' of scale set '{rg}/{name}' not found")
        try:
            metrics = custom_metrics.validate(body)
        except (ValueError, scenario.ScenarioError) as exc:
            raise AdminError(400, str(exc)) from None
        inst.custom_metrics = metrics
        self.runtime[EVENTS].append("custom_metrics", resource_group=ss.resource_group, vmss=ss.name,
                                    instance_id=inst.instance_id, custom_metrics=metrics)
        return metrics


def _seconds_or_none(value: Any) -> float | None:
    """A per-resource upgrade_seconds: a finite non-negative number, or None (back to the global setting)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                              or value < 0):
        raise AdminError(400, "upgrade_seconds must be a non-negative number or null")
    return value
