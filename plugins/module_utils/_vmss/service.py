# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""VmssService: every azure-mgmt-compute call for scale sets and their instances.

Returns plain dicts in ARM wire format (camelCase, as ``as_dict()`` gives them) and raises VmssError;
it never touches AnsibleModule. Extension calls live next door in extension_service.py.
"""

from __future__ import annotations

__metaclass__ = type

import time

from ansible_collections.vmss.rollout.plugins.module_utils.azure_client import list_scale_set_nics, \
    list_scale_set_vms, list_scale_sets
from ansible_collections.vmss.rollout.plugins.module_utils.errors import VmssConflict, VmssError, VmssNotStarted, \
    from_azure_error
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.waiter import wait_for_poller

try:
    from azure.core import MatchConditions
    from azure.core.exceptions import AzureError, ResourceNotFoundError
except ImportError:  # sanity import test runs without the SDK; VmssModule.client() reports it properly
    MatchConditions = None

    class AzureError(Exception):
        pass

    class ResourceNotFoundError(AzureError):
        pass


# Default of the conflict_retries option (doc fragment vmss.rollout.conflict).
CONFLICT_RETRIES = 3


def _plain(value):
    return value.as_dict() if hasattr(value, "as_dict") else value


def call_azure(action, func, *args, **kwargs):
    """``func(*args, **kwargs)``, its azure-core errors turned into one VmssError naming ``action``."""
    try:
        return func(*args, **kwargs)
    except AzureError as exc:
        raise from_azure_error(exc, action)


def wait_azure(action, poller, timeout):
    """An LRO poller's result within ``timeout``, its azure-core errors turned into one VmssError naming ``action``."""
    try:
        return wait_for_poller(poller, timeout, action)
    except AzureError as exc:
        raise from_azure_error(exc, action)


class VmssService:
    """``subscription_id`` is the one ``client`` was built for (AzureAuth.subscription_id): the wire-format lists
    name it in their URL, and the SDK client does not expose it."""

    def __init__(self, client, subscription_id):
        self.client = client
        self.subscription_id = subscription_id

    def _call(self, action, func, *args, **kwargs):
        return call_azure(action, func, *args, **kwargs)

    def _wait(self, action, poller, timeout):
        return wait_azure(action, poller, timeout)

    # --- the scale set model -------------------------------------------------------------------

    def get(self, resource_group, name):
        """The scale set (with its etag), or raises VmssError (code ResourceNotFound when missing)."""
        return _plain(self._call("read scale set %s/%s" % (resource_group, name),
                                 self.client.virtual_machine_scale_sets.get, resource_group, name))

    def list_scale_sets(self, resource_group=None):
        """Every scale set of one resource group, or of the whole subscription (all pages), as wire dicts (see
        list_wire_pages): the inventory lists through a bare pipeline, without the SDK's operation groups."""
        return list_scale_sets(self.client, self.subscription_id, resource_group)

    def update_model(self, resource_group, name, properties, etag, timeout):
        """PATCH only ``properties`` (a wire-format subtree), guarded by If-Match: ``etag``; wait for the LRO.

        A concurrent edit makes ARM answer 412, raised as VmssConflict so the caller can re-read and re-apply.
        """
        action = "update the model of scale set %s/%s" % (resource_group, name)
        kwargs = {}
        if etag:
            kwargs = {"etag": etag, "match_condition": MatchConditions.IfNotModified}
        poller = self._call(action, self.client.virtual_machine_scale_sets.begin_update,
                            resource_group, name, {"properties": properties}, **kwargs)
        return _plain(self._wait(action, poller, timeout))

    # --- instances -----------------------------------------------------------------------------

    def list_instances(self, resource_group, name):
        """Every instance with its instance view (all pages), as wire dicts without SDK models (see list_wire_pages)."""
        return list_scale_set_vms(self.client, self.subscription_id, resource_group, name)

    def manual_upgrade(self, resource_group, name, instance_ids, timeout):
        """ONE manualupgrade call for all ``instance_ids``; waits for the LRO at most ``timeout`` seconds.

        Raises VmssNotStarted when the call itself failed (no operation started that we know of)."""
        action = "upgrade instances %s of scale set %s/%s" % (", ".join(instance_ids), resource_group, name)
        try:
            poller = self.client.virtual_machine_scale_sets.begin_update_instances(
                resource_group, name, {"instanceIds": list(instance_ids)})
        except AzureError as exc:
            # no operation to follow: the caller tells untouched instances from failed ones (a POST is not retried)
            err = from_azure_error(exc, action)
            raise VmssNotStarted(err.msg, code=err.code, request_id=err.request_id, status=err.status)
        return self._wait(action, poller, timeout)

    def start_rolling_upgrade(self, resource_group, name, kind):
        """Start Azure's own rolling upgrade (kind ``os`` or ``extension``); returns the LRO poller."""
        upgrades = self.client.virtual_machine_scale_set_rolling_upgrades
        start = upgrades.begin_start_os_upgrade if kind == "os" else upgrades.begin_start_extension_upgrade
        return self._call("start the %s rolling upgrade of scale set %s/%s" % (kind, resource_group, name),
                          start, resource_group, name)

    def finish_rolling_upgrade(self, resource_group, name, poller, timeout):
        return self._wait("run the rolling upgrade of scale set %s/%s" % (resource_group, name), poller, timeout)

    def latest_rolling_upgrade(self, resource_group, name):
        """rollingUpgrades/latest as a dict, or None when the scale set never had one."""
        try:
            return _plain(self.client.virtual_machine_scale_set_rolling_upgrades.get_latest(resource_group, name))
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise from_azure_error(exc, "read the latest rolling upgrade of scale set %s/%s" % (resource_group, name))

    def scale_out(self, resource_group, name, capacity, tags, timeout):
        """PATCH sku.capacity (new instances come up on the latest model) and the set's ``tags`` in one write; waits
        for the LRO. A quota or capacity refusal (QuotaExceeded, AllocationFailed...) raises VmssError."""
        action = "scale scale set %s/%s out to %d instances" % (resource_group, name, capacity)
        poller = self._call(action, self.client.virtual_machine_scale_sets.begin_update, resource_group, name,
                            {"sku": {"capacity": capacity}, "tags": tags})
        return _plain(self._wait(action, poller, timeout))

    def set_tags(self, resource_group, name, tags, timeout):
        """PATCH the scale set's tags (the whole dict: ARM replaces them) and wait."""
        action = "update the tags of scale set %s/%s" % (resource_group, name)
        poller = self._call(action, self.client.virtual_machine_scale_sets.begin_update, resource_group, name,
                            {"tags": tags})
        return _plain(self._wait(action, poller, timeout))

    def delete_instances(self, resource_group, name, instance_ids, timeout):
        """ONE POST .../delete for ``instance_ids``; waits for the LRO."""
        action = "delete instances %s of scale set %s/%s" % (", ".join(instance_ids), resource_group, name)
        poller = self._call(action, self.client.virtual_machine_scale_sets.begin_delete_instances, resource_group,
                            name, {"instanceIds": list(instance_ids)})
        return self._wait(action, poller, timeout)

    def list_nics(self, resource_group, name):
        """The scale set's network interfaces (Microsoft.Network, via the compute client's pipeline)."""
        return list_scale_set_nics(self.client, self.subscription_id, resource_group, name)


