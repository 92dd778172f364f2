"""The Microsoft.Compute backend: reads and changes `state.World` with no HTTP; raises ArmError, returns state
objects and the operations (LROs) it starts. The handlers in `responses.py` parse a request, call it and render
what it returns."""
from __future__ import annotations

import asyncio
import copy
from typing import Any, Awaitable, Callable, Mapping

from .. import lifecycle, rolling
from ..app_keys import EVENTS, FAULTS, FLEET, OPERATIONS
from ..arm import ARM_NOT_FOUND_HINT, CONFLICT_MESSAGE, now_iso
from ..exceptions import ArmError
from ..model import check_create_time, check_zones, fill_defaults, network_ids, split_secrets, \
    validate_extension_order, validate_health_signal
from ..operations import Operation, OperationFailed
from ..state import Instance, ResourceGroup, ScaleSet, World

Work = Callable[[Operation], Awaitable[None]]


class ComputeBackend:
    """One per app (app[COMPUTE]), over the app's world.

    `runtime` holds the collaborators the LRO work needs (the app: "operations", "events", "fleet", "faults", which
    lifecycle.py and rolling.py take); the backend never reads a request from it."""

    def __init__(self, world: World, runtime: Mapping[str, Any]) -> None:
        self.world = world
        self.runtime = runtime

    # ---- resource groups -----------------------------------------------------------------------------------
    def resource_group(self, sub: str, name: str) -> ResourceGroup:
        rg = self.world.resource_group(sub, name)
        if rg is None:
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{name}' could not be found.")
        return rg

    def resource_group_exists(self, sub: str, name: str) -> bool:
        return self.world.resource_group(sub, name) is not None

    def put_resource_group(self, sub: str, name: str, location: str, tags: dict[str, Any]) -> tuple[ResourceGroup, bool]:
        """The group as stored (an existing group keeps its name's spelling), and whether it was created."""
        existing = self.world.resource_group(sub, name)
        rg = ResourceGroup(sub, existing.name if existing else name, location, tags)
        self.world.resource_groups[(sub.lower(), name.lower())] = rg
        return rg, existing is None

    # ---- scale sets ----------------------------------------------------------------------------------------
    def scale_set(self, sub: str, rg: str, name: str, child: bool = False) -> ScaleSet:
        """The set, or ARM's 404 (ParentResourceNotFound when asked for one of its children)."""
        self.resource_group(sub, rg)
        ss = self.world.scale_set(sub, rg, name)
        if ss is None:
            if child:
                raise ArmError(404, "ParentResourceNotFound", "Can not perform requested operation on nested resource. "
                               f"Parent resource '{name}' not found.")
            raise ArmError(404, "ResourceNotFound", f"The Resource 'Microsoft.Compute/virtualMachineScaleSets/{name}' "
                           f"under resource group '{rg}' was not found. {ARM_NOT_FOUND_HINT}")
        return ss

    def scale_set_or_none(self, sub: str, rg: str, name: str) -> ScaleSet | None:
        return self.world.scale_set(sub, rg, name)

    def list_scale_sets(self, sub: str, rg: str | None = None) -> list[ScaleSet]:
        """The sets of a subscription, or of one of its resource groups (which must exist)."""
        if rg is not None:
            self.resource_group(sub, rg)
        return [ss for (ss_sub, ss_rg, _name), ss in self.world.scale_sets.items()
                if ss_sub == sub.lower() and (rg is None or ss_rg == rg.lower())]

    @property
    def page_size(self) -> int:
        return self.world.settings.page_size

    # ---- model writes (each starts the LRO that carries it out) ------------------------------------------
    def checked_model(self, sub: str, rg: str, name: str, props: dict[str, Any], previous: ScaleSet | None,
                      old_secrets: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """(checked properties with defaults, protected settings by extension name) for a PUT, a merged PATCH or an
        extension write: defaults, create-time properties, extension ordering, health signal."""
        props = fill_defaults(copy.deepcopy(props), network_ids(previous.subscription if previous else sub,
                                                                previous.resource_group if previous else rg, name))
        if previous is not None:
            check_create_time(previous.model, props)
        profile, secrets = split_secrets(props["virtualMachineProfile"])
        extensions = profile["extensionProfile"]["extensions"]
        validate_extension_order(name, extensions, previous.extensions() if previous else None)
        validate_health_signal(props)
        names = {e["name"] for e in extensions}
        merged_secrets = {k: v for k, v in old_secrets.items() if k in names}
        merged_secrets.update(secrets)
        if previous is not None and profile == previous.profile:
            profile = previous.profile  # unchanged: instances keep matching by identity
        props["virtualMachineProfile"] = profile
        return props, merged_secrets

    async def create_scale_set(self, sub: str, rg: ResourceGroup, name: str, location: str, sku: dict[str, Any],
                               zones: list[str], model: dict[str, Any], tags: dict[str, Any],
                               secrets: dict[str, Any]) -> tuple[ScaleSet, Operation]:
        """A new set (model from checked_model) in state Creating, and the LRO that provisions its instances."""
        model["timeCreated"] = now_iso()
        ss = ScaleSet(subscription=sub, resource_group=rg.name, name=name, location=location,
                      sku={**sku, "capacity": 0}, zones=zones, model=model, tags=tags, protected_settings=secrets)
        ss.sku["capacity"] = sku["capacity"]
        self.world.add_scale_set(ss)
        ss.provisioning_state = "Creating"
        self._record_write(ss, "VirtualMachineScaleSets_CreateOrUpdate")
        await self.runtime[FLEET].scale_set_created(ss)
        instances = [lifecycle.new_instance(self.runtime, ss, running=False) for _index in range(sku["capacity"])]

        async def create(op: Operation) -> None:
            try:
                errors = await lifecycle.provision_new(self.runtime, ss, instances)
                if errors:
                    raise OperationFailed(upgrade_error(errors))
            finally:
                ss.provisioning_state = "Succeeded"

        return ss, self._start(ss, "VirtualMachineScaleSets_CreateOrUpdate", create)

    def write_model(self, ss: ScaleSet, model: dict[str, Any], secrets: dict[str, Any], operation: str,
                    sku: dict[str, Any] | None = None, tags: dict[str, Any] | None = None,
                    zones: list[str] | None = None) -> Operation:
        """A write of an existing set's model (from checked_model): what is None is kept; a new etag; the LRO that
        changes capacity and applies the model as the upgrade policy says."""
        check_zones(ss.zones, zones)
        self.refuse_over_quota(ss, int((sku if sku is not None else ss.sku).get("capacity") or 0))
        changed = model["virtualMachineProfile"] is not ss.profile
        model["timeCreated"] = ss.model.get("timeCreated")  # fill_defaults drops it (read-only); a write keeps it
        ss.model, ss.protected_settings = model, secrets
        if sku is not None:
            ss.sku = sku
        if tags is not None:
            ss.tags = tags
        ss.etag += 1
        self._record_write(ss, operation)
        return self._start(ss, operation, self._after_model_write(ss, changed, ss.capacity))

    def refuse_over_quota(self, ss: ScaleSet, target_capacity: int) -> None:
        """A scale_out_fails rule with code QuotaExceeded: ARM refuses the write itself (409), nothing is stored."""
        refusal = self.runtime[FAULTS].scale_out_refusal(ss, len(ss.instances), target_capacity, "QuotaExceeded")
        if refusal:
            raise ArmError(409, refusal["code"], refusal["message"], target="sku.capacity")

    def _after_model_write(self, ss: ScaleSet, profile_changed: bool, target_capacity: int) -> Work:
        """The work of a model write's LRO: capacity changes, then what the upgrade policy does with a new model."""
        runtime = self.runtime
        refusal = runtime[FAULTS].scale_out_refusal(ss, len(ss.instances), target_capacity, "AllocationFailed")

        async def work(op: Operation) -> None:
            ss.provisioning_state = "Updating"
            try:
                if refusal:  # AllocationFailed (scale_out_fails): no instance is created, the capacity stays
                    ss.sku["capacity"] = len(ss.instances)
                    raise OperationFailed(refusal)
                if target_capacity > len(ss.instances):
                    new = [lifecycle.new_instance(runtime, ss, running=False)
                           for _index in range(target_capacity - len(ss.instances))]
                    errors = await lifecycle.provision_new(runtime, ss, new)
                    if errors:
                        raise OperationFailed(upgrade_error(errors))
                elif target_capacity < len(ss.instances):
                    surplus = len(ss.instances) - target_capacity
                    await lifecycle.remove_instances(runtime, ss, lifecycle.scale_in_victims(ss, surplus))
                mode = ss.upgrade_policy().get("mode")
                if profile_changed and mode == "Automatic":
                    stale = [i for i in ss.instances.values() if not ss.latest_model_applied(i) and not i.protected]
                    outcomes = await asyncio.gather(*(lifecycle.run_action(runtime, ss, i, "manualupgrade")
                                                      for i in stale))
                    errors = [e for e in outcomes if e]
                    if errors:
                        raise OperationFailed(upgrade_error(errors))
            finally:
                ss.provisioning_state = "Succeeded"
            # a rolling upgrade already running picks the new model up in its next batch
            if profile_changed and ss.upgrade_policy().get("mode") == "Rolling" and not rolling.is_running(ss):
                rolling.start(runtime, ss, "rolling", started_by="Platform")

        return work

    def write_extensions(self, ss: ScaleSet, extensions: list[dict[str, Any]], operation: str) -> Operation:
        """The set's model with `extensions` as its extension list (checked as any model write)."""
        props = copy.deepcopy({k: v for k, v in ss.model.items() if k != "virtualMachineProfile"})
        profile = dict(ss.profile)
        profile["extensionProfile"] = {**(ss.profile.get("extensionProfile") or {}), "extensions": extensions}
        props["virtualMachineProfile"] = profile
        props, secrets = self.checked_model(ss.subscription, ss.resource_group, ss.name, props, ss,
                                            ss.protected_settings)
        return self.write_model(ss, props, secrets, operation)

    def _record_write(self, ss: ScaleSet, operation: str) -> None:
        self.runtime[EVENTS].append("model_write", resource_group=ss.resource_group, vmss=ss.name,
                                    operation=operation, etag=ss.etag)

    def _start(self, ss: ScaleSet, kind: str, work: Work, lock: bool = True) -> Operation:
        return self.runtime[OPERATIONS].start(kind, ss.subscription, ss.location, ss, work, lock=lock)

    # ---- deletes, actions, protection ----------------------------------------------------------------------
    def delete_scale_set(self, sub: str, rg: str, name: str) -> Operation | None:
        """Marks the set as deleting, stops its rolling upgrade and starts the LRO that removes it; None if absent."""
        self.resource_group(sub, rg)
        ss = self.world.scale_set(sub, rg, name)
        if ss is None:
            return None
        ensure_writable(ss, "Delete Virtual Machine Scale Set")
        ss.deleting = True
        rolling.cancel_running(ss)

        async def delete(op: Operation) -> None:
            await lifecycle.delete_scale_set(self.runtime, ss)

        op = self._start(ss, "VirtualMachineScaleSets_Delete", delete)
        self._record_write(ss, "VirtualMachineScaleSets_Delete")
        return op

    def scale_set_action(self, ss: ScaleSet, targets: list[Instance], action: str, operation: str) -> Operation:
        """A scale-set action (manualupgrade, reimage, restart, poweroff, ..., delete) on the instances named."""
        ensure_writable(ss, f"{action} Virtual Machine Scale Set")
        if rolling.is_running(ss) or any(i.busy for i in targets):
            raise ArmError(409, "Conflict", CONFLICT_MESSAGE)
        return self._start(ss, operation, lambda op: self._run_on(ss, targets, action))

    def instance_action(self, ss: ScaleSet, inst: Instance, action: str, operation: str) -> Operation:
        """A per-instance action: allowed on protected instances, and it does not lock the set."""
        if ss.active_operation is not None or inst.busy:
            raise ArmError(409, "Conflict", CONFLICT_MESSAGE)
        return self._start(ss, operation, lambda op: self._run_on(ss, [inst], action), lock=False)

    def delete_instance(self, ss: ScaleSet, instance_id: str) -> Operation | None:
        inst = ss.instances.get(instance_id)
        if inst is None:
            return None
        if inst.busy or ss.active_operation:
            raise ArmError(409, "Conflict", CONFLICT_MESSAGE)
        return self._start(ss, "VirtualMachineScaleSetVMs_Delete",
                           lambda op: lifecycle.remove_instances(self.runtime, ss, [inst]), lock=False)

    async def _run_on(self, ss: ScaleSet, instances: list[Instance], action: str) -> None:
        runtime = self.runtime
        if action in ("manualupgrade", "reimage", "reimageall", "restart", "redeploy"):
            kind = {"reimageall": "reimage", "redeploy": "restart"}.get(action, action)
            outcomes = await asyncio.gather(*(lifecycle.run_action(runtime, ss, i, kind) for i in instances))
            errors = [e for e in outcomes if e]
            if errors:
                raise OperationFailed(upgrade_error(errors))
        elif action in ("poweroff", "deallocate"):
            for inst in instances:
                await lifecycle.power_off(runtime, ss, inst, deallocate=action == "deallocate")
        elif action == "start":
            await asyncio.gather(*(lifecycle.power_on(runtime, ss, i) for i in instances))
        elif action == "delete":
            await lifecycle.remove_instances(runtime, ss, instances)

    def set_protection(self, ss: ScaleSet, inst: Instance, policy: dict[str, Any]) -> Operation:
        """An instance's protectionPolicy: the members given (protectFromScaleSetActions, protectFromScaleIn)."""
        if inst.busy:
            raise ArmError(409, "Conflict", CONFLICT_MESSAGE)
        if "protectFromScaleSetActions" in policy:
            inst.protected = policy["protectFromScaleSetActions"]
        if "protectFromScaleIn" in policy:
            inst.protect_from_scale_in = policy["protectFromScaleIn"]

        async def nothing(op: Operation) -> None:
            return None

        return self._start(ss, "VirtualMachineScaleSetVMs_Update", nothing, lock=False)

    # ---- rolling upgrades ----------------------------------------------------------------------------------
    def start_rolling_upgrade(self, ss: ScaleSet, kind: str) -> Operation:
        ensure_writable(ss, "Start Rolling Upgrade")
        return rolling.start(self.runtime, ss, kind, started_by="User")

    def cancel_rolling_upgrade(self, ss: ScaleSet) -> Operation:
        if not rolling.is_running(ss):
            raise ArmError(409, "OperationNotAllowed", f"There is no rolling upgrade in progress on Virtual Machine "
                           f"Scale Set '{ss.name}' to cancel.")
        rolling.cancel_running(ss)

        async def wait(op: Operation) -> None:
            await rolling.wait_stopped(ss)

        return self._start(ss, "VirtualMachineScaleSetRollingUpgrades_Cancel", wait, lock=False)


def upgrade_error(errors: list[dict[str, Any]]) -> dict[str, Any]:
    """The error of an LRO in which instances failed: the first one's code, every failed id named."""
    first = errors[0]
    ids = ", ".join(e["instance_id"] for e in errors)
    error = {"code": first.get("code", "VMExtensionProvisioningError"),
             "message": f"{first.get('message', 'The upgrade failed.')} Failed instances: {ids}."}
    if len(errors) > 1:
        error["details"] = [{"code": e.get("code"), "target": e["instance_id"], "message": e.get("message")}
                            for e in errors]
    return error


def instance(ss: ScaleSet, instance_id: str) -> Instance:
    inst = ss.instances.get(instance_id)
    if inst is None:
        raise ArmError(404, "NotFound", "The entity was not found in this Azure location.")
    return inst


def find_extension(ss: ScaleSet, name: str) -> dict[str, Any] | None:
    return next((e for e in ss.extensions() if e["name"].lower() == name.lower()), None)


def extension_missing(ss: ScaleSet, name: str) -> ArmError:
    return ArmError(404, "ResourceNotFound", f"The Resource 'Microsoft.Compute/virtualMachineScaleSets/{ss.name}/"
                    f"extensions/{name}' under resource group '{ss.resource_group}' was not found. {ARM_NOT_FOUND_HINT}")


def ensure_writable(ss: ScaleSet, what: str = "Update Virtual Machine Scale Set") -> None:
    if ss.deleting:
        raise ArmError(409, "OperationNotAllowed", f"Operation '{what}' is not allowed on Virtual Machine Scale Set "
                       f"'{ss.name}' since it is marked for deletion. For more information on your operations, please "
                       "refer to https://aka.ms/activitylog.")
    if ss.active_operation is not None:
        raise ArmError(409, "Conflict", CONFLICT_MESSAGE)
