"""The route table: one row per operation (method, path regex, handler, operationId, RBAC action).

ROUTES holds ARM (case-insensitive, as ARM paths are), sign-in and the admin API; the fleet and fault injection add
their rows when the app is built (`server.create_app` keeps the whole table in app[app_keys.ROUTE_TABLE]). `server.py`
is the one dispatcher; every handler gets (request, match groups) and returns a response or raises ArmError.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Awaitable, Callable

from aiohttp import web

from . import admin, auth, catalog
from .compute import responses as compute

Handler = Callable[[web.Request, dict[str, str]], Awaitable[web.StreamResponse]]

SUB = r"/subscriptions/(?P<sub>[^/]+)"
RG = SUB + r"/resourcegroups/(?P<rg>[^/]+)"
VMSS = RG + r"/providers/microsoft\.compute/virtualmachinescalesets/(?P<vmss>[^/]+)"
VM = VMSS + r"/virtualmachines/(?P<vm>[^/]+)"


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    operation_id: str
    action: str  # the RBAC action named in a 403 ("" names the method and path)
    head: bool = False  # a GET row also answers HEAD (the rows that were aiohttp routes)


def exact(method: str, path: str, handler: Handler, operation_id: str = "Unknown", action: str = "",
          ignore_case: bool = False) -> Route:
    """A row matched as aiohttp matched it: `{name}` is one segment, case-sensitive unless ignore_case, no trailing
    slash, HEAD with GET."""
    regex = "".join(f"(?P<{part[1:-1]}>[^{{}}/]+)" if part.startswith("{") else re.escape(part)
                    for part in re.split(r"(\{\w+\})", path))
    return Route(method, re.compile(f"^{regex}$", re.I if ignore_case else 0), handler, operation_id, action,
                 head=method == "GET")


_R = "Microsoft.Compute/virtualMachineScaleSets"


def _route(method: str, path: str, handler: Handler, operation_id: str, action: str) -> Route:
    return Route(method, re.compile("^" + path + "/?$", re.I), handler, operation_id, action)


_LOC = SUB + r"/providers/microsoft\.compute/locations/(?P<loc>[^/]+)"
_PUBLISHERS = _LOC + "/publishers"
_OFFERS = _PUBLISHERS + "/(?P<publisher>[^/]+)/artifacttypes/vmimage/offers"
_SKUS = _OFFERS + "/(?P<offer>[^/]+)/skus"
_VERSIONS = _SKUS + "/(?P<sku>[^/]+)/versions"
_IMAGE_READ = "Microsoft.Compute/locations/publishers/artifacttypes/offers/skus/versions/read"

ROUTES: list[Route] = [
    _route("GET", "/subscriptions", catalog.subscriptions_list, "Subscriptions_List", "Microsoft.Resources/subscriptions/read"),
    _route("GET", SUB, catalog.subscription_get, "Subscriptions_Get", "Microsoft.Resources/subscriptions/read"),
    _route("POST", "/batch", catalog.batch, "Batch", "Microsoft.Resources/batch/action"),
    _route("GET", _LOC + "/vmsizes", catalog.vm_sizes, "VirtualMachineSizes_List", "Microsoft.Compute/locations/vmSizes/read"),
    _route("GET", _PUBLISHERS, catalog.image_list, "VirtualMachineImages_ListPublishers", _IMAGE_READ),
    _route("GET", _OFFERS, catalog.image_list, "VirtualMachineImages_ListOffers", _IMAGE_READ),
    _route("GET", _SKUS, catalog.image_list, "VirtualMachineImages_ListSkus", _IMAGE_READ),
    _route("GET", _VERSIONS, catalog.image_list, "VirtualMachineImages_List", _IMAGE_READ),
    _route("GET", _VERSIONS + "/(?P<version>[^/]+)", catalog.image_get, "VirtualMachineImages_Get", _IMAGE_READ),
    _route("PUT", RG, compute.rg_put, "ResourceGroups_CreateOrUpdate", "Microsoft.Resources/subscriptions/resourceGroups/write"),
    _route("GET", RG, compute.rg_get, "ResourceGroups_Get", "Microsoft.Resources/subscriptions/resourceGroups/read"),
    _route("HEAD", RG, compute.rg_head, "ResourceGroups_CheckExistence",
           "Microsoft.Resources/subscriptions/resourceGroups/read"),
    _route("GET", SUB + r"/providers/microsoft\.compute/virtualmachinescalesets", compute.vmss_list_all,
           "VirtualMachineScaleSets_ListAll", f"{_R}/read"),
    _route("GET", RG + r"/providers/microsoft\.compute/virtualmachinescalesets", compute.vmss_list,
           "VirtualMachineScaleSets_List", f"{_R}/read"),
    _route("GET", VMSS, compute.vmss_get, "VirtualMachineScaleSets_Get", f"{_R}/read"),
    _route("PUT", VMSS, compute.vmss_put, "VirtualMachineScaleSets_CreateOrUpdate", f"{_R}/write"),
    _route("PATCH", VMSS, compute.vmss_patch, "VirtualMachineScaleSets_Update", f"{_R}/write"),
    _route("DELETE", VMSS, compute.vmss_delete, "VirtualMachineScaleSets_Delete", f"{_R}/delete"),
    _route("GET", VMSS + "/instanceview", compute.vmss_instance_view, "VirtualMachineScaleSets_GetInstanceView",
           f"{_R}/instanceView/read"),
    _route("POST", VMSS + "/(?P<action>manualupgrade|reimage|reimageall|restart|start|poweroff|deallocate|redeploy"
           "|delete)", compute.vmss_action, "VirtualMachineScaleSets_Action", f"{_R}/action"),
    _route("POST", VMSS + "/(?P<kind>osrollingupgrade|extensionrollingupgrade)", compute.rolling_start,
           "VirtualMachineScaleSetRollingUpgrades_Start", f"{_R}/osRollingUpgrade/action"),
    _route("POST", VMSS + "/rollingupgrades/cancel", compute.rolling_cancel, "VirtualMachineScaleSetRollingUpgrades_Cancel",
           f"{_R}/rollingUpgrades/action"),
    _route("GET", VMSS + "/rollingupgrades/latest", compute.rolling_latest, "VirtualMachineScaleSetRollingUpgrades_GetLatest",
           f"{_R}/rollingUpgrades/read"),
    _route("GET", VMSS + "/osupgradehistory", compute.os_upgrade_history, "VirtualMachineScaleSets_GetOSUpgradeHistory",
           f"{_R}/osUpgradeHistory/read"),
    _route("GET", VMSS + "/extensions", compute.ext_list, "VirtualMachineScaleSetExtensions_List", f"{_R}/extensions/read"),
    _route("GET", VMSS + "/extensions/(?P<ext>[^/]+)", compute.ext_get, "VirtualMachineScaleSetExtensions_Get",
           f"{_R}/extensions/read"),
    _route("PUT", VMSS + "/extensions/(?P<ext>[^/]+)", compute.ext_put, "VirtualMachineScaleSetExtensions_CreateOrUpdate",
           f"{_R}/extensions/write"),
    _route("PATCH", VMSS + "/extensions/(?P<ext>[^/]+)", compute.ext_patch, "VirtualMachineScaleSetExtensions_Update",
           f"{_R}/extensions/write"),
    _route("DELETE", VMSS + "/extensions/(?P<ext>[^/]+)", compute.ext_delete, "VirtualMachineScaleSetExtensions_Delete",
           f"{_R}/extensions/delete"),
    _route("GET", VMSS + "/virtualmachines", compute.vms_list, "VirtualMachineScaleSetVMs_List", f"{_R}/virtualMachines/read"),
    _route("GET", VM, compute.vm_get, "VirtualMachineScaleSetVMs_Get", f"{_R}/virtualMachines/read"),
    _route("PUT", VM, compute.vm_put, "VirtualMachineScaleSetVMs_Update", f"{_R}/virtualMachines/write"),
    _route("DELETE", VM, compute.vm_delete, "VirtualMachineScaleSetVMs_Delete", f"{_R}/virtualMachines/delete"),
    _route("GET", VM + "/instanceview", compute.vm_instance_view, "VirtualMachineScaleSetVMs_GetInstanceView",
           f"{_R}/virtualMachines/instanceView/read"),
    _route("POST", VM + "/(?P<action>reimage|reimageall|restart|start|poweroff|deallocate|redeploy)", compute.vm_action,
           "VirtualMachineScaleSetVMs_Action", f"{_R}/virtualMachines/action"),
    _route("GET", SUB + r"/providers/microsoft\.compute/locations/(?P<loc>[^/]+)/operations/(?P<op>[^/]+)",
           compute.operation_status, "Operations_Get", "Microsoft.Compute/locations/operations/read"),
    # sign-in and cloud metadata
    exact("GET", "/metadata/endpoints", auth.cloud_metadata, "Metadata_Endpoints"),
    exact("GET", "/{tenant}/v2.0/.well-known/openid-configuration", auth.openid_configuration, "OpenId_Configuration"),
    exact("GET", "/{tenant}/.well-known/openid-configuration", auth.openid_configuration, "OpenId_ConfigurationV1"),
    exact("GET", "/{tenant}/discovery/v2.0/keys", auth.jwks, "OpenId_Keys"),
    exact("POST", "/{tenant}/oauth2/v2.0/token", auth.token, "Token"),
    exact("POST", "/{tenant}/oauth2/token", auth.token, "TokenV1"),
    exact("GET", "/common/userrealm/{username}", auth.user_realm, "UserRealm"),
    # the admin API (loopback only: admin.loopback_only)
    exact("GET", "/_emulator/health", admin.health),
    exact("POST", "/_emulator/config", admin.config),
    exact("POST", "/_emulator/scenario", admin.load_scenario),
    exact("POST", "/_emulator/reset", admin.reset),
    exact("GET", "/_emulator/requests", admin.requests_get),
    exact("DELETE", "/_emulator/requests", admin.requests_delete),
    exact("GET", "/_emulator/events", admin.events_get),
    exact("DELETE", "/_emulator/events", admin.events_delete),
    exact("GET", "/_emulator/scale_sets/{rg}/{name}/instances", admin.fleet_view),
    exact("POST", "/_emulator/scale_sets/{rg}/{name}/instances/{instance_id}/custom_metrics", admin.custom_metrics_set),
]


def resolve(method: str, path: str, routes: list[Route] | None = None) -> tuple[Route, dict[str, str]] | None:
    for route in ROUTES if routes is None else routes:
        if route.method != method and not (route.head and method == "HEAD"):
            continue
        match = route.pattern.match(path)
        if match:
            return route, match.groupdict()
    return None


def allowed_methods(path: str, routes: list[Route]) -> set[str]:
    """The methods some row answers at path (for a 405's Allow header)."""
    methods = set()
    for route in routes:
        if route.pattern.match(path):
            methods.add(route.method)
            if route.head:
                methods.add("HEAD")
    return methods


def operation_id(route: Route, groups: dict[str, str]) -> str:
    """The REST spec's operationId, with the action spelled out for POST actions."""
    if "action" in groups and route.handler is compute.vmss_action:
        return compute.SS_ACTIONS[groups["action"].lower()]
    if "action" in groups and route.handler is compute.vm_action:
        return compute.VM_ACTIONS[groups["action"].lower()]
    if "kind" in groups:
        return ("VirtualMachineScaleSetRollingUpgrades_StartOSUpgrade" if groups["kind"].lower() == "osrollingupgrade"
                else "VirtualMachineScaleSetRollingUpgrades_StartExtensionUpgrade")
    return route.operation_id


# ---- plain VMs, their extensions and NICs, Flexible scale sets (vms/): the Flexible-aware rows go first
from .vms import routes as _vm_routes  # noqa: E402  (vms imports compute, as this module does)

_VM_FIRST, _VM_OTHER = _vm_routes.rows(_route, exact, SUB, RG, VMSS)
ROUTES[:0] = _VM_FIRST
ROUTES.extend(_VM_OTHER)
