"""ARM JSON for scale sets, instances and instance views (secrets are never in the stored model)."""
from __future__ import annotations

import copy
from collections import Counter
from typing import Any

from aiohttp import web

from . import custom_metrics
from .app_keys import FLEET
from .arm import now_iso
from .model import render_extension, render_profile
from .state import Instance, ScaleSet, is_health_extension

POWER_DISPLAY = {"running": "VM running", "stopped": "VM stopped", "starting": "VM starting",
                 "stopping": "VM stopping", "deallocated": "VM deallocated", "deallocating": "VM deallocating"}
HEALTH_DISPLAY = {"healthy": "The VM is healthy", "unhealthy": "The VM is unhealthy",
                  "unknown": "The VM health is unknown", "initializing": "The VM health is initializing"}


def vmss_id(ss: ScaleSet) -> str:
    return (f"/subscriptions/{ss.subscription}/resourceGroups/{ss.resource_group}/providers/Microsoft.Compute/"
            f"virtualMachineScaleSets/{ss.name}")


def render_vmss(ss: ScaleSet) -> dict[str, Any]:
    props = {k: v for k, v in ss.model.items() if k != "virtualMachineProfile"}
    props = copy.deepcopy(props)
    props["virtualMachineProfile"] = render_profile(ss.profile)
    props["provisioningState"] = ss.provisioning_state
    props["uniqueId"] = ss.unique_id
    props.setdefault("timeCreated", ss.model.get("timeCreated"))
    out: dict[str, Any] = {"name": ss.name, "id": vmss_id(ss), "type": "Microsoft.Compute/virtualMachineScaleSets",
                           "location": ss.location, "tags": copy.deepcopy(ss.tags), "etag": f'"{ss.etag}"',
                           "sku": dict(ss.sku), "properties": props}
    if ss.zones:
        out["zones"] = list(ss.zones)
    return out


def render_extensions(ss: ScaleSet) -> list[dict[str, Any]]:
    return [render_extension(e, vmss_id(ss)) for e in ss.extensions()]


def _provisioning_status(inst: Instance) -> dict[str, Any]:
    state = inst.provisioning_state
    if state == "Failed":
        code = (inst.error or {}).get("code", "VMExtensionProvisioningError")
        return {"code": f"ProvisioningState/failed/{code}", "level": "Error", "displayStatus": "Provisioning failed",
                "message": (inst.error or {}).get("message", ""), "time": now_iso(inst.started_at)}
    display = "Provisioning succeeded" if state == "Succeeded" else state
    return {"code": f"ProvisioningState/{state.lower()}", "level": "Info", "displayStatus": display,
            "time": now_iso(inst.started_at)}


UNIFORM_DOMAINS = ("platformUpdateDomain", "platformFaultDomain")


def instance_view(app: web.Application, ss: ScaleSet, inst: Instance, computer_name: str | None = None,
                  domains: tuple[str, ...] = UNIFORM_DOMAINS) -> dict[str, Any]:
    """An instance's view; a VM (vms/) passes its computer name and the domains it reports (none, or only the
    fault domain of a Flexible member)."""
    prefix = (inst.applied_model.get("osProfile") or {}).get("computerNamePrefix", "vmss")
    ext_status = "ProvisioningState/succeeded" if inst.running else "ProvisioningState/transitioning"
    failed_ext = inst.extension_order[-1] if inst.provisioning_state == "Failed" and inst.extension_order else None
    health = app[FLEET].health_state(ss, inst)
    extensions = []
    for ext in inst.extensions():
        props = ext.get("properties") or {}
        status = {"code": ext_status, "level": "Info", "displayStatus": "Provisioning succeeded"}
        if ext["name"] == failed_ext:
            status = {"code": "ProvisioningState/failed/1", "level": "Error", "displayStatus": "Provisioning failed",
                      "message": (inst.error or {}).get("message", "")}
        ext_view = {"name": ext["name"], "type": f"{props.get('publisher')}.{props.get('type')}",
                    "typeHandlerVersion": props.get("typeHandlerVersion"), "statuses": [status]}
        if is_health_extension(ext) and ext["name"] != failed_ext:
            # rich health states: the app's state and its custom metrics (phase ordering, skip upgrade)
            sub = custom_metrics.substatuses(health, inst.custom_metrics)
            if sub:
                ext_view["substatuses"] = sub
        extensions.append(ext_view)
    view: dict[str, Any] = {key: inst.update_domain if key == "platformUpdateDomain" else inst.fault_domain
                            for key in domains}
    view.update({
        "computerName": computer_name or f"{prefix}{int(inst.instance_id):06d}", "osName": "ubuntu",
        "osVersion": "24.04",
        "vmAgent": {"vmAgentVersion": "2.13.1.1", "statuses": [
            {"code": "ProvisioningState/succeeded", "level": "Info",
             "displayStatus": "Ready" if inst.running else "Not Ready",
             "message": "Guest Agent is running" if inst.running else "VM Agent is unresponsive.",
             "time": now_iso(inst.started_at)}]},
        "extensions": extensions,
        "statuses": [_provisioning_status(inst),
                     {"code": f"PowerState/{inst.power_state}", "level": "Info",
                      "displayStatus": POWER_DISPLAY.get(inst.power_state, inst.power_state)}],
    })
    if health:
        view["vmHealth"] = {"status": {"code": f"HealthState/{health}",
                                       "level": "Info" if health == "healthy" else "Warning",
                                       "displayStatus": HEALTH_DISPLAY.get(health, health),
                                       "time": now_iso()}}
    return view


