"""Rolling upgrades as the platform runs them: batches within an update domain, both unhealthy thresholds, pause,
cancel, and the status that rollingUpgrades/latest and osUpgradeHistory report."""
from __future__ import annotations

import asyncio
import copy
import time
from typing import Any

from aiohttp import web

from . import lifecycle
from .app_keys import EVENTS, FLEET, OPERATIONS, WORLD
from .arm import now_iso
from .model import ROLLING_DEFAULTS, parse_duration
from .operations import Operation, OperationFailed
from .state import Instance, ScaleSet, instance_order

HISTORY_LENGTH = 10
OPERATION_NAMES = {"os": "VirtualMachineScaleSetRollingUpgrades_StartOSUpgrade",
                   "extension": "VirtualMachineScaleSetRollingUpgrades_StartExtensionUpgrade",
                   "rolling": "RollingUpgradePolicy_ModelChange"}


def is_running(ss: ScaleSet) -> bool:
    op = ss.rolling_operation
    return op is not None and not op.done.is_set()


def cancel_running(ss: ScaleSet) -> None:
    if is_running(ss) and ss.rolling_operation.task:
        ss.rolling_operation.error = {"code": "OperationPreempted",
                                      "message": "The rolling upgrade was cancelled by a user request."}
        ss.rolling_operation.task.cancel()


async def wait_stopped(ss: ScaleSet) -> None:
    if ss.rolling_operation is not None:
        await ss.rolling_operation.done.wait()


def unhealthy(app: web.Application, ss: ScaleSet, inst: Instance) -> bool:
    if inst.provisioning_state == "Failed" or not inst.running:
        return True
    return app[FLEET].health_state(ss, inst) in ("unhealthy", "unknown")


def start(app: web.Application, ss: ScaleSet, kind: str, started_by: str) -> Operation:
    """Start a rolling upgrade, or follow the one already running (its LRO ends when that one does)."""
    operations = app[OPERATIONS]
    if is_running(ss):
        current = ss.rolling_operation

        async def follow(op: Operation) -> None:
            await current.done.wait()
            if current.status != "Succeeded":
                raise OperationFailed(current.error or {"code": "RollingUpgradeFailed", "message": current.status})

        return operations.start(OPERATION_NAMES[kind], ss.subscription, ss.location, ss, follow, lock=False)
    op = operations.start(OPERATION_NAMES[kind], ss.subscription, ss.location, ss,
                          lambda op: _run(app, ss, op, kind, started_by), lock=False)
    ss.rolling_operation = op
    return op


