"""ARM JSON of plain VMs, Flexible members, VM extensions, instance views and standalone NICs."""
from __future__ import annotations

import copy
import hashlib
from typing import Any

from aiohttp import web

from ..arm import now_iso
from ..render import UNIFORM_DOMAINS, instance_view, vmss_id
from ..state import Instance
from .models import AVSET_FAULT_DOMAINS, AVSET_UPDATE_DOMAINS, MemberRef, VirtualMachine, nic_id, rg_prefix

VM_TYPE = "Microsoft.Compute/virtualMachines"
EXT_TYPE = "Microsoft.Compute/virtualMachines/extensions"
NETWORK_API_VERSION = "2020-11-01"


def vm_id(sub: str, rg: str, name: str) -> str:
    return f"{rg_prefix(sub, rg)}/providers/Microsoft.Compute/virtualMachines/{name}"


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


def extension_state(inst: Instance | None, ext: dict[str, Any]) -> str:
    """The extension resource's provisioningState on the machine: Creating/Updating while its change runs, Failed when
    the change failed (the machine still runs what it had), else Succeeded."""
    if inst is None:
        return "Succeeded"
    applied = next((e for e in inst.extensions() if e["name"].lower() == ext["name"].lower()), None)
    if applied == ext:
        return "Updating" if inst.busy else "Succeeded"
    if inst.busy:
        return "Creating" if applied is None else "Updating"
    return "Failed" if inst.provisioning_state == "Failed" else "Succeeded"


def render_extension(ext: dict[str, Any], owner_id: str, location: str, inst: Instance | None = None,
                     expand: bool = False) -> dict[str, Any]:
    state = extension_state(inst, ext)
    props = {**copy.deepcopy(ext.get("properties") or {}), "provisioningState": state}
    if expand:
        level = "Error" if state == "Failed" else "Info"
        props["instanceView"] = {"name": ext["name"], "type": f"{props.get('publisher')}.{props.get('type')}",
                                 "typeHandlerVersion": props.get("typeHandlerVersion"),
                                 "statuses": [{"code": f"ProvisioningState/{state.lower()}", "level": level,
                                               "displayStatus": f"Provisioning {state.lower()}"}]}
    return {"id": f"{owner_id}/extensions/{ext['name']}", "name": ext["name"], "type": EXT_TYPE, "location": location,
            "properties": props}


def _image(storage: dict[str, Any]) -> dict[str, Any]:
    image = dict(storage.get("imageReference") or {})
    if "id" not in image:
        image["exactVersion"] = image.get("version") if image.get("version") not in (None, "latest") else "1.0.0"
    return image


def computer_name(ref: VirtualMachine | MemberRef) -> str:
    if isinstance(ref, VirtualMachine):
        return (ref.properties.get("osProfile") or {}).get("computerName") or ref.name
    prefix = (ref.inst.applied_model.get("osProfile") or {}).get("computerNamePrefix") or ref.ss.name
    return f"{prefix}{ref.name.rsplit('_', 1)[-1]}"


def ref_instance_view(app: web.Application, ref: VirtualMachine | MemberRef) -> dict[str, Any]:
    if isinstance(ref, VirtualMachine):
        return instance_view(app, ref.group, ref.instance, computer_name(ref),
                             UNIFORM_DOMAINS if ref.availability_set is not None else ())
    return instance_view(app, ref.ss, ref.inst, computer_name(ref), ("platformFaultDomain",))


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
                           "resources": [render_extension(e, rid, vm.location, vm.instance) for e in vm.extensions]}
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
    digest = hashlib.sha256(rid.lower().encode()).digest()   # the same MAC on every run
    mac = "-".join(f"{b:02X}" for b in (0x00, 0x0D, 0x3A, *digest[:3]))
    return {"name": name, "id": rid, "type": "Microsoft.Network/networkInterfaces", "location": location,
            "properties": {"provisioningState": "Succeeded", "primary": primary, "macAddress": mac,
                           "virtualMachine": {"id": ref_id(ref)},
                           "ipConfigurations": [{"name": "ipconfig1", "id": f"{rid}/ipConfigurations/ipconfig1",
                                                 "properties": {"privateIPAddress": inst.private_ip,
                                                                "privateIPAllocationMethod": "Dynamic",
                                                                "privateIPAddressVersion": "IPv4", "primary": True}}]}}


def render_availability_set(sub: str, rg: str, name: str, location: str, members: list[VirtualMachine]) -> dict:
    return {"id": f"{rg_prefix(sub, rg)}/providers/Microsoft.Compute/availabilitySets/{name}", "name": name,
            "type": "Microsoft.Compute/availabilitySets", "location": location, "tags": {}, "sku": {"name": "Aligned"},
            "properties": {"platformUpdateDomainCount": AVSET_UPDATE_DOMAINS,
                           "platformFaultDomainCount": AVSET_FAULT_DOMAINS,
                           "virtualMachines": [{"id": vm_id(vm.subscription, vm.resource_group, vm.name)}
                                               for vm in sorted(members, key=lambda v: v.name.lower())]}}