# A write refused because another operation holds the scale set (HTTP 409): worth retrying once that one ends.
BUSY_CODES = ("Conflict", "OperationNotAllowed")


def is_busy(err):
    """ARM refused a write because an operation (an instance upgrade still running) holds the scale set."""
    return isinstance(err, VmssError) and err.status == 409 and err.code in BUSY_CODES


def write_on_latest(read, compute, write, retries, resource_group, name, busy_timeout=0, poll_interval=1.0,
                    say=None, sleep=time.sleep, clock=time.monotonic):
    """Read, compute, PATCH with If-Match; on 412 re-read and compute again: the one loop of every model write.

    ``read()`` returns the scale set (with its etag); ``compute(vmss)`` returns the change to write, or None when
    there is nothing to write (nothing differs, check mode) and may raise to refuse; ``write(vmss, change)`` PATCHes
    guarded by ``vmss["etag"]`` and returns the scale set as written, or raises VmssConflict on 412. Each retry
    computes from the fresh read, so a concurrent edit of other fields is kept, never overwritten.

    Returns (the scale set last read, the one written or None, the number of 412s met). After ``retries`` re-reads
    that all met a 412 again: VmssConflict with one sentence; nothing of ours was written.

    A 409 Conflict / OperationNotAllowed (another operation, e.g. a timed-out instance upgrade, still holds the set)
    is retried from a fresh read every ``poll_interval`` s for at most ``busy_timeout`` s (0: not retried), said
    once through ``say``; then the last 409 is raised.
    """
    conflicts = 0
    busy_until = None
    while True:
        vmss = read()
        change = compute(vmss)
        if change is None:
            return vmss, None, conflicts
        try:
            return vmss, write(vmss, change), conflicts
        except VmssError as err:
            if not isinstance(err, VmssConflict):
                if not is_busy(err) or busy_timeout <= 0:
                    raise
                if busy_until is None:
                    busy_until = clock() + busy_timeout
                    if say:
                        say("Scale set %s/%s is busy with another operation (%s); retrying the model write every "
                            "%g s for up to %g s (wait_timeout)." % (resource_group, name, err.msg, poll_interval,
                                                                     busy_timeout))
                if clock() + poll_interval > busy_until:
                    raise
                sleep(poll_interval)
                continue
            conflicts += 1
            if conflicts > retries:
                raise VmssConflict(
                    "Could not update the model of scale set %s/%s: it kept changing under us (%d concurrent edits, "
                    "HTTP 412%s); nothing of ours was written." % (
                        resource_group, name, conflicts, ", request id %s" % err.request_id if err.request_id else ""),
                    code="PreconditionFailed", request_id=err.request_id, status=412)


def is_not_found(err):
    return isinstance(err, VmssError) and (err.status == 404 or err.code in ("ResourceNotFound", "NotFound"))
