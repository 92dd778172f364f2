"""The admin fleet view of VMs: GET /_emulator/virtual_machines/{rg}[/{name}] (plain VMs and Flexible members), and
a plain VM's timings (POST .../config). They parse, call AdminBackend (admin_models.py) and render; its AdminError
is the admin API's one envelope."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from ..app_keys import ADMIN, FLEET, VMS, WORLD
from ..admin import read_body
from ..arm import json_response
from ..render import vmss_id
from .models import MemberRef, VirtualMachine


def fleet_row(app: web.Application, ref: VirtualMachine | MemberRef) -> dict[str, Any]:
    """The same fields as a scale-set instance in the scale-set fleet view, for one VM."""
    fleet = app[FLEET]
    if isinstance(ref, VirtualMachine):
        group, inst = ref.group, ref.instance
        row: dict[str, Any] = {"name": ref.name, "kind": "vm", "scale_set": None, "scale_set_id": None,
                               "availability_set": ref.availability_set, "load_balancer": group.key,
                               "latest_model_applied": ref.latest_model_applied(),
                               "update_domain": inst.update_domain if ref.availability_set else None,
                               "fault_domain": inst.fault_domain if ref.availability_set else None}
    else:
        group, inst = ref.ss, ref.inst
        row = {"name": ref.name, "kind": "flexible_member", "scale_set": ref.ss.key, "scale_set_id": vmss_id(ref.ss),
               "availability_set": None, "load_balancer": ref.ss.key,
               "latest_model_applied": ref.ss.latest_model_applied(inst), "update_domain": None,
               "fault_domain": inst.fault_domain}
    row.update({"instance_id": inst.instance_id, "ip": inst.private_ip, "app_port": (group.app or {}).get("port"),
                "running": inst.running, "power_state": inst.power_state,
                "provisioning_state": inst.provisioning_state, "health": fleet.health_state(group, inst),
                "image_version": inst.image_version(), "zone": inst.zone, "protected": False,
                "extension_order": list(inst.extension_order)})
    row.update(fleet.describe_instance(group, inst))
    return row


async def vm_fleet_view(request: web.Request, groups: dict[str, str]) -> web.Response:
    backend = request.app[VMS]
    rows = []
    for sub in {s for (s, _r, _n) in backend.vms} | {s for (s, _r, _n) in request.app[WORLD].scale_sets}:
        rows.extend(fleet_row(request.app, ref) for ref in backend.list(sub) if _rg_of(ref) == groups["rg"].lower())
    return json_response({"resource_group": groups["rg"], "virtual_machines": rows})


async def vm_fleet_row(request: web.Request, groups: dict[str, str]) -> web.Response:
    return json_response(fleet_row(request.app, request.app[ADMIN].vm(groups["rg"], groups["name"])))


def _rg_of(ref: VirtualMachine | MemberRef) -> str:
    return (ref.resource_group if isinstance(ref, VirtualMachine) else ref.ss.resource_group).lower()


async def vm_config(request: web.Request, groups: dict[str, str]) -> web.Response:
    """POST /_emulator/virtual_machines/{rg}/{name}/config {"upgrade_seconds"?: N | null, "fail_upgrade"?: bool}."""
    return json_response(request.app[ADMIN].configure_vm(groups["rg"], groups["name"], await read_body(request)))
