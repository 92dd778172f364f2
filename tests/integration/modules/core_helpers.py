"""Scenario and step helpers for the core modules' integration tests (vmss_model_image, vmss_instance_upgrade,
vmss_info). The many-steps-in-one-playbook runner is shared with the extension tests (extension_helpers)."""
from __future__ import annotations

from extension_helpers import HEALTH, run_steps, step, writes

__all__ = ["HEALTH", "NEW", "OLD", "RG", "by_operation", "core_step", "run_steps", "scale_set", "scenario", "writes"]

RG = "rg-core"
OLD = {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "1.0.0"}
NEW = dict(OLD, version="1.0.1")


def scale_set(name, capacity=5, upgrade_policy="Manual", **extra):
    item = {"name": name, "resource_group": RG, "capacity": capacity, "upgrade_policy": upgrade_policy,
            "image": dict(OLD), "extensions": [HEALTH]}
    item.update(extra)
    return item


def scenario(*scale_sets):
    return {
        "config": {"upgrade_seconds": 0.1, "lro_retry_after": 0.2, "health_grace_seconds": 0.2, "probe_interval": 0.1},
        "resource_groups": [{"name": RG, "location": "westeurope"}],
        "scale_sets": list(scale_sets),
    }


def core_step(module, name="web", check=False, **args):
    return step(module, check=check, resource_group=RG, name=name, **args)


def by_operation(entry, operation):
    return entry["requests"]["by_operation"].get(operation, 0)
