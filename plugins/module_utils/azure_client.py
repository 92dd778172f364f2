# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The azure-mgmt-compute client factory: cloud endpoint, TLS, retry and LRO polling configured, never rewritten;
and a bare ARM pipeline, configured the same way, for the wire-format paged lists."""

from __future__ import annotations

__metaclass__ = type

from ansible_collections.vmss.rollout.plugins.module_utils.errors import VmssError, from_azure_error

USER_AGENT = "vmss.rollout"

# azure-core's RetryPolicy already honours Retry-After on 429/5xx; we only widen its budget so a
# throttling storm (many 429s in a row) completes instead of failing after the default 3 status retries.
RETRY_SETTINGS = {
    "retry_total": 12,
    "retry_status": 10,
    "retry_connect": 3,
    "retry_read": 3,
    "retry_backoff_factor": 0.8,
    "retry_backoff_max": 60,
    # Seconds one call may take with its retries (azure-core's default: 7 days). Modules pass their
    # wait_timeout; this is the same default, for callers without one (the inventory plugin).
    "timeout": 1800,
}

# Microsoft.Network answers this path for Uniform scale sets; one GET lists every instance's NICs.
NIC_API_VERSION = "2024-05-01"
# The version azure-mgmt-compute 39 sends for every scale-set operation; used by the wire-format list below.
COMPUTE_API_VERSION = "2026-04-01"


def _retry_settings(retry, timeout):
    settings = dict(RETRY_SETTINGS)
    settings.update(retry or {})
    if timeout is not None:
        settings["timeout"] = timeout
    return settings


def compute_client(auth, poll_interval=None, retry=None, timeout=None, credential=None):
    """A ComputeManagementClient for ``auth`` (an azure_auth.AzureAuth).

    ``poll_interval`` is the LRO poller's fallback delay; a Retry-After from ARM still takes precedence.
    ``timeout`` (seconds) bounds each call with its retries, so no retried call outlives the module's wait_timeout.
    ``credential`` (default: a new one from ``auth``) lets a client share another's, and so its cached token.
    """
    try:
        from azure.core.pipeline.policies import RetryPolicy
        from azure.mgmt.compute import ComputeManagementClient
    except ImportError as exc:
        raise VmssError("The Python packages azure-mgmt-compute and azure-core are required on the host "
                        "running the task: %s" % exc)
    settings = _retry_settings(retry, timeout)
    kwargs = {}
    if poll_interval is not None:
        kwargs["polling_interval"] = poll_interval
    return ComputeManagementClient(
        credential=credential or auth.credential(),
        subscription_id=auth.subscription_id,
        base_url=auth.cloud.resource_manager,
        credential_scopes=auth.cloud.scopes,
        connection_verify=auth.connection_verify,
        retry_policy=RetryPolicy(**settings),
        user_agent=USER_AGENT,
        **kwargs
    )


class WirePipeline:
    """An ARM pipeline with ``send_request`` as ComputeManagementClient has it (a path is joined to the resource
    manager's URL; a nextLink is used as given): what list_wire_pages needs, without azure-mgmt-compute."""

    def __init__(self, client):
        self._client = client

    def send_request(self, request):
        request.url = self._client.format_url(request.url)
        return self._client.send_request(request)


def wire_pipeline(auth, credential, retry=None, timeout=None):
    """A WirePipeline for ``auth`` with ``credential``: the policies, retry settings, user agent and TLS of
    compute_client, from azure-core and azure-mgmt-core alone. Importing azure-mgmt-compute costs about 0.3 s of CPU,
    a third of an inventory's own work; a reader that only lists wire pages does not need it."""
    try:
        from azure.core.pipeline import policies
        from azure.mgmt.core import ARMPipelineClient
        from azure.mgmt.core.policies import ARMChallengeAuthenticationPolicy, ARMHttpLoggingPolicy
    except ImportError as exc:
        raise VmssError("The Python packages azure-mgmt-core and azure-core are required on the host "
                        "running the task: %s" % exc)
    # the order of ComputeManagementClient's pipeline
    pipeline_policies = [
        policies.RequestIdPolicy(),
        policies.HeadersPolicy(),
        policies.UserAgentPolicy(user_agent=USER_AGENT, sdk_moniker="mgmt-core/vmss.rollout"),
        policies.ProxyPolicy(),
        policies.ContentDecodePolicy(),
        policies.RedirectPolicy(),
        policies.RetryPolicy(**_retry_settings(retry, timeout)),
        ARMChallengeAuthenticationPolicy(credential, *auth.cloud.scopes),
        policies.CustomHookPolicy(),
        policies.NetworkTraceLoggingPolicy(),
        policies.DistributedTracingPolicy(),
        policies.SensitiveHeaderCleanupPolicy(),
        ARMHttpLoggingPolicy(),
    ]
    return WirePipeline(ARMPipelineClient(base_url=auth.cloud.resource_manager, policies=pipeline_policies,
                                          connection_verify=auth.connection_verify))


def scale_set_id(subscription_id, resource_group, name):
    return "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachineScaleSets/%s" % (
        subscription_id, resource_group, name)


def list_wire_pages(client, url, action):
    """Every item of a paged ARM list, as wire dicts, GET through the client's pipeline (auth, retry policy).

    ``url`` is the first page; each nextLink carries the api-version and the query. Used where building SDK
    models would cost more than the request: 1000 scale-set VMs with instance views took about 0.7 s to
    deserialise, and the rollout reads them at every health poll.
    """
    from azure.core.exceptions import AzureError
    from azure.core.rest import HttpRequest

    items = []
    while url:
        try:
            response = client.send_request(HttpRequest("GET", url))
            response.raise_for_status()
            page = response.json()
        except (AzureError, ValueError) as exc:
            raise from_azure_error(exc, action)
        items.extend(page.get("value") or [])
        url = page.get("nextLink") or None
    return items


def list_scale_sets(client, subscription_id, resource_group=None):
    """Every scale set of one resource group, or of the whole subscription, as wire dicts (all pages)."""
    if resource_group:
        url = "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachineScaleSets" % (
            subscription_id, resource_group)
        action = "list the scale sets of resource group %s" % resource_group
    else:
        url = "/subscriptions/%s/providers/Microsoft.Compute/virtualMachineScaleSets" % subscription_id
        action = "list the scale sets of the subscription"
    return list_wire_pages(client, "%s?api-version=%s" % (url, COMPUTE_API_VERSION), action)


def list_scale_set_nics(client, subscription_id, resource_group, name):
    """Every network interface of a Uniform scale set, as wire dicts (paged, through the client's pipeline)."""
    url = "%s/networkInterfaces?api-version=%s" % (
        scale_set_id(subscription_id, resource_group, name), NIC_API_VERSION)
    return list_wire_pages(client, url, "list the network interfaces of scale set %s/%s" % (resource_group, name))


def list_scale_set_vms(client, subscription_id, resource_group, name):
    """Every instance of a scale set with its instance view, as wire dicts (what the SDK's models would hold)."""
    url = "%s/virtualMachines?api-version=%s&$expand=instanceView" % (
        scale_set_id(subscription_id, resource_group, name), COMPUTE_API_VERSION)
    return list_wire_pages(client, url, "list the instances of scale set %s/%s" % (resource_group, name))


def private_ips_by_instance(nics):
    """instance id -> primary private IPv4, from the NIC list (pure)."""
    ips = {}
    for nic in nics:
        instance_id = _instance_id_of_nic(nic)
        props = nic.get("properties") or {}
        if instance_id is None or (instance_id in ips and not props.get("primary")):
            continue
        configs = props.get("ipConfigurations") or []
        configs = sorted(configs, key=lambda c: not (c.get("properties") or {}).get("primary", False))
        for config in configs:
            ip = (config.get("properties") or {}).get("privateIPAddress")
            if ip:
                ips[instance_id] = ip
                break
    return ips


def _instance_id_of_nic(nic):
    vm_id = ((nic.get("properties") or {}).get("virtualMachine") or {}).get("id") or nic.get("id") or ""
    parts = vm_id.split("/")
    lowered = [p.lower() for p in parts]
    if "virtualmachines" in lowered:
        index = lowered.index("virtualmachines")
        if index + 1 < len(parts):
            return parts[index + 1]
    return None
