"""The in-memory world of the emulator: plain dataclasses, no I/O.

Ownership: the ARM side (part 1) creates, changes and deletes these objects and calls the fleet hooks around
every change; the fleet (part 2) reads them and writes only ``Instance.health`` and ``Instance.private_ip``
(through ``allocate_ip``).

Model snapshots: ``ScaleSet.model["virtualMachineProfile"]`` is replaced (never mutated in place) on every
model write, and ``Instance.applied_model`` holds a reference to the profile snapshot the instance runs.
Treat both as read-only; sharing the snapshot keeps 1000 instances cheap.
"""
from __future__ import annotations

import math

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

HEALTH_EXTENSION_TYPES = ("ApplicationHealthLinux", "ApplicationHealthWindows")


def is_health_extension(ext: dict[str, Any]) -> bool:
    """An Application Health extension (its type, compared ignoring case as ARM does)."""
    return str((ext.get("properties") or {}).get("type") or "").lower() in (t.lower() for t in HEALTH_EXTENSION_TYPES)


@dataclass
class Settings:
    """Timings (scenario ``config`` / ``POST /_emulator/config``). Per scale set, upgrade_seconds may override."""

    upgrade_seconds: float = 0.5
    lro_retry_after: float = 1.0
    token_lifetime: int = 3600
    page_size: int = 100
    health_grace_seconds: float = 1.0
    probe_interval: float = 0.5

    def merge(self, values: dict[str, Any]) -> None:
        """Apply known keys after type checks; raises ValueError naming the key and what is allowed."""
        for key, value in values.items():
            if key not in self.__dataclass_fields__:
                allowed = ", ".join(self.__dataclass_fields__)
                raise ValueError(f"unknown config key '{key}'; allowed: {allowed}")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"config '{key}' must be a non-negative number, got {value!r}")
            if key in ("page_size", "token_lifetime"):
                if int(value) < 1:
                    raise ValueError(f"config '{key}' must be a positive integer, got {value!r}")
                value = int(value)
            setattr(self, key, value)


def _image_reference(profile: dict[str, Any] | None) -> dict[str, Any]:
    return ((profile or {}).get("storageProfile") or {}).get("imageReference") or {}


def _extensions(profile: dict[str, Any] | None) -> list[dict[str, Any]]:
    return ((profile or {}).get("extensionProfile") or {}).get("extensions") or []


@dataclass(eq=False)
class Instance:
    instance_id: str
    update_domain: int
    fault_domain: int
    zone: str | None
    applied_model: dict[str, Any]          # the virtualMachineProfile snapshot this instance runs (read-only)
    provisioning_state: str = "Succeeded"  # Creating | Updating | Succeeded | Failed | Deleting
    power_state: str = "running"           # running | stopped | starting | stopping | deallocated
    private_ip: str | None = None
    protected: bool = False                # protectionPolicy.protectFromScaleSetActions
    protect_from_scale_in: bool = False
    health: str | None = None              # set by the fleet: healthy | unhealthy | unknown | initializing
    extension_order: list[str] = field(default_factory=list)  # names in the order they last provisioned
    vm_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started_at: float = field(default_factory=time.time)     # last time the instance went to running
    busy: str | None = None                # the operation working on this instance right now, if any
    error: dict[str, Any] | None = None    # the last failure ({code, message}) when provisioning_state is Failed
    # what the instance's app puts in its App Health answer as customMetrics (rich health states), e.g.
    # {"rollingUpgrade": {"PhaseOrderingNumber": 1, "SkipUpgrade": false}}; set through the admin API
    custom_metrics: dict[str, Any] | None = None

    @property
    def running(self) -> bool:
        return self.power_state == "running"

    def image_reference(self) -> dict[str, Any]:
        return _image_reference(self.applied_model)

    def image_version(self) -> str | None:
        """The applied image version, or for a gallery/custom image the last segment of its id."""
        ref = self.image_reference()
        if ref.get("version"):
            return ref["version"]
        image_id = ref.get("id") or ref.get("sharedGalleryImageId") or ref.get("communityGalleryImageId")
        return image_id.rstrip("/").rsplit("/", 1)[-1] if image_id else None

    def extensions(self) -> list[dict[str, Any]]:
        """The applied extensions in ARM shape [{name, properties}] (never holds protectedSettings)."""
        return _extensions(self.applied_model)

    def extension_settings(self, name: str) -> dict[str, Any] | None:
        for ext in self.extensions():
            if ext.get("name", "").lower() == name.lower():
                return (ext.get("properties") or {}).get("settings") or {}
        return None

    def health_extension(self) -> dict[str, Any] | None:
        """The applied ApplicationHealthLinux/Windows extension, or None."""
        for ext in self.extensions():
            if is_health_extension(ext):
                return ext
        return None


def instance_order(inst: Instance) -> tuple[int, str]:
    """Sort key: Uniform ids in numeric order, then named instances (Flexible members, VMs) by name."""
    return (int(inst.instance_id), "") if inst.instance_id.isdigit() else (1 << 62, inst.instance_id)