async def _run(app: web.Application, ss: ScaleSet, op: Operation, kind: str, started_by: str) -> None:
    policy = {**ROLLING_DEFAULTS, **(ss.upgrade_policy().get("rollingUpgradePolicy") or {})}
    pause = parse_duration(policy["pauseTimeBetweenBatches"], "pauseTimeBetweenBatches")
    settings = app[WORLD].settings
    started = time.time()
    progress = {"successfulInstanceCount": 0, "failedInstanceCount": 0, "inProgressInstanceCount": 0,
                "pendingInstanceCount": 0}
    status: dict[str, Any] = {
        "policy": {k: policy[k] for k in ("maxBatchInstancePercent", "maxUnhealthyInstancePercent",
                                          "maxUnhealthyUpgradedInstancePercent", "pauseTimeBetweenBatches")},
        "runningStatus": {"code": "RollingForward", "startTime": now_iso(started), "lastAction": "Start",
                          "lastActionTime": now_iso(started)},
        "progress": progress,
    }
    ss.rolling_upgrade = status
    target_image = copy.deepcopy(ss.image_reference())
    done: set[str] = set()
    upgraded: list[Instance] = []
    error: dict[str, Any] | None = None
    events = app[EVENTS]
    try:
        while True:
            candidates = [i for i in ss.instances.values()
                          if i.instance_id not in done and not i.protected and not ss.latest_model_applied(i)]
            progress["pendingInstanceCount"] = len(candidates)
            if not candidates:
                break
            total = len(ss.instances)
            sick = sum(1 for i in ss.instances.values() if unhealthy(app, ss, i))
            if sick * 100 > policy["maxUnhealthyInstancePercent"] * total:
                error = {"code": "MaxUnhealthyInstancePercentExceededInRollingUpgrade",
                         "message": f"Rolling Upgrade failed after exceeding the MaxUnhealthyInstancePercent value "
                                    f"defined in the RollingUpgradePolicy. {sick} of {total} instances are unhealthy "
                                    f"({policy['maxUnhealthyInstancePercent']}% allowed)."}
                break
            batch = _next_batch(app, ss, candidates, policy, total)
            progress["inProgressInstanceCount"] = len(batch)
            progress["pendingInstanceCount"] = len(candidates) - len(batch)
            events.append("rolling_batch", resource_group=ss.resource_group, vmss=ss.name,
                          instance_ids=[i.instance_id for i in batch])
            if policy.get("maxSurge"):
                batch = await _surge_batch(app, ss, batch, progress, done, settings)
            else:
                results = await asyncio.gather(*(lifecycle.run_action(app, ss, i, "rolling") for i in batch))
                for inst, result in zip(batch, results):
                    done.add(inst.instance_id)
                    progress["failedInstanceCount" if result else "successfulInstanceCount"] += 1
                await _settle(app, ss, batch, settings.health_grace_seconds + 5 * settings.probe_interval + 1)
            progress["inProgressInstanceCount"] = 0
            upgraded.extend(batch)
            bad = sum(1 for i in upgraded if unhealthy(app, ss, i))
            if bad * 100 > policy["maxUnhealthyUpgradedInstancePercent"] * len(upgraded):
                error = {"code": "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade",
                         "message": "Rolling Upgrade failed after exceeding the MaxUnhealthyUpgradedInstancePercent "
                                    "value defined in the RollingUpgradePolicy. "
                                    f"{bad} of {len(upgraded)} upgraded instances are unhealthy "
                                    f"({policy['maxUnhealthyUpgradedInstancePercent']}% allowed)."}
                break
            if pause and any(i.instance_id not in done and not ss.latest_model_applied(i)
                             for i in ss.instances.values()):
                await asyncio.sleep(pause)
        if error:
            status["runningStatus"]["code"] = "Faulted"
            status["error"] = error
            raise OperationFailed(error)
        status["runningStatus"]["code"] = "Completed"
    except asyncio.CancelledError:
        status["runningStatus"].update({"code": "Cancelled", "lastAction": "Cancel", "lastActionTime": now_iso()})
        progress["inProgressInstanceCount"] = 0
        raise
    finally:
        status["runningStatus"]["endTime"] = now_iso()
        ss.os_upgrade_history.append({
            "runningStatus": dict(status["runningStatus"]), "progress": dict(progress), "error": error,
            "startedBy": started_by, "targetImageReference": target_image,
            "rollbackInfo": {"successfullyRolledbackInstanceCount": 0, "failedRolledbackInstanceCount": 0}})
        del ss.os_upgrade_history[:-HISTORY_LENGTH]


async def _surge_batch(app: web.Application, ss: ScaleSet, old: list[Instance], progress: dict[str, int],
                       done: set[str], settings: Any) -> list[Instance]:
    """rollingUpgradePolicy.maxSurge: as many new instances as the batch (on the latest model) first; the old ones
    are deleted once the new ones are healthy, so capacity never drops. New ones that fail or stay unhealthy leave
    the old ones in place (the threshold check then stops the upgrade). Returns the new instances (judged next)."""
    new = [lifecycle.new_instance(app, ss, running=False) for _old in old]
    ss.sku["capacity"] = len(ss.instances)
    errors = await lifecycle.provision_new(app, ss, new)
    await _settle(app, ss, new, settings.health_grace_seconds + 5 * settings.probe_interval + 1)
    healthy = not errors and not any(unhealthy(app, ss, i) for i in new)
    for inst in old:
        done.add(inst.instance_id)
    progress["successfulInstanceCount" if healthy else "failedInstanceCount"] += len(old)
    if healthy:
        await asyncio.sleep(2 * settings.probe_interval)  # the load balancer takes the new ones in first
        await lifecycle.remove_instances(app, ss, old)
    return new


def _next_batch(app: web.Application, ss: ScaleSet, candidates: list[Instance], policy: dict[str, Any],
                total: int) -> list[Instance]:
    """Up to maxBatchInstancePercent of the set (at least one), all from one update domain (and zone)."""
    size = max(1, total * policy["maxBatchInstancePercent"] // 100)
    cross_zone = bool(policy.get("enableCrossZoneUpgrade"))

    def key(i: Instance) -> tuple:
        first = 0 if policy.get("prioritizeUnhealthyInstances") and unhealthy(app, ss, i) else 1
        zone = "" if cross_zone else (i.zone or "")
        return (first, zone, i.update_domain, instance_order(i))

    ordered = sorted(candidates, key=key)
    head = ordered[0]
    same = [i for i in ordered if i.update_domain == head.update_domain and (cross_zone or i.zone == head.zone)]
    return same[:size]


async def _settle(app: web.Application, ss: ScaleSet, batch: list[Instance], limit: float) -> None:
    """Wait (bounded) while the batch's App Health still says initializing, as the platform does."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if not any(app[FLEET].health_state(ss, i) == "initializing" for i in batch if i.instance_id in ss.instances):
            return
        await asyncio.sleep(0.05)
