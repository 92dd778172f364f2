"""The route-table rows the fleet adds to the emulator: the scale set's network interfaces (Microsoft.Network, as ARM serves
them for a Uniform scale set) and the load balancers' availability counters (admin API)."""
from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

from ..app_keys import COMPUTE, VMS, WORLD
from ..arm import json_response, page
from ..compute.models import instance
from ..exceptions import AdminError, ArmError
from ..urls import Route, exact

from .balancer import LoadBalancer
from .options import validate_options

if TYPE_CHECKING:
    from ..state import Instance, ScaleSet


class Fleet(Protocol):
    """What these rows use of the fleet (fleet.EmulatorFleet; named here, not imported: fleet.py imports this
    module)."""

    def balancers(self) -> dict[str, LoadBalancer | None]: ...

    def balancer(self, ss: ScaleSet) -> LoadBalancer | None: ...

    def balancer_error(self, ss: ScaleSet) -> str | None: ...

    def reset_availability(self) -> None: ...

    async def configure_balancer(self, ss: ScaleSet, options: dict[str, Any]) -> None: ...


VMSS_PATH = ("/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.Compute/"
             "virtualMachineScaleSets/{vmss}")
VM_PATH = VMSS_PATH + "/virtualMachines/{instance_id}"
NICS = "networkInterfaces"


def routes(fleet: Fleet) -> list[Route]:
    """The fleet's rows of the route table (server.create_app adds them when it builds the app)."""
    handlers = FleetRoutes(fleet)
    # operation ids are the REST operationIds (Microsoft.Network), used by the request counters and fault matching;
    # ARM paths are case-insensitive
    return [
        exact("GET", f"{VMSS_PATH}/{NICS}", handlers.list_scale_set_nics,
              "NetworkInterfaces_ListVirtualMachineScaleSetNetworkInterfaces", ignore_case=True),
        exact("GET", f"{VM_PATH}/{NICS}", handlers.list_instance_nics,
              "NetworkInterfaces_ListVirtualMachineScaleSetVMNetworkInterfaces", ignore_case=True),
        exact("GET", f"{VM_PATH}/{NICS}/{{nic}}", handlers.get_instance_nic,
              "NetworkInterfaces_GetVirtualMachineScaleSetNetworkInterface", ignore_case=True),
        exact("GET", "/_emulator/availability", handlers.availability),
        exact("DELETE", "/_emulator/availability", handlers.reset_availability),
        exact("POST", "/_emulator/load_balancers/{rg}/{name}", handlers.configure_balancer),
        exact("POST", "/_emulator/load_balancers/{rg}/{name}/probe", handlers.probe_now),
    ]


class FleetRoutes:
    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet

    # ---- Microsoft.Network ---------------------------------------------------------------------------------
    @staticmethod
    def _scale_set(request: web.Request, info: dict[str, str]) -> ScaleSet:
        return request.app[COMPUTE].scale_set(info["subscription"], info["resource_group"], info["vmss"])

    @staticmethod
    def _instance(info: dict[str, str], ss: ScaleSet) -> Instance:
        return instance(ss, info["instance_id"])

    async def list_scale_set_nics(self, request: web.Request, groups: dict[str, str]) -> web.Response:
        ss = self._scale_set(request, groups)
        nics = [network_interface(ss, inst) for inst in _by_id(ss) if inst.private_ip]
        return json_response(page(request, _origin(request), nics, request.app[COMPUTE].page_size))

    async def list_instance_nics(self, request: web.Request, groups: dict[str, str]) -> web.Response:
        ss = self._scale_set(request, groups)
        inst = self._instance(groups, ss)
        return json_response({"value": [network_interface(ss, inst)] if inst.private_ip else []})

    async def get_instance_nic(self, request: web.Request, groups: dict[str, str]) -> web.Response:
        ss = self._scale_set(request, groups)
        inst = self._instance(groups, ss)
        nic = network_interface(ss, inst)
        if not inst.private_ip or nic["name"].lower() != groups["nic"].lower():
            raise ArmError(404, "NotFound", "The entity was not found in this Azure location.")
        return json_response(nic)

    # ---- admin ---------------------------------------------------------------------------------------------
    async def availability(self, request: web.Request, groups: dict[str, str]) -> web.Response:
        result: dict[str, Any] = {}
        for ss_key, balancer in self._fleet.balancers().items():
            result[ss_key] = balancer.availability() if balancer else {"served": 0, "failed": 0, "frontend": None}
        return json_response({"load_balancers": result})

    async def reset_availability(self, request: web.Request, groups: dict[str, str]) -> web.Response:
        self._fleet.reset_availability()
        return await self.availability(request, groups)

    def _balancer(self, request: web.Request, groups: dict[str, str]) -> tuple[ScaleSet, LoadBalancer]:
        rg, name = groups["rg"], groups["name"]
        # a scale set, or a load-balancer group of plain VMs (vms/)
        ss = request.app[WORLD].find_scale_set(rg, name) or request.app[VMS].find_group(rg, name)
        balancer = self._fleet.balancer(ss) if ss is not None else None
        if ss is None or balancer is None:
            reason = self._fleet.balancer_error(ss) if ss is not None else None
            raise AdminError(404, reason or f"no load balancer for scale set '{rg}/{name}'")
        return ss, balancer

    async def configure_balancer(self, request: web.Request, groups: dict[str, str]) -> web.Response:
        """Change frontend_port, probe_interval or traffic_rps of a scale set's load balancer."""
        ss, balancer = self._balancer(request, groups)
        try:
            body = await request.json()
        except ValueError:
            raise AdminError(400, "the body must be a JSON object") from None
        try:
            validate_options(None, body)
        except ValueError as exc:
            raise AdminError(400, str(exc)) from None
        try:
            await self._fleet.configure_balancer(ss, body)
        except OSError as exc:
            raise AdminError(409, f"frontend port {body['frontend_port']} is not free: {exc.strerror}") from None
        return json_response(balancer.availability())

    async def probe_now(self, request: web.Request, groups: dict[str, str]) -> web.Response:
        """Run one probe round right away (tests use it to step the load balancer deterministically)."""
        _ss, balancer = self._balancer(request, groups)
        await balancer.probe_once()
        return json_response(balancer.availability())