def render_vm(app: web.Application, ss: ScaleSet, inst: Instance, expand: bool) -> dict[str, Any]:
    base = vmss_id(ss)
    vm_id = f"{base}/virtualMachines/{inst.instance_id}"
    profile = inst.applied_model
    storage = profile.get("storageProfile") or {}
    image = dict(storage.get("imageReference") or {})
    if "id" not in image:
        image["exactVersion"] = image.get("version") if image.get("version") not in (None, "latest") else "1.0.0"
    os_profile = profile.get("osProfile") or {}
    nic_configs = (profile.get("networkProfile") or {}).get("networkInterfaceConfigurations") or []
    nic_name = nic_configs[0].get("name", "nic") if nic_configs else "nic"
    props: dict[str, Any] = {
        "latestModelApplied": ss.latest_model_applied(inst),
        "modelDefinitionApplied": "VirtualMachineScaleSet",
        "vmId": inst.vm_id,
        "provisioningState": inst.provisioning_state,
        "hardwareProfile": {},
        "storageProfile": {"imageReference": image, "osDisk": dict(storage.get("osDisk") or {}), "dataDisks": []},
        "osProfile": {"computerName": f"{os_profile.get('computerNamePrefix', 'vmss')}{int(inst.instance_id):06d}",
                      "adminUsername": os_profile.get("adminUsername"), "secrets": [],
                      "allowExtensionOperations": True, "requireGuestProvisionSignal": True,
                      **{k: copy.deepcopy(os_profile[k]) for k in ("linuxConfiguration", "windowsConfiguration")
                         if k in os_profile}},
        "networkProfile": {"networkInterfaces": [{"id": f"{vm_id}/networkInterfaces/{nic_name}"}]},
        "networkProfileConfiguration": {"networkInterfaceConfigurations": nic_configs},
        "protectionPolicy": {"protectFromScaleIn": inst.protect_from_scale_in or inst.protected,
                             "protectFromScaleSetActions": inst.protected},
    }
    if expand:
        props["instanceView"] = instance_view(app, ss, inst)
    out: dict[str, Any] = {
        "name": f"{ss.name}_{inst.instance_id}", "id": vm_id, "type": "Microsoft.Compute/virtualMachineScaleSets/virtualMachines",
        "location": ss.location, "instanceId": inst.instance_id, "etag": f'"{ss.etag}"',
        # Azure copies the scale set's tags onto its instances
        "tags": dict(ss.tags or {}),
        "sku": {"name": ss.sku.get("name"), "tier": ss.sku.get("tier", "Standard")},
        "properties": props,
        "resources": [{"name": e["name"], "id": f"{vm_id}/extensions/{e['name']}",
                       "type": "Microsoft.Compute/virtualMachines/extensions", "location": ss.location,
                       "properties": e.get("properties") or {}} for e in inst.extensions()],
    }
    if inst.zone:
        out["zones"] = [inst.zone]
    return out


def scale_set_instance_view(app: web.Application, ss: ScaleSet) -> dict[str, Any]:
    instances = list(ss.instances.values())
    prov = Counter(_provisioning_status(i)["code"] for i in instances)
    power = Counter(f"PowerState/{i.power_state}" for i in instances)
    summary = [{"code": c, "count": n} for c, n in sorted((prov + power).items())]
    ext_summary = []
    for ext in ss.extensions():
        having = [i for i in instances if any(e["name"] == ext["name"] for e in i.extensions())]
        counts = Counter("ProvisioningState/failed" if i.provisioning_state == "Failed" else
                         "ProvisioningState/succeeded" for i in having)
        ext_summary.append({"name": ext["name"], "statusesSummary": [{"code": c, "count": n}
                                                                     for c, n in sorted(counts.items())]})
    state = ss.provisioning_state
    return {
        "virtualMachine": {"statusesSummary": summary},
        "extensions": ext_summary,
        "statuses": [{"code": f"ProvisioningState/{state.lower()}", "level": "Info",
                      "displayStatus": "Provisioning succeeded" if state == "Succeeded" else state,
                      "time": now_iso()}],
        "orchestrationServices": [{"serviceName": "AutomaticRepairs", "serviceState": "NotRunning"}],
    }
