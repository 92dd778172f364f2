# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ExtensionService: the SDK calls of the extension modules. Plain dicts in and out; raises VmssError.

Everything is one write: a PATCH of the scale set guarded by If-Match with the etag we read. We do not
PUT extensions one by one through the extensions sub-resource: Azure validates provisionAfterExtensions
against the whole set, so per-extension writes in a bad order fail with "... but the extension 'X' is not
configured" (terraform-provider-azurerm#25423), and a half-applied sequence is worse than none. A PATCH
replaces the extensions list as a whole; Azure (and the emulator) keep the stored protectedSettings of an
extension whose entry omits them, exactly as they do for `az vmss update`, which GETs (no protected
settings) and writes the model back.
"""

from __future__ import annotations

__metaclass__ = type

from ansible_collections.vmss.rollout.plugins.module_utils._vmss.waiter import wait_for_poller, wait_until
from ansible_collections.vmss.rollout.plugins.module_utils.errors import VmssError, from_azure_error

# rollingUpgrades/latest runningStatus.code values after which nothing more happens
ROLLING_TERMINAL = ("Completed", "Faulted", "Cancelled")


def _azure_errors():
    try:
        from azure.core.exceptions import AzureError
    except ImportError:  # pragma: no cover - the client could not be built without azure-core
        return (VmssError,)
    return (AzureError,)


class ExtensionService:
    """Reads the scale set and writes its extension profile (and upgrade policy flags) in one PATCH."""

    def __init__(self, client, wait_timeout, poll_interval):
        self.client = client
        self.wait_timeout = wait_timeout
        self.poll_interval = poll_interval

    def get_scale_set(self, resource_group, name):
        """The scale set as a wire dict (its ``etag`` included)."""
        try:
            vmss = self.client.virtual_machine_scale_sets.get(resource_group, name)
        except _azure_errors() as exc:
            raise from_azure_error(exc, "read scale set %s/%s" % (resource_group, name))
        return vmss.as_dict()

    def patch_model(self, resource_group, name, etag, extensions=None, upgrade_policy=None):
        """PATCH ``extensionProfile.extensions`` (the whole list) and/or ``upgradePolicy`` (merged by ARM).

        Guarded by If-Match: a concurrent edit makes ARM answer 412, raised as VmssConflict.
        Returns the scale set as written (wire dict).
        """
        from azure.core import MatchConditions

        properties = {}
        if extensions is not None:
            properties["virtualMachineProfile"] = {"extensionProfile": {"extensions": extensions}}
        if upgrade_policy is not None:
            properties["upgradePolicy"] = upgrade_policy
        action = "update the extensions of scale set %s/%s" % (resource_group, name)
        try:
            poller = self.client.virtual_machine_scale_sets.begin_update(
                resource_group, name, {"properties": properties},
                etag=etag, match_condition=MatchConditions.IfNotModified)
            result = wait_for_poller(poller, self.wait_timeout, action)
        except _azure_errors() as exc:
            raise from_azure_error(exc, action)
        return result.as_dict() if result is not None else self.get_scale_set(resource_group, name)

    def start_extension_upgrade(self, resource_group, name):
        """POST extensionRollingUpgrade and wait for the start LRO (bounded)."""
        action = "start the extension rolling upgrade of scale set %s/%s" % (resource_group, name)
        try:
            poller = self.client.virtual_machine_scale_set_rolling_upgrades.begin_start_extension_upgrade(
                resource_group, name)
            wait_for_poller(poller, self.wait_timeout, action)
        except _azure_errors() as exc:
            raise from_azure_error(exc, action)

    def latest_rolling_upgrade(self, resource_group, name):
        action = "read the latest rolling upgrade of scale set %s/%s" % (resource_group, name)
        try:
            return self.client.virtual_machine_scale_set_rolling_upgrades.get_latest(resource_group, name).as_dict()
        except _azure_errors() as exc:
            raise from_azure_error(exc, action)

    def wait_rolling_upgrade(self, resource_group, name):
        """Follow rollingUpgrades/latest until it reaches a terminal state (bounded by wait_timeout)."""
        def finished():
            status = self.latest_rolling_upgrade(resource_group, name)
            code = ((status.get("properties") or {}).get("runningStatus") or {}).get("code")
            return status if code in ROLLING_TERMINAL else None

        return wait_until(finished, self.wait_timeout, self.poll_interval,
                          "the extension rolling upgrade of scale set %s/%s" % (resource_group, name))