def _origin(request: web.Request) -> str:
    return str(request.url.origin())


def _by_id(ss: ScaleSet) -> list[Instance]:
    return sorted(ss.instances.values(), key=lambda i: (len(i.instance_id), i.instance_id))


def network_interface(ss: ScaleSet, inst: Instance) -> dict[str, Any]:
    """A networkInterface as Microsoft.Network returns it for a scale-set VM (primary NIC, one IP configuration)."""
    # the NIC as configured in the model the instance runs (its VM resource names the same id)
    nic_config = ((((inst.applied_model or ss.profile).get("networkProfile") or {})
                   .get("networkInterfaceConfigurations") or [{}])[0] or {})
    nic_name = nic_config.get("name") or "nic"
    ip_config = (((nic_config.get("properties") or {}).get("ipConfigurations") or [{}])[0] or {})
    ip_name = ip_config.get("name") or "ipconfig1"
    subnet_id = ((ip_config.get("properties") or {}).get("subnet") or {}).get("id") or (
        f"/subscriptions/{ss.subscription}/resourceGroups/{ss.resource_group}/providers/Microsoft.Network/"
        f"virtualNetworks/{ss.name}-vnet/subnets/default")
    vm_id = (f"/subscriptions/{ss.subscription}/resourceGroups/{ss.resource_group}/providers/Microsoft.Compute/"
             f"virtualMachineScaleSets/{ss.name}/virtualMachines/{inst.instance_id}")
    nic_id = f"{vm_id}/networkInterfaces/{nic_name}"
    digest = hashlib.sha256(f"{ss.unique_id}:{inst.instance_id}".encode()).hexdigest()
    etag = f'W/"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"'
    octets = [int(part) for part in (inst.private_ip or "0.0.0.0").split(".")]
    return {
        "name": nic_name,
        "id": nic_id,
        "etag": etag,
        "properties": {
            "provisioningState": "Succeeded",
            "resourceGuid": f"{digest[32:40]}-{digest[40:44]}-{digest[44:48]}-{digest[48:52]}-{digest[52:64]}",
            "ipConfigurations": [{
                "name": ip_name,
                "id": f"{nic_id}/ipConfigurations/{ip_name}",
                "etag": etag,
                "properties": {
                    "provisioningState": "Succeeded",
                    "privateIPAddress": inst.private_ip,
                    "privateIPAllocationMethod": "Dynamic",
                    "subnet": {"id": subnet_id},
                    "primary": True,
                    "privateIPAddressVersion": "IPv4",
                },
            }],
            "dnsSettings": {"dnsServers": [], "appliedDnsServers": []},
            "macAddress": "00-0D-3A-" + "-".join(f"{o:02X}" for o in octets[1:]),
            "enableAcceleratedNetworking": False,
            "enableIPForwarding": False,
            "primary": True,
            "virtualMachine": {"id": vm_id},
        },
    }
