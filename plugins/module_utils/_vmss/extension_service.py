# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ExtensionService: the Azure calls of the extension modules, on top of VmssService. Plain dicts; raises VmssError.

Every model change is one write: a PATCH of the scale set guarded by If-Match with the etag we read.
We do not PUT extensions one by one through the extensions sub-resource: Azure validates
provisionAfterExtensions against the whole set, so per-extension writes in a bad order fail with
"... but the extension 'X' is not configured" (terraform-provider-azurerm#25423), and a half-applied
sequence is worse than none. A PATCH replaces the extensions list as a whole; Azure (and the emulator)
keep the stored protectedSettings of an extension whose entry omits them, as they must for
`az vmss update`, which GETs the model (never containing protected settings) and writes it back.
"""

from __future__ import annotations

__metaclass__ = type


class ExtensionService:
    """Reads the scale set, writes its extension profile (and upgrade policy flags), runs extension upgrades,
    through ``vmss_service`` (a VmssService)."""

    def __init__(self, vmss_service, wait_timeout, poll_interval):
        self.vmss = vmss_service
        self.wait_timeout = wait_timeout
        self.poll_interval = poll_interval

    def get_scale_set(self, resource_group, name):
        """The scale set as a wire dict (its ``etag`` included)."""
        return self.vmss.get(resource_group, name)

    def patch_model(self, resource_group, name, etag, extensions=None, upgrade_policy=None):
        """PATCH ``extensionProfile.extensions`` (the whole list) and/or ``upgradePolicy`` (merged by ARM).

        A concurrent edit makes ARM answer 412, raised as VmssConflict. Returns the scale set as written.
        """
        properties = {}
        if extensions is not None:
            properties["virtualMachineProfile"] = {"extensionProfile": {"extensions": extensions}}
        if upgrade_policy is not None:
            properties["upgradePolicy"] = upgrade_policy
        return self.vmss.update_model(resource_group, name, properties, etag, self.wait_timeout)

    def start_extension_upgrade(self, resource_group, name):
        """POST extensionRollingUpgrade; returns the LRO poller (it ends when the whole upgrade ends)."""
        return self.vmss.start_rolling_upgrade(resource_group, name, "extension")

    def finish_extension_upgrade(self, resource_group, name, poller):
        """Wait (bounded by wait_timeout) for the upgrade's LRO; raises VmssError when it ends Failed."""
        self.vmss.finish_rolling_upgrade(resource_group, name, poller, self.wait_timeout)

    def latest_rolling_upgrade(self, resource_group, name):
        """rollingUpgrades/latest as a wire dict ({} when there never was one)."""
        return self.vmss.latest_rolling_upgrade(resource_group, name) or {}
