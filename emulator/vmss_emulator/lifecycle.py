"""Instance state changes. Every change goes through here, so the fleet hooks and events never miss one."""
from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable

from aiohttp import web

from .app_keys import EVENTS, FAULTS, FLEET, WORLD
from .model import provisioning_order
from .state import Instance, ScaleSet, instance_order
from .vms import flexible

UPDATE_DOMAINS = 5
RESTARTS = ("restart",)                       # keep the applied model
MODEL_APPLYING = ("manualupgrade", "rolling", "create", "reimageall_latest")


def placement(ss: ScaleSet, index: int) -> tuple[int, int, str | None]:
    """(update domain, fault domain, zone). Zonal: the zone with the fewest instances now, as Azure's zone balancing
    places a scale-out; on a tie the zone that got an instance least recently (round robin; the zones list order
    when empty). Domains counted within the zone. A new set is thus round robin over its zones, and after
    deletions new instances go where instances are missing."""
    if ss.zones:
        counts = {zone: 0 for zone in ss.zones}
        newest = {zone: -1 for zone in ss.zones}
        for created, inst in enumerate(ss.instances.values()):   # in creation order (Flexible members have names)
            if inst.zone in counts:
                counts[inst.zone] += 1
                newest[inst.zone] = created
        zone = min(ss.zones, key=lambda z: (counts[z], newest[z]))
        slot = counts[zone]
        return slot % UPDATE_DOMAINS, slot % UPDATE_DOMAINS, zone
    return index % UPDATE_DOMAINS, index % UPDATE_DOMAINS, None


def new_instance(app: web.Application, ss: ScaleSet, running: bool) -> Instance:
    index = ss.next_instance_id
    ss.next_instance_id += 1
    ud, fd, zone = placement(ss, index)
    name = str(index)
    if flexible.is_flexible(ss):   # a Flexible member is a VM named <set>_<suffix>, placed by fault domain and zone
        name = flexible.new_member_name(ss, index)
        fd, zone = flexible.flexible_placement(ss, index)
        ud = fd   # no update domains in Flexible: rolling batches go by fault domain
    inst = Instance(instance_id=name, update_domain=ud, fault_domain=fd, zone=zone, applied_model=ss.profile,
                    provisioning_state="Succeeded" if running else "Creating",
                    power_state="running" if running else "starting")
    inst.private_ip = app[FLEET].allocate_ip(ss, inst)
    ss.instances[inst.instance_id] = inst
    return inst


def owner_fields(ss: ScaleSet) -> dict[str, str]:
    """How events name a scale-set instance's owner (a plain VM's: `VirtualMachine.event_fields`)."""
    return {"resource_group": ss.resource_group, "vmss": ss.name}


def record_extension_order(app: web.Application, inst: Instance, owner: dict[str, str]) -> None:
    inst.extension_order = provisioning_order(inst.extensions())
    events = app[EVENTS]
    for order, name in enumerate(inst.extension_order):
        events.append("extension_provisioned", **owner, instance_id=inst.instance_id, extension=name, order=order)


async def start_scale_set(app: web.Application, ss: ScaleSet) -> None:
    """A scale set loaded from a scenario: its instances are running already."""
    await app[FLEET].scale_set_created(ss)
    for inst in list(ss.instances.values()):
        record_extension_order(app, inst, owner_fields(ss))
        inst.started_at = time.time()
        await app[FLEET].instance_started(ss, inst)


async def provision_new(app: web.Application, ss: ScaleSet, instances: list[Instance]) -> list[dict[str, Any]]:
    """New instances (create or scale-out) take upgrade_seconds, then run the latest model."""
    results = await asyncio.gather(*(run_action(app, ss, inst, "create") for inst in instances))
    return [r for r in results if r]


