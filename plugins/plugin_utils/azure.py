# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Auth, client and service assembled for the plugins that call Azure from the controller (the vmss_rollout_batches
action, the vmss inventory). Modules assemble theirs in VmssModule.service(), on the host that runs them."""

from __future__ import annotations

__metaclass__ = type

from ansible_collections.vmss.rollout.plugins.module_utils.azure_auth import resolve_auth
from ansible_collections.vmss.rollout.plugins.module_utils.azure_client import compute_client, wire_pipeline
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.service import VmssService
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.vms import VmService


def scale_set_service(options, environ=None, poll_interval=None, timeout=None):
    """A VmssService signed in with ``options`` (the auth options; unset ones from ``environ``, the controller's
    environment by default, then ~/.azure/credentials). ``poll_interval`` and ``timeout`` (seconds) configure the
    client's LRO polling and bound each call with its retries; raises VmssError naming what is wrong."""
    auth = resolve_auth(options, environ=environ)
    client = compute_client(auth, poll_interval=poll_interval, timeout=timeout)
    return VmssService(client, auth.subscription_id)


class LazyVmService:
    """A VmService whose compute client is built on first use: an inventory of Uniform scale sets alone never
    imports azure-mgmt-compute. The client shares ``credential``, so the token already obtained is reused."""

    def __init__(self, auth, credential):
        self._auth = auth
        self._credential = credential
        self._service = None

    def __getattr__(self, name):
        if self._service is None:
            self._service = VmService(compute_client(self._auth, credential=self._credential),
                                      self._auth.subscription_id)
        return getattr(self._service, name)


def inventory_services(options, environ=None):
    """(VmssService, VmService) for the inventory, signed in as scale_set_service is: the VmssService reads scale
    sets, their instances and NICs as wire pages through a bare ARM pipeline (no azure-mgmt-compute import), the
    VmService (Flexible members, plain VMs) is a LazyVmService sharing the pipeline's credential."""
    auth = resolve_auth(options, environ=environ)
    credential = auth.credential()
    return VmssService(wire_pipeline(auth, credential), auth.subscription_id), LazyVmService(auth, credential)
