"""A plain VM's state changes on the fleet (app, App Health, load balancer), with events and faults.

Its operations run through `lifecycle.run_operation`, as a scale-set instance's do; the difference is whose model is
applied: a plain VM runs its own model (`VirtualMachine.profile`), so every operation that succeeds leaves it on
that model.
"""
from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .. import lifecycle as instance_lifecycle
from ..app_keys import FAULTS, FLEET, VMS

if TYPE_CHECKING:   # models.py (VmBackend) runs this module's work: no import back at runtime
    from .models import VirtualMachine

# fault operation names of plain VMs (match.operation of upgrade_fails / upgrade_hangs / unhealthy_after_upgrade)
VM_OPERATIONS = ("create", "vm_update", "vm_extension", "reimage", "restart")


async def run_vm_action(app: web.Application, vm: VirtualMachine, operation: str) -> dict[str, Any] | None:
    """The VM through create / vm_update / vm_extension / reimage / restart (lifecycle.run_operation on its fleet
    group): down for upgrade_seconds, then the faults decide, then it runs its model (restart: the one it ran).
    Returns its error, or None."""
    inst, group = vm.instance, vm.group
    old_model = inst.applied_model

    async def settle() -> dict[str, Any] | None:
        await asyncio.sleep(app[VMS].upgrade_seconds(vm))
        if operation != "restart":
            inst.applied_model = vm.profile   # what the faults judge (image_version, extension_setting)
        if vm.fail_upgrade and operation != "restart":
            error = {"code": "VMExtensionProvisioningError",
                     "message": f"VM has reported a failure when processing extension on VM '{vm.name}' "
                                "(scenario fail_upgrade)."}
        else:
            error = await app[FAULTS].instance_upgrade_outcome(group, inst, operation)
        if error and operation != "create":
            inst.applied_model = old_model   # a failed change leaves the VM on what it ran
        return error

    return await instance_lifecycle.run_operation(app, group, inst, operation, vm.event_fields(), settle,
                                                  present=lambda: not vm.deleting)


async def start_vm(app: web.Application, vm: VirtualMachine) -> None:
    """A VM loaded from a scenario: running already."""
    instance_lifecycle.record_extension_order(app, vm.instance, vm.event_fields())
    vm.instance.started_at = time.time()
    await app[FLEET].instance_started(vm.group, vm.instance)


async def delete_vm(app: web.Application, vm: VirtualMachine) -> None:
    vm.deleting = True
    inst = vm.instance
    inst.provisioning_state = "Deleting"
    if inst.running or inst.power_state in ("starting", "stopping"):
        await app[FLEET].instance_stopped(vm.group, inst)
    inst.power_state = "deallocated"
    if app[VMS].remove(vm):
        await app[FLEET].scale_set_deleted(vm.group)


async def reset(app: web.Application) -> None:
    """POST /_emulator/reset: every VM and group gone (their apps and load balancers stopped)."""
    for group in app[VMS].clear():
        for inst in group.instances.values():
            if inst.running or inst.power_state in ("starting", "stopping"):
                await app[FLEET].instance_stopped(group, inst)
        group.deleting = True
        await app[FLEET].scale_set_deleted(group)
