"""The Microsoft.Compute backend: reads and changes `state.World` with no HTTP; raises ArmError, returns state
objects. The handlers in `responses.py` parse a request, call it and render what it returns."""
from __future__ import annotations

from typing import Any

from .. import rolling
from ..arm import ARM_NOT_FOUND_HINT, CONFLICT_MESSAGE
from ..exceptions import ArmError
from ..state import Instance, ResourceGroup, ScaleSet, World


class ComputeBackend:
    """One per app (app["compute"]), over the app's world."""

    def __init__(self, world: World) -> None:
        self.world = world

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

    def create_scale_set(self, sub: str, rg: ResourceGroup, name: str, location: str, sku: dict[str, Any], zones: list[str],
                         model: dict[str, Any], tags: dict[str, Any], secrets: dict[str, Any]) -> ScaleSet:
        """A new set (model already checked and defaulted) in state Creating, with no instances yet."""
        ss = ScaleSet(subscription=sub, resource_group=rg.name, name=name, location=location,
                      sku={**sku, "capacity": 0}, zones=zones, model=model, tags=tags, protected_settings=secrets)
        ss.sku["capacity"] = sku["capacity"]
        self.world.add_scale_set(ss)
        ss.provisioning_state = "Creating"
        return ss

    @staticmethod
    def store_model(ss: ScaleSet, model: dict[str, Any], secrets: dict[str, Any], sku: dict[str, Any] | None = None,
                    tags: dict[str, Any] | None = None, zones: list[str] | None = None) -> None:
        """A write of an existing set's model (already checked and defaulted): what is None is kept; a new etag."""
        ss.model, ss.protected_settings = model, secrets
        if sku is not None:
            ss.sku = sku
        if tags is not None:
            ss.tags = tags
        if zones is not None:
            ss.zones = zones
        ss.etag += 1

    @staticmethod
    def set_protection(inst: Instance, policy: dict[str, Any]) -> None:
        """An instance's protectionPolicy: the members given (protectFromScaleSetActions, protectFromScaleIn)."""
        if inst.busy:
            raise ArmError(409, "Conflict", CONFLICT_MESSAGE)
        if "protectFromScaleSetActions" in policy:
            inst.protected = policy["protectFromScaleSetActions"]
        if "protectFromScaleIn" in policy:
            inst.protect_from_scale_in = policy["protectFromScaleIn"]

    def begin_delete(self, sub: str, rg: str, name: str) -> ScaleSet | None:
        """Marks the set as deleting and stops its rolling upgrade (the caller's LRO removes it); None if absent."""
        self.resource_group(sub, rg)
        ss = self.world.scale_set(sub, rg, name)
        if ss is None:
            return None
        ensure_writable(ss, "Delete Virtual Machine Scale Set")
        ss.deleting = True
        rolling.cancel_running(ss)
        return ss


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
