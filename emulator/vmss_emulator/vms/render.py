"""ARM JSON of plain VMs, Flexible members, VM extensions, instance views and standalone NICs."""
from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from ..arm import now_iso
from ..render import HEALTH_DISPLAY, POWER_DISPLAY, _provisioning_status, vmss_id
from ..state import Instance, ScaleSet
from .models import MemberRef, VirtualMachine

VM_TYPE = "Microsoft.Compute/virtualMachines"
EXT_TYPE = "Microsoft.Compute/virtualMachines/extensions"
NETWORK_API_VERSION = "2020-11-01"


def rg_prefix(sub: str, rg: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}"


def vm_id(sub: str, rg: str, name: str) -> str:
    return f"{rg_prefix(sub, rg)}/providers/Microsoft.Compute/virtualMachines/{name}"


def nic_id(sub: str, rg: str, name: str) -> str:
    return f"{rg_prefix(sub, rg)}/providers/Microsoft.Network/networkInterfaces/{name}"


def ref_id(ref: VirtualMachine | MemberRef) -> str:
    if isinstance(ref, VirtualMachine):
        return vm_id(ref.subscription, ref.resource_group, ref.name)
    return vm_id(ref.ss.subscription, ref.ss.resource_group, ref.name)


def nic_names(ref: VirtualMachine | MemberRef) -> list[str]:
    """A plain VM's NICs are the ones its networkProfile names; a Flexible member's are made by the platform from
    the set's NIC configurations, named <vm>-<configuration>."""
    if isinstance(ref, VirtualMachine):
        nics = (ref.properties.get("networkProfile") or {}).get("networkInterfaces") or []
        return [str(n.get("id", "")).rstrip("/").rsplit("/", 1)[-1] for n in nics if n.get("id")]
    configs = (ref.inst.applied_model.get("networkProfile") or {}).get("networkInterfaceConfigurations") or []
    return [f"{ref.name}-{c.get('name', 'nic')}" for c in configs] or [f"{ref.name}-nic"]


def render_extension(ext: dict[str, Any], owner_id: str, location: str) -> dict[str, Any]:
    return {"id": f"{owner_id}/extensions/{ext['name']}", "name": ext["name"], "type": EXT_TYPE, "location": location,
            "properties": {**copy.deepcopy(ext.get("properties") or {}), "provisioningState": "Succeeded"}}


def _image(storage: dict[str, Any]) -> dict[str, Any]:
    image = dict(storage.get("imageReference") or {})
    if "id" not in image:
        image["exactVersion"] = image.get("version") if image.get("version") not in (None, "latest") else "1.0.0"
    return image


def instance_view(app: web.Application, group: ScaleSet, inst: Instance, computer_name: str,
                  domains: bool, fault_domain_only: bool = False) -> dict[str, Any]:
    """A VM's instance view. `domains`: in an availability set (update and fault domain); `fault_domain_only`: a
    Flexible member (fault domain, no update domain)."""
    running = inst.running
    failed_ext = inst.extension_order[-1] if inst.provisioning_state == "Failed" and inst.extension_order else None
    extensions = []
    for ext in inst.extensions():
        props = ext.get("properties") or {}
        status = {"code": "ProvisioningState/succeeded" if running else "ProvisioningState/transitioning",
                  "level": "Info", "displayStatus": "Provisioning succeeded" if running else "Transitioning"}
        if ext["name"] == failed_ext:
            status = {"code": "ProvisioningState/failed/1", "level": "Error", "displayStatus": "Provisioning failed",
                      "message": (inst.error or {}).get("message", "")}
        extensions.append({"name": ext["name"], "type": f"{props.get('publisher')}.{props.get('type')}",
                           "typeHandlerVersion": props.get("typeHandlerVersion"), "statuses": [status]})
    view: dict[str, Any] = {}
    if domains:
        view["platformUpdateDomain"] = inst.update_domain
        view["platformFaultDomain"] = inst.fault_domain
    elif fault_domain_only:
        view["platformFaultDomain"] = inst.fault_domain
    view.update({
        "computerName": computer_name, "osName": "ubuntu", "osVersion": "24.04",
        "vmAgent": {"vmAgentVersion": "2.13.1.1", "statuses": [
            {"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Ready" if running else "Not Ready",
             "message": "Guest Agent is running" if running else "VM Agent is unresponsive.",
             "time": now_iso(inst.started_at)}]},
        "extensions": extensions,
        "statuses": [_provisioning_status(inst),
                     {"code": f"PowerState/{inst.power_state}", "level": "Info",
                      "displayStatus": POWER_DISPLAY.get(inst.power_state, inst.power_state)}],
    })
    health = app["fleet"].health_state(group, inst)
    if health:
        view["vmHealth"] = {"status": {"code": f"HealthState/{health}",
                                       "level": "Info" if health == "healthy" else "Warning",
                                       "displayStatus": HEALTH_DISPLAY.get(health, health), "time": now_iso()}}
    return view


