"""A plain VM's state changes on the fleet (app, App Health, load balancer), with events and faults.

Mirrors `lifecycle.run_action` for scale-set instances; the difference is whose model is applied: a plain VM runs
its own model (`VirtualMachine.profile`), so every operation that succeeds leaves it on that model.
"""
from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..model import provisioning_order

if TYPE_CHECKING:   # models.py (VmBackend) runs this module's work: no import back at runtime
    from .models import VirtualMachine

# fault operation names of plain VMs (match.operation of upgrade_fails / upgrade_hangs / unhealthy_after_upgrade)
VM_OPERATIONS = ("create", "vm_update", "vm_extension", "reimage", "restart")


def _event(app: web.Application, kind: str, vm: VirtualMachine, **fields: Any) -> None:
    app["events"].append(kind, resource_group=vm.resource_group, vm=vm.name, instance_id=vm.name, **fields)


def _record_extensions(app: web.Application, vm: VirtualMachine) -> None:
    # the shared helper names the group as "vmss"; plain VMs get their own event with "vm"
    inst = vm.instance
    inst.extension_order = provisioning_order(inst.extensions())
    for order, name in enumerate(inst.extension_order):
        _event(app, "extension_provisioned", vm, extension=name, order=order)


async def run_vm_action(app: web.Application, vm: VirtualMachine, operation: str) -> dict[str, Any] | None:
    """The VM through create / vm_update / vm_extension / reimage / restart: down for upgrade_seconds, then the faults
    decide, then it runs its model (restart: the one it ran). Returns its error, or None."""
    fleet, inst, group = app["fleet"], vm.instance, vm.group
    inst.busy = operation
    inst.error = None
    old_model = inst.applied_model
    if operation != "create":
        inst.provisioning_state = "Updating"
        inst.power_state = "stopping"
        await fleet.instance_stopped(group, inst)
    inst.power_state = "starting"
    _event(app, "instance_upgrade_start", vm, operation=operation)
    result, error = "succeeded", None
    try:
        await asyncio.sleep(app["vms"].upgrade_seconds(vm))
        if operation != "restart":
            inst.applied_model = vm.profile   # what the faults judge (image_version, extension_setting)
        if vm.fail_upgrade and operation != "restart":
            error = {"code": "VMExtensionProvisioningError",
                     "message": f"VM has reported a failure when processing extension on VM '{vm.name}' "
                                "(scenario fail_upgrade)."}
        else:
            error = await app["faults"].instance_upgrade_outcome(group, inst, operation)
        if error and operation != "create":
            inst.applied_model = old_model   # a failed change leaves the VM on what it ran
        if operation != "restart":
            _record_extensions(app, vm)
        inst.provisioning_state = "Failed" if error else "Succeeded"
        inst.error = error
        result = "failed" if error else "succeeded"
    except asyncio.CancelledError:
        result = "canceled"
        inst.provisioning_state = "Succeeded"
        raise
    finally:
        if not vm.deleting:
            inst.power_state = "running"
            inst.started_at = time.time()
            inst.busy = None
            await fleet.instance_started(group, inst)
        _event(app, "instance_upgrade_end", vm, operation=operation, result=result,
               **({"error_code": error["code"]} if error else {}))
    return {"instance_id": vm.name, **error} if error else None


async def start_vm(app: web.Application, vm: VirtualMachine) -> None:
    """A VM loaded from a scenario: running already."""
    _record_extensions(app, vm)
    vm.instance.started_at = time.time()
    await app["fleet"].instance_started(vm.group, vm.instance)


async def delete_vm(app: web.Application, vm: VirtualMachine) -> None:
    vm.deleting = True
    inst = vm.instance
    inst.provisioning_state = "Deleting"
    if inst.running or inst.power_state in ("starting", "stopping"):
        await app["fleet"].instance_stopped(vm.group, inst)
    inst.power_state = "deallocated"
    if app["vms"].remove(vm):
        await app["fleet"].scale_set_deleted(vm.group)


async def reset(app: web.Application) -> None:
    """POST /_emulator/reset: every VM and group gone (their apps and load balancers stopped)."""
    for group in app["vms"].clear():
        for inst in group.instances.values():
            if inst.running or inst.power_state in ("starting", "stopping"):
                await app["fleet"].instance_stopped(group, inst)
        group.deleting = True
        await app["fleet"].scale_set_deleted(group)
