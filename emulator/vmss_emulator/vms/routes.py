"""Route rows of VMs, their extensions and NICs, and the Flexible-aware scale-set rows (ahead of Uniform's)."""
from __future__ import annotations

from ..compute import responses as compute
from . import admin, locks, responses as vm

_VMS = "Microsoft.Compute/virtualMachines"


def rows(route, exact, SUB: str, RG: str, VMSS: str) -> tuple[list, list]:
    """(rows that must come before the Uniform scale-set rows, the other rows); `route`/`exact` build urls.Route."""
    vms = RG + r"/providers/microsoft\.compute/virtualmachines"
    one = vms + "/(?P<vm>[^/]+)"
    nics = RG + r"/providers/microsoft\.network/networkinterfaces"
    first = [route("GET", VMSS + "/virtualmachines", vm.uniform_only(compute.vms_list, "VirtualMachineScaleSetVMs_List"),
                   "VirtualMachineScaleSetVMs_List", "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/read"),
             route("GET", VMSS + "/virtualmachines/(?P<vm>[^/]+)",
                   vm.uniform_only(compute.vm_get, "VirtualMachineScaleSetVMs_Get"),
                   "VirtualMachineScaleSetVMs_Get", "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/read"),
             route("GET", VMSS + "/virtualmachines/(?P<vm>[^/]+)/instanceview",
                   vm.uniform_only(compute.vm_instance_view, "VirtualMachineScaleSetVMs_GetInstanceView"),
                   "VirtualMachineScaleSetVMs_GetInstanceView",
                   "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/instanceView/read")]
    member = VMSS + "/virtualmachines/(?P<vm>[^/]+)"
    write = "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/"
    first += [route("PUT", member, vm.uniform_only(compute.vm_put, "VirtualMachineScaleSetVMs_Update"),
                    "VirtualMachineScaleSetVMs_Update", write + "write"),
              route("DELETE", member, vm.uniform_only(compute.vm_delete, "VirtualMachineScaleSetVMs_Delete"),
                    "VirtualMachineScaleSetVMs_Delete", write + "delete")]
    for action, operation_id in compute.VM_ACTIONS.items():
        first.append(route("POST", member + "/" + action, vm.uniform_only(_with_action(compute.vm_action, action),
                                                                          operation_id),
                           operation_id, write + "action"))
    for action, operation_id in compute.SS_ACTIONS.items():
        first.append(route("POST", VMSS + "/" + action, vm.flexible_action(action), operation_id,
                           "Microsoft.Compute/virtualMachineScaleSets/action"))
    other = [
        route("GET", SUB + r"/providers/microsoft\.compute/virtualmachines", vm.vm_list_all, "VirtualMachines_ListAll",
              f"{_VMS}/read"),
        route("GET", vms, vm.vm_list, "VirtualMachines_List", f"{_VMS}/read"),
        route("GET", one, vm.vm_get, "VirtualMachines_Get", f"{_VMS}/read"),
        route("PUT", one, vm.vm_put, "VirtualMachines_CreateOrUpdate", f"{_VMS}/write"),
        route("PATCH", one, vm.vm_patch, "VirtualMachines_Update", f"{_VMS}/write"),
        route("DELETE", one, vm.vm_delete, "VirtualMachines_Delete", f"{_VMS}/delete"),
        route("GET", one + "/instanceview", vm.vm_instance_view, "VirtualMachines_InstanceView",
              f"{_VMS}/instanceView/read"),
        route("GET", one + "/extensions", vm.ext_list, "VirtualMachineExtensions_List", f"{_VMS}/extensions/read"),
        route("GET", one + "/extensions/(?P<ext>[^/]+)", vm.ext_get, "VirtualMachineExtensions_Get",
              f"{_VMS}/extensions/read"),
        route("PUT", one + "/extensions/(?P<ext>[^/]+)", vm.ext_put, "VirtualMachineExtensions_CreateOrUpdate",
              f"{_VMS}/extensions/write"),
        route("PATCH", one + "/extensions/(?P<ext>[^/]+)", vm.ext_patch, "VirtualMachineExtensions_Update",
              f"{_VMS}/extensions/write"),
        route("DELETE", one + "/extensions/(?P<ext>[^/]+)", vm.ext_delete, "VirtualMachineExtensions_Delete",
              f"{_VMS}/extensions/delete"),
        route("GET", RG + r"/providers/microsoft\.compute/availabilitysets", vm.avset_list, "AvailabilitySets_List",
              "Microsoft.Compute/availabilitySets/read"),
        route("GET", RG + r"/providers/microsoft\.compute/availabilitysets/(?P<avset>[^/]+)", vm.avset_get,
              "AvailabilitySets_Get", "Microsoft.Compute/availabilitySets/read"),
        route("GET", nics, vm.nic_list, "NetworkInterfaces_List", "Microsoft.Network/networkInterfaces/read"),
        route("GET", nics + "/(?P<nic>[^/]+)", vm.nic_get, "NetworkInterfaces_Get",
              "Microsoft.Network/networkInterfaces/read"),
    ]
    rg_locks = RG + r"/providers/microsoft\.authorization/locks"
    vm_locks = one + r"/providers/microsoft\.authorization/locks"
    vmss_locks = VMSS + r"/providers/microsoft\.authorization/locks"
    for scope, where in ((rg_locks, "ManagementLocks_{}AtResourceGroupLevel"),
                         (vm_locks, "ManagementLocks_{}AtResourceLevel"),
                         (vmss_locks, "ManagementLocks_{}AtResourceLevel")):
        other += [
            route("GET", scope, locks.lock_list, where.format("List"), "Microsoft.Authorization/locks/read"),
            route("PUT", scope + "/(?P<lock>[^/]+)", locks.lock_put, where.format("CreateOrUpdate"),
                  "Microsoft.Authorization/locks/write"),
            route("GET", scope + "/(?P<lock>[^/]+)", locks.lock_get, where.format("Get"),
                  "Microsoft.Authorization/locks/read"),
            route("DELETE", scope + "/(?P<lock>[^/]+)", locks.lock_delete, where.format("Delete"),
                  "Microsoft.Authorization/locks/delete")]
    other += [
        exact("GET", "/_emulator/virtual_machines/{rg}", admin.vm_fleet_view),
        exact("GET", "/_emulator/virtual_machines/{rg}/{name}", admin.vm_fleet_row),
        exact("POST", "/_emulator/virtual_machines/{rg}/{name}/config", admin.vm_config),
    ]
    for action, operation_id in vm.VM_ACTIONS.items():   # a row per action, so the row names its operationId
        other.append(route("POST", one + f"/(?P<action>{action})", vm.vm_action, operation_id,
                           f"{_VMS}/{action}/action"))
    return first, other


def _with_action(handler, action: str):
    """A handler of a `(?P<action>...)` row, served from a row of its own (so the row names its operationId)."""
    async def handle(request, m):
        return await handler(request, {**m, "action": action})
    return handle