async def run_action(app: web.Application, ss: ScaleSet, inst: Instance, operation: str) -> dict[str, Any] | None:
    """One instance through upgrade / reimage / restart / create: returns its error, or None.

    The instance is Updating and not running for upgrade_seconds; then the faults decide the outcome (they may
    hold it there); then it runs the model (the latest for upgrades and creates, its own for restart/reimage;
    its own too when the upgrade failed, with provisioningState Failed).
    """
    async def settle() -> dict[str, Any] | None:
        await asyncio.sleep(app[WORLD].upgrade_seconds(ss))
        if inst.instance_id in ss.fail_upgrade_instances and operation != "restart":
            error = {"code": "VMExtensionProvisioningError",
                     "message": f"VM has reported a failure when processing extension on instance "
                                f"'{inst.instance_id}' (scenario fail_upgrade_instances)."}
        else:
            error = await app[FAULTS].instance_upgrade_outcome(ss, inst, operation)
        if operation in MODEL_APPLYING and not error:
            # a failed upgrade leaves the instance on its old model, so it still shows as drifted
            inst.applied_model = ss.profile
        return error

    return await run_operation(app, ss, inst, operation, owner_fields(ss), settle,
                               present=lambda: inst.instance_id in ss.instances)


async def run_operation(app: web.Application, ss: ScaleSet, inst: Instance, operation: str, owner: dict[str, str],
                        settle: Callable[[], Awaitable[dict[str, Any] | None]],
                        present: Callable[[], bool]) -> dict[str, Any] | None:
    """What every instance operation does, a scale-set instance's (run_action) or a plain VM's (vms/lifecycle.py,
    `ss` its fleet group): the instance busy and stopped (a create: starting), then `settle` waits, judges and
    applies the model it decides on (returning the error or None), the extension order recorded (not on a
    restart), and the instance running again unless it is gone (`present`); an event at start and end, naming it
    with `owner`. Returns its error (with its instance_id), or None."""
    fleet, events = app[FLEET], app[EVENTS]
    inst.busy = operation
    inst.error = None
    if operation != "create":
        inst.provisioning_state = "Updating"
        inst.power_state = "stopping"
        await fleet.instance_stopped(ss, inst)
    inst.power_state = "starting"
    events.append("instance_upgrade_start", **owner, instance_id=inst.instance_id, operation=operation)
    result = "succeeded"
    error: dict[str, Any] | None = None
    try:
        error = await settle()
        if operation != "restart":
            record_extension_order(app, inst, owner)
        inst.provisioning_state = "Failed" if error else "Succeeded"
        inst.error = error
        result = "failed" if error else "succeeded"
    except asyncio.CancelledError:
        result = "canceled"
        inst.provisioning_state = "Succeeded"
        raise
    finally:
        if present():
            inst.power_state = "running"
            inst.started_at = time.time()
            inst.busy = None
            await fleet.instance_started(ss, inst)
        events.append("instance_upgrade_end", **owner, instance_id=inst.instance_id, operation=operation,
                      result=result, **({"error_code": error["code"]} if error else {}))
    return {"instance_id": inst.instance_id, **error} if error else None


async def power_off(app: web.Application, ss: ScaleSet, inst: Instance, deallocate: bool = False) -> None:
    if inst.running:
        inst.power_state = "stopping"
        await app[FLEET].instance_stopped(ss, inst)
    inst.power_state = "deallocated" if deallocate else "stopped"


async def power_on(app: web.Application, ss: ScaleSet, inst: Instance) -> None:
    if inst.running:
        return
    inst.power_state = "starting"
    await asyncio.sleep(app[WORLD].upgrade_seconds(ss))
    inst.power_state = "running"
    inst.started_at = time.time()
    await app[FLEET].instance_started(ss, inst)


async def remove_instances(app: web.Application, ss: ScaleSet, instances: list[Instance]) -> None:
    for inst in instances:
        inst.provisioning_state = "Deleting"
        if inst.running or inst.power_state in ("starting", "stopping"):
            await app[FLEET].instance_stopped(ss, inst)
        inst.power_state = "deallocated"
        ss.instances.pop(inst.instance_id, None)
    ss.sku["capacity"] = len(ss.instances)


def scale_in_victims(ss: ScaleSet, count: int) -> list[Instance]:
    """The highest instance ids first, sparing instances protected from scale-in."""
    candidates = sorted((i for i in ss.instances.values() if not (i.protect_from_scale_in or i.protected)),
                        key=instance_order, reverse=True)
    return candidates[:count]


async def delete_scale_set(app: web.Application, ss: ScaleSet) -> None:
    ss.deleting = True
    ss.provisioning_state = "Deleting"
    for inst in list(ss.instances.values()):
        if inst.running or inst.power_state in ("starting", "stopping"):
            await app[FLEET].instance_stopped(ss, inst)
        inst.power_state = "deallocated"
    app[WORLD].remove_scale_set(ss)
    await app[FLEET].scale_set_deleted(ss)