# the orchestrationMode of the hidden fleet group holding plain VMs (vms/models.py): never a scale set's
VM_GROUP_MODE = "VirtualMachines"


@dataclass(eq=False)
class ScaleSet:
    subscription: str
    resource_group: str
    name: str
    location: str
    sku: dict[str, Any]                    # {name, tier, capacity}
    zones: list[str]
    model: dict[str, Any]                  # the ARM "properties" dict, incl. virtualMachineProfile
    tags: dict[str, Any] = field(default_factory=dict)
    etag: int = 1
    instances: dict[str, Instance] = field(default_factory=dict)
    upgrade_seconds: float | None = None   # overrides Settings.upgrade_seconds when set
    app: dict[str, Any] = field(default_factory=dict)            # scenario "app" (part 2)
    load_balancer: dict[str, Any] = field(default_factory=dict)  # scenario "load_balancer" (part 2)
    provisioning_state: str = "Succeeded"
    unique_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    next_instance_id: int = 0
    active_operation: str | None = None    # id of the LRO currently writing this scale set (409 for others)
    # write-only extension secrets: never returned, logged or put in events
    protected_settings: dict[str, Any] = field(default_factory=dict)
    rolling_upgrade: dict[str, Any] | None = None       # latest RollingUpgradeStatusInfo properties
    rolling_operation: Any = None          # the operations.Operation of the rolling upgrade in progress, if any
    os_upgrade_history: list[dict[str, Any]] = field(default_factory=list)
    deleting: bool = False
    # test hook (scenario "fail_upgrade_instances"): upgrades of these instance ids end Failed
    fail_upgrade_instances: set[str] = field(default_factory=set)

    @property
    def key(self) -> str:
        """"RG/NAME" as the admin API and events name a scale set."""
        return f"{self.resource_group}/{self.name}"

    @property
    def profile(self) -> dict[str, Any]:
        return self.model["virtualMachineProfile"]

    @property
    def capacity(self) -> int:
        return int(self.sku.get("capacity") or 0)

    def latest_model_applied(self, inst: Instance) -> bool:
        return inst.applied_model is self.profile or inst.applied_model == self.profile

    def extensions(self) -> list[dict[str, Any]]:
        return _extensions(self.profile)

    def image_reference(self) -> dict[str, Any]:
        return _image_reference(self.profile)

    def upgrade_policy(self) -> dict[str, Any]:
        return self.model.get("upgradePolicy") or {}

    def instance_owner(self, instance_id: str) -> dict[str, Any]:
        """How the fleet's and faults' events name who owns one of these instances: the scale set, or, in a plain
        VMs' fleet group, the VM itself and its load balancer ("RG/GROUP", as the fleet view names it)."""
        if self.model.get("orchestrationMode") == VM_GROUP_MODE:
            return {"resource_group": self.resource_group, "vm": instance_id, "load_balancer": self.key}
        return {"resource_group": self.resource_group, "vmss": self.name}


@dataclass(eq=False)
class ResourceGroup:
    subscription: str
    name: str
    location: str
    tags: dict[str, Any] = field(default_factory=dict)


@dataclass(eq=False)
class Principal:
    tenant: str
    client_id: str
    secret: str
    subscriptions: list[str]               # ["*"] = every subscription

    def may_use(self, subscription: str) -> bool:
        return "*" in self.subscriptions or subscription.lower() in (s.lower() for s in self.subscriptions)


@dataclass(eq=False)
class World:
    """Everything the emulator knows. Lookups are case-insensitive (keys are lower-cased)."""

    settings: Settings = field(default_factory=Settings)
    resource_groups: dict[tuple[str, str], ResourceGroup] = field(default_factory=dict)
    scale_sets: dict[tuple[str, str, str], ScaleSet] = field(default_factory=dict)
    principals: list[Principal] = field(default_factory=list)

    def resource_group(self, subscription: str, name: str) -> ResourceGroup | None:
        return self.resource_groups.get((subscription.lower(), name.lower()))

    def scale_set(self, subscription: str, resource_group: str, name: str) -> ScaleSet | None:
        return self.scale_sets.get((subscription.lower(), resource_group.lower(), name.lower()))

    def find_scale_set(self, resource_group: str, name: str) -> ScaleSet | None:
        """By "RG/NAME" in any subscription (the admin API's naming)."""
        for (_sub, rg, n), ss in self.scale_sets.items():
            if rg == resource_group.lower() and n == name.lower():
                return ss
        return None

    def add_scale_set(self, ss: ScaleSet) -> None:
        self.scale_sets[(ss.subscription.lower(), ss.resource_group.lower(), ss.name.lower())] = ss

    def remove_scale_set(self, ss: ScaleSet) -> None:
        self.scale_sets.pop((ss.subscription.lower(), ss.resource_group.lower(), ss.name.lower()), None)

    def upgrade_seconds(self, ss: ScaleSet) -> float:
        return ss.upgrade_seconds if ss.upgrade_seconds is not None else self.settings.upgrade_seconds