def computer_name(ref: VirtualMachine | MemberRef) -> str:
    if isinstance(ref, VirtualMachine):
        return (ref.properties.get("osProfile") or {}).get("computerName") or ref.name
    prefix = (ref.inst.applied_model.get("osProfile") or {}).get("computerNamePrefix") or ref.ss.name
    return f"{prefix}{ref.name.rsplit('_', 1)[-1]}"


def ref_instance_view(app: web.Application, ref: VirtualMachine | MemberRef) -> dict[str, Any]:
    if isinstance(ref, VirtualMachine):
        return instance_view(app, ref.group, ref.instance, computer_name(ref), domains=ref.availability_set is not None)
    return instance_view(app, ref.ss, ref.inst, computer_name(ref), domains=False, fault_domain_only=True)


def render_plain(app: web.Application, vm: VirtualMachine, expand: bool) -> dict[str, Any]:
    rid = vm_id(vm.subscription, vm.resource_group, vm.name)
    props = copy.deepcopy(vm.properties)
    storage = props.setdefault("storageProfile", {})
    storage["imageReference"] = _image(storage)
    props["vmId"] = vm.instance.vm_id
    props["provisioningState"] = vm.instance.provisioning_state
    props["timeCreated"] = vm.time_created
    if expand:
        props["instanceView"] = ref_instance_view(app, vm)
    out: dict[str, Any] = {"name": vm.name, "id": rid, "type": VM_TYPE, "location": vm.location,
                           "tags": copy.deepcopy(vm.tags), "etag": f'"{vm.etag}"', "properties": props,
                           "resources": [render_extension(e, rid, vm.location) for e in vm.extensions]}
    if vm.zones:
        out["zones"] = list(vm.zones)
    return out


def render_member(app: web.Application, ref: MemberRef, expand: bool) -> dict[str, Any]:
    ss, inst = ref.ss, ref.inst
    rid = ref_id(ref)
    profile = inst.applied_model
    storage = profile.get("storageProfile") or {}
    os_profile = profile.get("osProfile") or {}
    props: dict[str, Any] = {
        "vmId": inst.vm_id,
        "hardwareProfile": {"vmSize": ss.sku.get("name")},
        "storageProfile": {"imageReference": _image(storage), "osDisk": copy.deepcopy(storage.get("osDisk") or {}),
                           "dataDisks": []},
        "osProfile": {"computerName": computer_name(ref), "adminUsername": os_profile.get("adminUsername"),
                      "secrets": [], "allowExtensionOperations": True, "requireGuestProvisionSignal": True,
                      **{k: copy.deepcopy(os_profile[k]) for k in ("linuxConfiguration", "windowsConfiguration")
                         if k in os_profile}},
        "networkProfile": {"networkApiVersion": NETWORK_API_VERSION,
                           "networkInterfaces": [{"id": nic_id(ss.subscription, ss.resource_group, n),
                                                  "properties": {"primary": i == 0}}
                                                 for i, n in enumerate(nic_names(ref))]},
        "virtualMachineScaleSet": {"id": vmss_id(ss)},
        "platformFaultDomain": inst.fault_domain,
        "provisioningState": inst.provisioning_state,
        "timeCreated": ss.model.get("timeCreated") or now_iso(),
        # not in Azure's VM model: the emulator says here whether the member runs the set's latest model
        "latestModelApplied": ss.latest_model_applied(inst),
    }
    if expand:
        props["instanceView"] = ref_instance_view(app, ref)
    out: dict[str, Any] = {"name": ref.name, "id": rid, "type": VM_TYPE, "location": ss.location,
                           "tags": dict(ss.tags or {}), "etag": f'"{ss.etag}"', "properties": props,
                           "resources": [render_extension(e, rid, ss.location) for e in inst.extensions()]}
    if inst.zone:
        out["zones"] = [inst.zone]
    return out


def render_ref(app: web.Application, ref: VirtualMachine | MemberRef, expand: bool) -> dict[str, Any]:
    return render_plain(app, ref, expand) if isinstance(ref, VirtualMachine) else render_member(app, ref, expand)


def render_nic(ref: VirtualMachine | MemberRef, name: str, primary: bool) -> dict[str, Any]:
    inst = ref.instance if isinstance(ref, VirtualMachine) else ref.inst
    sub, rg, location = ((ref.subscription, ref.resource_group, ref.location) if isinstance(ref, VirtualMachine)
                         else (ref.ss.subscription, ref.ss.resource_group, ref.ss.location))
    rid = nic_id(sub, rg, name)
    digest = abs(hash((sub, rg, name))) & 0xFFFFFFFFFFFF
    mac = "-".join(f"{(digest >> s) & 0xFF:02X}" for s in range(40, -8, -8))
    return {"name": name, "id": rid, "type": "Microsoft.Network/networkInterfaces", "location": location,
            "properties": {"provisioningState": "Succeeded", "primary": primary, "macAddress": mac,
                           "virtualMachine": {"id": ref_id(ref)},
                           "ipConfigurations": [{"name": "ipconfig1", "id": f"{rid}/ipConfigurations/ipconfig1",
                                                 "properties": {"privateIPAddress": inst.private_ip,
                                                                "privateIPAllocationMethod": "Dynamic",
                                                                "privateIPAddressVersion": "IPv4", "primary": True}}]}}
