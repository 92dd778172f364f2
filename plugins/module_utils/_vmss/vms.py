# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""VmService: every azure-mgmt-compute call for plain VMs and the members of Flexible scale sets.

In Flexible orchestration the members are ordinary ``Microsoft.Compute/virtualMachines`` resources: listed with
``$filter='virtualMachineScaleSet/id' eq '<set id>'``, each with its own instance view, upgraded with the set's
``manualupgrade`` by instance NAME. Returns plain wire dicts (camelCase) and raises VmssError; never touches
AnsibleModule. The pure helpers (orchestration mode checks, the member summary) sit at the bottom.
"""

from __future__ import annotations

__metaclass__ = type

from ansible_collections.vmss.rollout.plugins.module_utils.azure_client import NIC_API_VERSION, list_wire_pages, \
    scale_set_id
from ansible_collections.vmss.rollout.plugins.module_utils.errors import VmssError, VmssNotStarted, from_azure_error
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.health import health_from_instance_view
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.service import call_azure, wait_azure

try:
    from azure.core.exceptions import AzureError
except ImportError:  # sanity import test runs without the SDK; VmssModule.client() reports it properly
    class AzureError(Exception):
        pass

FLEXIBLE = "Flexible"
UNIFORM = "Uniform"
# error codes of our own (no ARM code says "you pointed a scale-set call at a VM")
NOT_A_SCALE_SET = "NotAScaleSet"
NOT_A_VIRTUAL_MACHINE = "NotAVirtualMachine"
# Microsoft.Authorization/locks: azure-mgmt-resource is not a dependency, the list is one paged GET through the
# compute client's pipeline
LOCKS_API_VERSION = "2016-09-01"
_LOCKS = "/providers/microsoft.authorization/locks/"
WRONG_ORCHESTRATION = "WrongOrchestrationMode"


def _plain(value):
    return value.as_dict() if hasattr(value, "as_dict") else value


def _not_found(err):
    return isinstance(err, VmssError) and (err.status == 404 or err.code in ("ResourceNotFound", "NotFound"))


def members_filter(subscription_id, resource_group, scale_set):
    """The $filter that lists a Flexible set's member VMs (Azure's documented form)."""
    return "'virtualMachineScaleSet/id' eq '%s'" % scale_set_id(subscription_id, resource_group, scale_set)


class VmService:
    """``subscription_id`` is the one ``client`` was built for (AzureAuth.subscription_id)."""

    def __init__(self, client, subscription_id):
        self.client = client
        self.subscription_id = subscription_id

    def _call(self, action, func, *args, **kwargs):
        return call_azure(action, func, *args, **kwargs)

    def _wait(self, action, poller, timeout):
        return wait_azure(action, poller, timeout)

    def _list(self, action, pages):
        return self._call(action, lambda: [_plain(item) for item in pages])

    # --- virtual machines ----------------------------------------------------------------------

    def get_vm(self, resource_group, name):
        """The VM (model only), or VmssError; a 404 whose name is a scale set says so (code NotAVirtualMachine)."""
        return self._get_or_explain(
            "read virtual machine %s/%s" % (resource_group, name), self.client.virtual_machines.get,
            self.client.virtual_machine_scale_sets.get, resource_group, name, NOT_A_VIRTUAL_MACHINE,
            "%s/%s is a virtual machine scale set, not a virtual machine: give it as a scale set (kind uniform or "
            "flexible), or name a VM." % (resource_group, name))

    def instance_view(self, resource_group, name):
        """The VM's instance view: statuses (ProvisioningState/..., PowerState/...), platformFaultDomain,
        platformUpdateDomain (availability sets), vmHealth (Application Health extension), extensions."""
        return _plain(self._call("read the instance view of virtual machine %s/%s" % (resource_group, name),
                                 self.client.virtual_machines.instance_view, resource_group, name))

    def list_vms(self, resource_group=None):
        """Every VM of one resource group, or of the whole subscription (all pages); models only."""
        vms = self.client.virtual_machines
        if resource_group:
            action = "list the virtual machines of resource group %s" % resource_group
            return self._list(action, self._call(action, vms.list, resource_group))
        action = "list the virtual machines of the subscription"
        return self._list(action, self._call(action, vms.list_all))

    def list_vms_with_views(self, resource_group, names):
        """[(vm, instance view)] for the VMs ``names`` of one resource group, in that order."""
        return [(self.get_vm(resource_group, name), self.instance_view(resource_group, name)) for name in names]

    def list_nics(self, resource_group):
        """Every network interface of a resource group, as wire dicts (one paged GET through the client's pipeline):
        plain VMs and Flexible members have standalone NICs, each naming its VM in properties.virtualMachine.id, so
        azure_client.private_ips_by_instance maps them to VM names."""
        url = "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/networkInterfaces?api-version=%s" % (
            self.subscription_id, resource_group, NIC_API_VERSION)
        return list_wire_pages(self.client, url, "list the network interfaces of resource group %s" % resource_group)

    def list_locks(self, resource_group):
        """Every management lock of a resource group, as wire dicts: the group's own and those of the resources in it
        (Azure's list at resource-group scope). Instance protection for plain VMs and Flexible members is done with
        these locks (Uniform's protectionPolicy has no counterpart on a VM)."""
        url = "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Authorization/locks?api-version=%s" % (
            self.subscription_id, resource_group, LOCKS_API_VERSION)
        return list_wire_pages(self.client, url, "list the management locks of resource group %s" % resource_group)

    def lock_reasons(self, resource_group, names, scale_set=None):
        """{VM name: protection reason} for the VMs ``names`` of a resource group under a lock (lock_reasons below).
        Without the right to read locks (403) the VMs count as unlocked: Azure itself still refuses a write under a
        ReadOnly lock (409 ScopeLocked), and a CanNotDelete lock does not stop an upgrade."""
        try:
            locks = self.list_locks(resource_group)
        except VmssError as err:
            if err.status == 403:
                return {}
            raise
        set_id = scale_set_id(self.subscription_id, resource_group, scale_set) if scale_set else None
        return lock_reasons(locks, names, set_id)

    # --- Flexible scale sets ---------------------------------------------------------------------

    def get_scale_set(self, resource_group, name):
        """The scale set, or VmssError; a 404 whose name is a VM says so (code NotAScaleSet)."""
        return self._get_or_explain(
            "read scale set %s/%s" % (resource_group, name), self.client.virtual_machine_scale_sets.get,
            self.client.virtual_machines.get, resource_group, name, NOT_A_SCALE_SET,
            "%s/%s is a virtual machine, not a scale set: give it as a virtual machine (kind virtual_machines), or "
            "name a scale set." % (resource_group, name))

    def list_scale_set_members(self, resource_group, scale_set, with_views=False):
        """The member VMs of a Flexible scale set (all pages), by the virtualMachineScaleSet/id filter; with
        ``with_views`` each carries its instance view in properties.instanceView ($expand=instanceView, which Azure
        takes on the VM list only together with such a $filter)."""
        action = "list the members of Flexible scale set %s/%s" % (resource_group, scale_set)
        options = {"filter": members_filter(self.subscription_id, resource_group, scale_set)}
        if with_views:
            options["expand"] = "instanceView"
        pages = self._call(action, self.client.virtual_machines.list, resource_group, **options)
        return self._list(action, pages)

    def list_members_with_views(self, resource_group, scale_set):
        """[(vm, instance view)] of every member of a Flexible set, in ONE paged list (the members are read at every
        health poll of a rollout, and the inventory reads them all): per-member state comes from each VM's instance
        view, never from the set's."""
        return [(vm, (vm.get("properties") or {}).get("instanceView") or {})
                for vm in self.list_scale_set_members(resource_group, scale_set, with_views=True)]

    def manual_upgrade_by_names(self, resource_group, scale_set, names, timeout):
        """ONE manualupgrade call for the members ``names`` of a Flexible set (Flexible takes NAMES in instanceIds);
        waits for the LRO at most ``timeout`` seconds. VmssNotStarted when the call itself failed."""
        action = "upgrade members %s of Flexible scale set %s/%s" % (", ".join(names), resource_group, scale_set)
        try:
            poller = self.client.virtual_machine_scale_sets.begin_update_instances(
                resource_group, scale_set, {"instanceIds": list(names)})
        except AzureError as exc:
            err = from_azure_error(exc, action)
            raise VmssNotStarted(err.msg, code=err.code, request_id=err.request_id, status=err.status)
        return self._wait(action, poller, timeout)

    # --- VM extensions ---------------------------------------------------------------------------

    def get_extension(self, resource_group, vm_name, extension):
        """The extension of the VM as a wire dict, or None when the VM has no extension of that name."""
        action = "read extension %s of virtual machine %s/%s" % (extension, resource_group, vm_name)
        try:
            return _plain(self._call(action, self.client.virtual_machine_extensions.get, resource_group, vm_name,
                                     extension))
        except VmssError as err:
            if _not_found(err):
                self.get_vm(resource_group, vm_name)  # a missing VM is an error (with NotAVirtualMachine's hint)
                return None
            raise

    def list_extensions(self, resource_group, vm_name):
        action = "list the extensions of virtual machine %s/%s" % (resource_group, vm_name)
        listed = _plain(self._call(action, self.client.virtual_machine_extensions.list, resource_group, vm_name))
        return list((listed or {}).get("value") or []) if isinstance(listed, dict) else list(listed or [])

    def put_extension(self, resource_group, vm_name, extension, body, timeout):
        """PUT the extension (``body``: wire dict with location and properties; protectedSettings are write-only and
        never read back) and wait for its LRO at most ``timeout`` seconds; returns the extension as written."""
        action = "write extension %s of virtual machine %s/%s" % (extension, resource_group, vm_name)
        poller = self._call(action, self.client.virtual_machine_extensions.begin_create_or_update, resource_group,
                            vm_name, extension, body)
        return _plain(self._wait(action, poller, timeout))

    def patch_extension(self, resource_group, vm_name, extension, properties, timeout):
        """PATCH only ``properties`` of the extension (a concurrent edit of its other properties survives: Azure's VM
        extension has no etag to guard a PUT with) and wait for its LRO; returns the extension as written."""
        action = "update extension %s of virtual machine %s/%s" % (extension, resource_group, vm_name)
        poller = self._call(action, self.client.virtual_machine_extensions.begin_update, resource_group, vm_name,
                            extension, {"properties": properties})
        return _plain(self._wait(action, poller, timeout))

    def begin_put_extension(self, resource_group, vm_name, extension, body):
        """Start the PUT of an extension; returns the poller (VmssNotStarted when Azure refused to start it)."""
        action = "write extension %s of virtual machine %s/%s" % (extension, resource_group, vm_name)
        try:
            return self.client.virtual_machine_extensions.begin_create_or_update(resource_group, vm_name, extension,
                                                                                 body)
        except AzureError as exc:
            err = from_azure_error(exc, action)
            raise VmssNotStarted(err.msg, code=err.code, request_id=err.request_id, status=err.status)

    def begin_delete_extension(self, resource_group, vm_name, extension):
        """Start the DELETE of an extension; returns the poller (VmssNotStarted when Azure refused to start it)."""
        action = "delete extension %s of virtual machine %s/%s" % (extension, resource_group, vm_name)
        try:
            return self.client.virtual_machine_extensions.begin_delete(resource_group, vm_name, extension)
        except AzureError as exc:
            err = from_azure_error(exc, action)
            raise VmssNotStarted(err.msg, code=err.code, request_id=err.request_id, status=err.status)

    def finish(self, action, poller, timeout):
        """Wait for a poller of begin_put_extension / begin_delete_extension at most ``timeout`` seconds."""
        return _plain(self._wait(action, poller, timeout))

    def _get_or_explain(self, action, getter, other_getter, resource_group, name, code, hint):
        """GET one resource; on a 404 where the name is the OTHER kind of resource (a VM for a scale set, a set for a
        VM), raise ``hint`` with ``code`` instead of a bare ResourceNotFound."""
        try:
            return _plain(self._call(action, getter, resource_group, name))
        except VmssError as err:
            if _not_found(err) and self._exists(other_getter, resource_group, name):
                raise VmssError(hint, code=code, request_id=err.request_id, status=err.status)
            raise

    def _exists(self, getter, resource_group, name):
        try:
            getter(resource_group, name)
            return True
        except AzureError:
            return False


# --- pure helpers ----------------------------------------------------------------------------------

def orchestration_mode(vmss):
    """"Flexible" or "Uniform" (a set without the property is Uniform: ARM's default before Flexible existed)."""
    mode = ((vmss or {}).get("properties") or {}).get("orchestrationMode") or UNIFORM
    return FLEXIBLE if str(mode).lower() == "flexible" else UNIFORM


def require_orchestration(vmss, wanted, what):
    """Raise VmssError (WrongOrchestrationMode) naming ``what`` when the set is not in ``wanted`` mode: a Uniform-only
    call is never sent to a Flexible set (nor the other way round) where Azure would answer something confusing."""
    mode = orchestration_mode(vmss)
    if mode != wanted:
        raise VmssError("Scale set %s uses %s orchestration: %s works on %s scale sets only%s." % (
            vmss.get("name"), mode, what, wanted,
            " (its members are virtual machines, named rather than numbered, placed by fault domain and zone)"
            if mode == FLEXIBLE else ""), code=WRONG_ORCHESTRATION)
    return vmss


def _status(view, prefix):
    for status in (view or {}).get("statuses") or []:
        code = status.get("code") or ""
        if code.startswith(prefix):
            return code.split("/", 1)[1]
    return None


def summarize_vm(vm, view, flexible=False):
    """A VM (wire dict) and its instance view -> an instance summary (instances.summarize's shape), keyed by NAME.

    Flexible members have no update domain (placement by fault domain and zone); plain VMs report the update domain
    of their availability set. ``latest_model_applied`` is the member's state against its Flexible set's model
    (None for a plain VM, which has no scale-set model)."""
    props = vm.get("properties") or {}
    view = view or props.get("instanceView") or {}
    zones = vm.get("zones") or []
    power = _status(view, "PowerState/")
    latest = props.get("latestModelApplied")
    if latest is None:
        latest = view.get("latestModelApplied")
    return {
        "instance_id": vm.get("name"),
        "id": vm.get("id"),
        "name": vm.get("name"),
        "kind": "flexible_member" if flexible else "virtual_machine",
        "update_domain": None if flexible else view.get("platformUpdateDomain"),
        "fault_domain": view.get("platformFaultDomain"),
        "zone": str(zones[0]) if zones else None,
        "availability_set": (props.get("availabilitySet") or {}).get("id"),
        "latest_model_applied": bool(latest) if (flexible or latest is not None) else None,
        # the model's state (Updating while an extension or upgrade is applied), else the instance view's
        "provisioning_state": props.get("provisioningState") or _status(view, "ProvisioningState/"),
        "power_state": power.lower() if power else None,
        "health_state": health_from_instance_view(view),
        "private_ip": None,
        "protected": False,
        "tags": dict(vm.get("tags") or {}),
    }


def _lock_scope(lock_id):
    """The scope of a lock id (what comes before /providers/Microsoft.Authorization/locks/{name}), lower case."""
    text = (lock_id or "").lower()
    cut = text.rfind(_LOCKS)
    return text[:cut].rstrip("/") if cut >= 0 else ""


def lock_reasons(locks, names, scale_set_resource_id=None):
    """{VM name: "protected by resource lock NAME (LEVEL)"} for the VMs ``names`` under a lock (pure).

    A lock at a VM's own scope protects it whatever its level (locks are how Flexible members and plain VMs are
    protected). A ReadOnly lock on the resource group (or on the VMs' scale set, ``scale_set_resource_id``) covers
    every VM under it: Azure would refuse their writes. A CanNotDelete lock there does not: many production resource
    groups carry one, and it stops no upgrade."""
    by_name = dict((str(name).lower(), name) for name in names)
    parent_scopes = set(s.lower().rstrip("/") for s in [scale_set_resource_id] if s)
    held = dict((name, []) for name in names)
    for lock in locks or []:
        props = lock.get("properties") or {}
        level = props.get("level") or ""
        scope = _lock_scope(lock.get("id"))
        text = "%s (%s)" % (lock.get("name"), level)
        if "/providers/microsoft.compute/virtualmachines/" in scope:
            vm_name = scope.rsplit("/", 1)[1]
            if vm_name in by_name:
                held[by_name[vm_name]].append(text)
        elif level.lower() == "readonly" and (scope.count("/") == 4 or scope in parent_scopes):
            where = "resource group" if scope.count("/") == 4 else "scale set"
            for name in names:
                held[name].append("%s (%s, on the %s)" % (lock.get("name"), level, where))
    return dict((name, "protected by resource lock%s %s" % ("s" if len(texts) > 1 else "", ", ".join(texts)))
                for name, texts in held.items() if texts)


def mark_locked(summaries, reasons):
    """The summaries with ``protected`` and ``protected_reason`` set for the VMs under a lock (``reasons``, from
    lock_reasons): a rollout skips them and says why, as it skips Uniform's protected instances."""
    for summary in summaries:
        reason = reasons.get(summary["instance_id"])
        if reason:
            summary["protected"] = True
            summary["protected_reason"] = reason
    return summaries
