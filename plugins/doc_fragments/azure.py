# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

__metaclass__ = type


class ModuleDocFragment:
    # Authentication options shared by every module and the inventory plugin (vmss.rollout.azure).
    DOCUMENTATION = r"""
options:
  auth_source:
    description:
      - Where the credentials come from. V(auto) tries, in order, O(profile), O(client_id)/O(secret)/O(tenant)
        (options or environment), O(ad_user)/O(password), the C([default]) profile of C(~/.azure/credentials), the
        Azure CLI, then a managed identity.
      - V(env) uses O(client_id), O(secret) and O(tenant) (or E(AZURE_CLIENT_ID), E(AZURE_SECRET), E(AZURE_TENANT)),
        or O(ad_user) and O(password) when no secret is given.
      - V(credential_file) reads O(profile) (default C(default)) from C(~/.azure/credentials).
      - V(cli) uses the signed-in Azure CLI; V(msi) a managed identity.
      - Defaults to V(auto). Falls back to E(ANSIBLE_AZURE_AUTH_SOURCE).
    type: str
    choices: [auto, env, credential_file, cli, msi]
  profile:
    description:
      - Name of a profile (INI section) in C(~/.azure/credentials) holding C(subscription_id), C(client_id),
        C(secret), C(tenant) and optionally C(cloud_environment). Falls back to E(AZURE_PROFILE).
    type: str
  subscription_id:
    description:
      - The subscription holding the scale set. Falls back to E(AZURE_SUBSCRIPTION_ID).
    type: str
  client_id:
    description:
      - Application (client) id of a service principal, or of a user-assigned managed identity with O(auth_source=msi).
        Falls back to E(AZURE_CLIENT_ID).
    type: str
  secret:
    description:
      - Client secret of the service principal. Never logged or returned. Falls back to E(AZURE_SECRET).
    type: str
  ad_user:
    description:
      - A Microsoft Entra user name (C(user@contoso.onmicrosoft.com)) to sign in with, with O(password), as
        azure.azcollection and AWX's Azure credential do. Falls back to E(AZURE_AD_USER).
      - Uses azure-identity's username/password sign-in, which works only for accounts without multi-factor
        authentication. The client is O(client_id), by default the Azure CLI's public client id; the tenant is
        O(tenant), by default C(organizations).
      - A service principal (O(secret)) wins when both are given.
    type: str
  password:
    description:
      - The password of O(ad_user). Never logged or returned. Falls back to E(AZURE_PASSWORD).
    type: str
  tenant:
    description:
      - Tenant (directory) id. Falls back to E(AZURE_TENANT), then E(AZURE_TENANT_ID).
    type: str
  cloud_environment:
    description:
      - V(AzureCloud) (default), V(AzureUSGovernment), V(AzureChinaCloud), or an C(https://) Azure Resource Manager
        endpoint whose C(/metadata/endpoints) document is read to find the sign-in endpoint and audience
        (Azure Stack, or the vmss_emulator). Falls back to E(AZURE_CLOUD_ENVIRONMENT).
      - For an endpoint URL, the resource manager named in that document must be on the URL's host (same host and
        port, https), since the access token is sent there; otherwise the task fails naming both hosts (see
        O(allow_foreign_resource_manager)). The sign-in endpoint is taken from that same checked document.
        A redirect of the metadata request to another host or to plain http is refused.
      - The metadata read is retried like any Azure Resource Manager call (throttling, server errors, dropped
        connections), within a few minutes.
    type: str
  allow_foreign_resource_manager:
    description:
      - Accept a C(/metadata/endpoints) document (read from the URL in O(cloud_environment)) whose resource manager
        is on another host than that URL, and send the access token there.
      - Leave this off unless you trust that other host; the metadata document alone decides where the token goes.
        Plain http endpoints and redirects off the URL's host stay refused.
      - Off unless set. Falls back to E(AZURE_ALLOW_FOREIGN_RESOURCE_MANAGER).
    type: bool
  disable_instance_discovery:
    description:
      - Skip Microsoft Entra instance discovery when signing in (for private or disconnected clouds).
        Always on for an endpoint URL in O(cloud_environment). Falls back to E(AZURE_DISABLE_INSTANCE_DISCOVERY).
    type: bool
  ca_bundle:
    description:
      - A PEM file of certificate authorities to trust, for sign-in and Azure Resource Manager.
        Falls back to E(AZURE_CA_BUNDLE), then E(REQUESTS_CA_BUNDLE).
      - TLS certificates are always verified; there is no option to turn that off.
    type: path
  cert_validation_mode:
    description:
      - Accepted for azure.azcollection compatibility only. V(validate) is what always happens; any other value
        (V(ignore)) is refused with an explanation, since certificate verification cannot be turned off (the
        access token travels over that connection). To trust a private certificate authority, use O(ca_bundle).
        Falls back to E(AZURE_CERT_VALIDATION_MODE).
    type: str
requirements:
  - azure-identity >= 1.27.0
  - azure-mgmt-compute >= 39.0.0
  - azure-core >= 1.41.0
notes:
  - For modules, authentication can be set once with C(module_defaults) and C(group/vmss.rollout.vmss).
    C(module_defaults) do not reach the inventory plugin, which takes these options from its inventory file or the
    environment variables named above (AWX's Azure credential sets them).
"""
