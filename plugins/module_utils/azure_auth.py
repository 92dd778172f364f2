# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Authentication options, credential resolution and cloud discovery, shared by modules and the inventory plugin.

Option names, environment variables and ``~/.azure/credentials`` profiles match azure.azcollection and AWX's
Azure credential. Nothing here depends on AnsibleModule: ``resolve_auth(options)`` takes a plain dict. The
Azure SDK is imported only when a credential is built, so this file loads without it.
TLS verification is always on; the only knob is which CA bundle to trust.
"""

from __future__ import annotations

__metaclass__ = type

import configparser
import json
import os
import shutil
import subprocess
from urllib.parse import urljoin, urlsplit, urlunsplit

from ansible_collections.vmss.rollout.plugins.module_utils.azure_client import RETRY_SETTINGS, USER_AGENT
from ansible_collections.vmss.rollout.plugins.module_utils.errors import VmssError, from_azure_error

try:
    from ansible.module_utils.basic import env_fallback
except ImportError:  # pragma: no cover - only outside Ansible (e.g. a bare script)
    env_fallback = None

AUTH_SOURCES = ("auto", "env", "credential_file", "cli", "msi")
METADATA_API_VERSION = "2022-09-01"
# Seconds to connect or wait for an answer, per attempt; all attempts (retried like any ARM call) within
# METADATA_TOTAL_TIMEOUT.
METADATA_TIMEOUT = 30
METADATA_TOTAL_TIMEOUT = 300

# option -> environment variables, first one set wins (AZURE_TENANT_ID is what azure-identity's
# EnvironmentCredential and AWX use; AZURE_TENANT is azure.azcollection's name).
ENV_VARS = {
    "auth_source": ("ANSIBLE_AZURE_AUTH_SOURCE",),
    "profile": ("AZURE_PROFILE",),
    "subscription_id": ("AZURE_SUBSCRIPTION_ID",),
    "client_id": ("AZURE_CLIENT_ID",),
    "secret": ("AZURE_SECRET",),
    "tenant": ("AZURE_TENANT", "AZURE_TENANT_ID"),
    "cloud_environment": ("AZURE_CLOUD_ENVIRONMENT",),
    "disable_instance_discovery": ("AZURE_DISABLE_INSTANCE_DISCOVERY",),
    "ca_bundle": ("AZURE_CA_BUNDLE", "REQUESTS_CA_BUNDLE"),
    "allow_foreign_resource_manager": ("AZURE_ALLOW_FOREIGN_RESOURCE_MANAGER",),
    "ad_user": ("AZURE_AD_USER",),
    "password": ("AZURE_PASSWORD",),
    "cert_validation_mode": ("AZURE_CERT_VALIDATION_MODE",),
}

# The public client id of the Azure CLI: what azure.azcollection signs a user in with when no client_id is given.
AZURE_CLI_CLIENT_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"


def _spec(option, **kwargs):
    if env_fallback is not None:
        kwargs["fallback"] = (env_fallback, list(ENV_VARS[option]))
    return kwargs


AUTH_ARGSPEC = {
    "auth_source": _spec("auth_source", type="str", choices=list(AUTH_SOURCES)),
    "profile": _spec("profile", type="str"),
    "subscription_id": _spec("subscription_id", type="str"),
    "client_id": _spec("client_id", type="str"),
    "secret": _spec("secret", type="str", no_log=True),
    "tenant": _spec("tenant", type="str"),
    "cloud_environment": _spec("cloud_environment", type="str"),
    "disable_instance_discovery": _spec("disable_instance_discovery", type="bool"),
    "ca_bundle": _spec("ca_bundle", type="path"),
    "allow_foreign_resource_manager": _spec("allow_foreign_resource_manager", type="bool"),
    "ad_user": _spec("ad_user", type="str"),
    "password": _spec("password", type="str", no_log=True),
    # accepted so an azure.azcollection playbook gets an explanation, not "unknown option"; see resolve_auth
    "cert_validation_mode": _spec("cert_validation_mode", type="str"),
}

PROFILE_KEYS = ("subscription_id", "client_id", "secret", "tenant", "cloud_environment",
                "disable_instance_discovery", "ca_bundle")


class CloudEndpoints:
    """Where ARM and sign-in live for one cloud."""

    def __init__(self, name, resource_manager, authority, audience, from_metadata=False):
        self.name = name
        self.resource_manager = resource_manager.rstrip("/") + "/"
        self.authority = authority.rstrip("/")
        self.audience = audience
        self.from_metadata = from_metadata

    @property
    def scopes(self):
        return [self.audience.rstrip("/") + "/.default"]

    def __eq__(self, other):
        return isinstance(other, CloudEndpoints) and vars(self) == vars(other)

    def __repr__(self):
        return "CloudEndpoints(%r, %r)" % (self.name, self.resource_manager)


KNOWN_CLOUDS = {
    "azurecloud": CloudEndpoints("AzureCloud", "https://management.azure.com/",
                                 "https://login.microsoftonline.com", "https://management.azure.com/"),
    "azureusgovernment": CloudEndpoints("AzureUSGovernment", "https://management.usgovcloudapi.net/",
                                        "https://login.microsoftonline.us", "https://management.usgovcloudapi.net/"),
    "azurechinacloud": CloudEndpoints("AzureChinaCloud", "https://management.chinacloudapi.cn/",
                                      "https://login.chinacloudapi.cn", "https://management.chinacloudapi.cn/"),
}


class AzureAuth:
    """The resolved settings: which identity, which subscription, which cloud, which CA bundle.

    ``secret`` and ``password`` are kept out of repr() so a stray debug print cannot leak them.
    """

    def __init__(self, source, subscription_id, cloud, client_id=None, secret=None, tenant=None,
                 ca_bundle=None, disable_instance_discovery=False, profile=None, ad_user=None, password=None):
        self.source = source
        self.subscription_id = subscription_id
        self.cloud = cloud
        self.client_id = client_id
        self.secret = secret
        self.tenant = tenant
        self.ca_bundle = ca_bundle
        self.disable_instance_discovery = disable_instance_discovery
        self.profile = profile
        self.ad_user = ad_user
        self.password = password

    def __repr__(self):
        return "AzureAuth(source=%r, subscription_id=%r, client_id=%r, tenant=%r, ad_user=%r, cloud=%r)" % (
            self.source, self.subscription_id, self.client_id, self.tenant, self.ad_user, self.cloud)

    @property
    def secrets(self):
        """The values that must never appear in output (client secret, user password)."""
        return [value for value in (self.secret, self.password) if value]

    @property
    def connection_verify(self):
        """requests' ``verify``: the CA bundle path, or True for the system store. Never False."""
        return self.ca_bundle or True

    def credential(self):
        """An azure-identity credential for this identity (imports the SDK on first use)."""
        try:
            return self._sdk_credential()
        except ValueError as exc:
            # azure-identity checks its arguments with ValueError; left alone it escapes as "Module failed: ...".
            if "tenant" in str(exc).lower():
                raise VmssError(
                    "tenant %r is not allowed: use the Microsoft Entra tenant (directory) id, a GUID, or a domain "
                    "such as contoso.onmicrosoft.com: letters, digits, '-' and '.' only (option tenant, "
                    "AZURE_TENANT or the credentials profile)." % (self.tenant,))
            raise VmssError("Could not set up the Azure credential (auth_source %s): %s" % (self.source, exc))

    def _sdk_credential(self):
        try:
            from azure.identity import (AzureCliCredential, ClientSecretCredential, ManagedIdentityCredential,
                                        UsernamePasswordCredential)
        except ImportError as exc:
            raise VmssError("The Python package azure-identity is required on the host running the task: %s" % exc)
        if self.source == "cli":
            return AzureCliCredential(tenant_id=self.tenant) if self.tenant else AzureCliCredential()
        if self.source == "msi":
            kwargs = {"connection_verify": self.connection_verify}
            if self.client_id:
                kwargs["client_id"] = self.client_id
            return ManagedIdentityCredential(**kwargs)
        if self.source == "user_password":
            # azure-identity's username/password sign-in (no MFA): a public client, by default the Azure CLI's
            kwargs = {}
            hook = authority_port_hook(self.cloud.authority)
            if hook:
                kwargs["raw_request_hook"] = hook
            return UsernamePasswordCredential(
                self.client_id, self.ad_user, self.password, tenant_id=self.tenant or "organizations",
                authority=self.cloud.authority, disable_instance_discovery=self.disable_instance_discovery,
                connection_verify=self.connection_verify, **kwargs)
        return ClientSecretCredential(
            self.tenant, self.client_id, self.secret,
            authority=self.cloud.authority,
            disable_instance_discovery=self.disable_instance_discovery,
            connection_verify=self.connection_verify,
        )


def authority_port_hook(authority):
    """A request hook that puts the authority's port back on requests to its host that lack one (None without a port).

    Before a username/password sign-in MSAL asks the authority's user realm discovery whether the user is federated,
    at "https://{host}/common/userrealm/..." built from the host name alone: with an authority on another port than
    443 (a private cloud; the emulator) that request goes to port 443 and the sign-in fails. MSAL has no option to
    skip or redirect it, while azure-core's raw_request_hook, a documented keyword that azure-identity's credentials
    pass on to their HTTP pipeline, sees every request before it is sent: so the discovery reaches the authority as
    configured, rather than being skipped through MSAL's private state. Requests with a port are left alone.
    """
    parts = urlsplit(authority if "://" in authority else "https://" + authority)
    try:
        port = parts.port
    except ValueError:
        return None
    if not port or port == 443:
        return None
    host = parts.hostname

    def hook(pipeline_request):
        request = pipeline_request.http_request
        url = urlsplit(request.url)
        if url.scheme == "https" and url.hostname == host and url.port is None:
            request.url = urlunsplit(url._replace(netloc="%s:%d" % (url.netloc, port)))

    return hook


def _truthy(value):
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on", "y", "t")


def merged_options(options, environ=None):
    """Option values with the AZURE_* environment filled in where an option is unset."""
    environ = os.environ if environ is None else environ
    merged = {}
    for option, names in ENV_VARS.items():
        value = options.get(option)
        if value in (None, ""):
            value = next((environ[n] for n in names if environ.get(n)), None)
        merged[option] = value
    return merged


def credentials_file_path(environ=None, home=None):
    environ = os.environ if environ is None else environ
    config_dir = environ.get("AZURE_CONFIG_DIR") or os.path.join(home or os.path.expanduser("~"), ".azure")
    return os.path.join(config_dir, "credentials")


def read_profile(path, profile):
    """The key/values of one INI profile of ``~/.azure/credentials``, or None when file or profile is missing."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except FileNotFoundError:
        return None
    except (OSError, configparser.Error) as exc:
        raise VmssError("Could not read the Azure credentials file %s: %s" % (path, exc))
    if not parser.has_section(profile):
        return None
    return {key: value for key, value in parser.items(profile) if key in PROFILE_KEYS and value != ""}


def origin(url):
    """(scheme, host, port) of a URL, lower-cased, the port filled in: what "the same host" means here."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or {"https": 443, "http": 80}.get(scheme)


def host_of(url):
    """host[:port] of a URL, as the user would write it in a message."""
    return urlsplit(url.strip()).netloc or url


def parse_cloud_metadata(document, url, allow_foreign_resource_manager=False):
    """CloudEndpoints from an ARM ``/metadata/endpoints`` answer, checked against ``url`` (cloud_environment).

    api-version 2022-09-01 (the one we ask for) answers one object; older versions (2019-05-01, 2018-01-01)
    answer a list of clouds, and Azure Stack Hub's 2015-01-01 an object without resourceManager. The access token
    goes to the resource manager, so it must be on the host the user named unless allow_foreign_resource_manager;
    the sign-in endpoint (where the client secret goes) is taken from that same checked entry, never another.
    """
    if isinstance(document, dict) and not document.get("resourceManager") and document.get("authentication"):
        # Azure Stack Hub's document names no resourceManager: the URL asked is the one (as azure-cli takes it
        # when registering such a cloud).
        document = dict(document, resourceManager=url)
    entries = document if isinstance(document, list) else [document]
    entries = [e for e in entries if isinstance(e, dict) and isinstance(e.get("resourceManager"), str)
               and e["resourceManager"].strip()]
    if not entries:
        raise VmssError("cloud_environment %s: the metadata at /metadata/endpoints names no resourceManager." % url)
    on_host = [e for e in entries if origin(e["resourceManager"]) == origin(url)]
    wanted = url.rstrip("/").lower()
    entry = next((e for e in on_host if e["resourceManager"].rstrip("/").lower() == wanted), None)
    entry = entry or (on_host or [None])[0]
    if entry is None:
        foreign = entries[0]["resourceManager"]
        if not allow_foreign_resource_manager:
            raise VmssError(
                "cloud_environment %s: its metadata names the resource manager %s, on host %s, not on %s; refused, "
                "because the access token would be sent there. Use that resource manager's URL as cloud_environment, "
                "or set allow_foreign_resource_manager (AZURE_ALLOW_FOREIGN_RESOURCE_MANAGER) if you trust host %s."
                % (url, foreign, host_of(foreign), host_of(url), host_of(foreign)))
        entry = entries[0]
    resource_manager = entry["resourceManager"]
    if origin(resource_manager)[0] != "https":
        raise VmssError("cloud_environment %s: its metadata names the resource manager %s; only https:// is allowed "
                        "(the access token would travel unencrypted)." % (url, resource_manager))
    auth = entry.get("authentication") if isinstance(entry.get("authentication"), dict) else {}
    login = auth.get("loginEndpoint")
    if not login or not isinstance(login, str):
        raise VmssError("cloud_environment %s: the metadata names no authentication.loginEndpoint." % url)
    if origin(login)[0] != "https":
        raise VmssError("cloud_environment %s: its metadata names the sign-in endpoint %s; only https:// is allowed "
                        "(the client secret would travel unencrypted)." % (url, login))
    audiences = auth.get("audiences") or [resource_manager]
    return CloudEndpoints(entry.get("name") or url, resource_manager, login, audiences[0], from_metadata=True)


def _same_origin_redirects(url):
    """azure-core's RedirectPolicy, refusing a redirect that leaves ``url``'s https origin (another host, or http)."""
    from azure.core.pipeline.policies import RedirectPolicy

    class SameOriginRedirectPolicy(RedirectPolicy):
        def get_redirect_location(self, response):
            location = super().get_redirect_location(response)
            if location:
                target = urljoin(response.http_request.url, location)
                if origin(target) != origin(url):
                    raise VmssError(
                        "cloud_environment %s: the metadata request was redirected to %s (host %s); refused, a "
                        "redirect may not leave https://%s. Set cloud_environment to the URL that serves "
                        "/metadata/endpoints itself." % (url, target, host_of(target), host_of(url)))
            return location

    return SameOriginRedirectPolicy(redirect_max=5)


def fetch_cloud_metadata(url, ca_bundle=None, timeout=METADATA_TIMEOUT):
    """GET ``{url}/metadata/endpoints`` over verified TLS and return the parsed JSON.

    Sent through azure-core's pipeline: retried (429 with Retry-After, 5xx, dropped connections) like any ARM
    call, bounded by METADATA_TOTAL_TIMEOUT; redirects only within the same https origin.
    """
    try:
        from azure.core import PipelineClient
        from azure.core.exceptions import AzureError
        from azure.core.pipeline.policies import HeadersPolicy, RetryPolicy, UserAgentPolicy
        from azure.core.pipeline.transport import RequestsTransport
        from azure.core.rest import HttpRequest
    except ImportError as exc:
        raise VmssError("The Python package azure-core is required on the host running the task: %s" % exc)

    endpoint = "%s/metadata/endpoints?api-version=%s" % (url.rstrip("/"), METADATA_API_VERSION)
    retry = dict(RETRY_SETTINGS, timeout=METADATA_TOTAL_TIMEOUT)
    client = PipelineClient(
        url,
        policies=[HeadersPolicy({"Accept": "application/json"}), UserAgentPolicy(base_user_agent=USER_AGENT),
                  _same_origin_redirects(url), RetryPolicy(**retry)],
        transport=RequestsTransport(connection_verify=ca_bundle or True, connection_timeout=timeout,
                                    read_timeout=timeout),
    )
    failed = "cloud_environment %s: could not read %s" % (url, endpoint)
    try:
        with client:
            response = client.send_request(HttpRequest("GET", endpoint))
            response.raise_for_status()
            if response.status_code != 200:
                raise VmssError("%s: HTTP %s, expected 200." % (failed, response.status_code),
                                status=response.status_code)
            return json.loads(response.text())
    except AzureError as exc:
        err = from_azure_error(exc, "read %s" % endpoint)
        # "Could not read <endpoint>: <code>: <message> (HTTP, request id)", led by the option at fault
        raise VmssError("cloud_environment %s: c%s" % (url, err.msg[1:]), code=err.code, request_id=err.request_id,
                        status=err.status)
    except ValueError as exc:
        raise VmssError("%s: the answer is not JSON (%s)." % (failed, exc))


def resolve_cloud(value, ca_bundle=None, fetch=fetch_cloud_metadata, allow_foreign_resource_manager=False):
    """A known cloud by name, or an https ARM endpoint whose metadata is read (Azure Stack style)."""
    if not value:
        return KNOWN_CLOUDS["azurecloud"]
    known = KNOWN_CLOUDS.get(value.strip().lower())
    if known:
        return known
    if value.lower().startswith("https://"):
        return parse_cloud_metadata(fetch(value, ca_bundle), value, allow_foreign_resource_manager)
    raise VmssError(
        "cloud_environment %r is not allowed: use AzureCloud, AzureUSGovernment, AzureChinaCloud "
        "or an https:// Azure Resource Manager endpoint whose /metadata/endpoints can be read." % value)


def _missing(values, names):
    return [n for n in names if not values.get(n)]


def _cli_subscription():
    az = shutil.which("az")
    if not az:
        raise VmssError("auth_source cli needs the Azure CLI (az) on PATH, or set subscription_id.")
    try:
        out = subprocess.run([az, "account", "show", "--output", "json"], capture_output=True, text=True,
                             timeout=60, check=True).stdout
        return json.loads(out)["id"]
    except (subprocess.SubprocessError, OSError, ValueError, KeyError) as exc:
        raise VmssError("auth_source cli: 'az account show' failed (%s); run 'az login' or set subscription_id."
                        % type(exc).__name__)


def resolve_auth(options, environ=None, home=None, fetch=fetch_cloud_metadata, cli_available=None):
    """Decide identity, subscription and cloud from module/plugin options, the environment and profiles.

    ``auto`` follows azure.azcollection: profile option -> client id/secret/tenant (options or env) ->
    the ``[default]`` profile -> Azure CLI -> managed identity. Raises VmssError naming the option at fault.
    """
    environ = os.environ if environ is None else environ
    values = merged_options(options, environ)
    mode = values.get("cert_validation_mode")
    if mode not in (None, "") and str(mode).strip().lower() != "validate":
        raise VmssError("cert_validation_mode %r is not supported: TLS certificates are always verified, since the "
                        "access token and the scale set's settings travel over that connection; to trust a private "
                        "certificate authority, set ca_bundle (AZURE_CA_BUNDLE) to its PEM file." % (mode,))
    source = (values.get("auth_source") or "auto").strip().lower()
    if source not in AUTH_SOURCES:
        raise VmssError("auth_source %r is not allowed: use one of %s." % (source, ", ".join(AUTH_SOURCES)))
    creds_path = credentials_file_path(environ, home)
    sp_keys = ("client_id", "secret", "tenant")

    profile_name = values.get("profile")
    user_keys = ("ad_user", "password")
    if source in ("auto", "env") and not profile_name and any(values.get(k) for k in user_keys) \
            and not values.get("secret"):
        missing = _missing(values, user_keys)
        if missing:
            raise VmssError("Username/password sign-in needs ad_user and password; missing: %s "
                            "(options or AZURE_AD_USER / AZURE_PASSWORD)." % ", ".join(missing))
        source = "user_password"
    if source == "auto":
        if profile_name:
            source = "credential_file"
        elif any(values.get(k) for k in sp_keys):
            missing = _missing(values, sp_keys)
            if missing:
                raise VmssError("Service principal sign-in needs client_id, secret and tenant; missing: %s "
                                "(options or AZURE_CLIENT_ID / AZURE_SECRET / AZURE_TENANT)." % ", ".join(missing))
            source = "env"
        elif read_profile(creds_path, "default") is not None:
            source, profile_name = "credential_file", "default"
        elif cli_available if cli_available is not None else shutil.which("az"):
            source = "cli"
        else:
            source = "msi"

    if source == "credential_file":
        profile_name = profile_name or "default"
        profile = read_profile(creds_path, profile_name)
        if profile is None:
            raise VmssError("profile %r was not found in %s (auth_source credential_file)." % (profile_name, creds_path))
        # The identity comes from the profile; other settings from options when given.
        for key in sp_keys:
            values[key] = profile.get(key)
        for key in ("subscription_id", "cloud_environment", "ca_bundle", "disable_instance_discovery"):
            if values.get(key) in (None, "") and profile.get(key):
                values[key] = profile[key]
        missing = _missing(values, sp_keys)
        if missing:
            raise VmssError("profile %r in %s lacks %s." % (profile_name, creds_path, ", ".join(missing)))
    elif source == "user_password":
        values["client_id"] = values.get("client_id") or AZURE_CLI_CLIENT_ID
    elif source == "env":
        missing = _missing(values, sp_keys)
        if missing:
            raise VmssError("auth_source env needs client_id, secret and tenant; missing: %s "
                            "(set AZURE_CLIENT_ID, AZURE_SECRET, AZURE_TENANT)." % ", ".join(missing))

    ca_bundle = values.get("ca_bundle")
    if ca_bundle:
        ca_bundle = os.path.expanduser(ca_bundle)
        if not os.path.isfile(ca_bundle):
            raise VmssError("ca_bundle %s does not exist or is not a file." % ca_bundle)
    cloud = resolve_cloud(values.get("cloud_environment"), ca_bundle, fetch,
                          _truthy(values.get("allow_foreign_resource_manager") or False))
    # A private endpoint has no Microsoft instance-discovery service to ask.
    disable_discovery = cloud.from_metadata or _truthy(values.get("disable_instance_discovery") or False)

    subscription_id = values.get("subscription_id")
    if not subscription_id:
        if source == "cli":
            subscription_id = _cli_subscription()
        else:
            raise VmssError("subscription_id is required (option, AZURE_SUBSCRIPTION_ID or the profile).")

    return AzureAuth(
        source="service_principal" if source in ("env", "credential_file") else source,
        subscription_id=subscription_id, cloud=cloud,
        client_id=values.get("client_id"), secret=values.get("secret"), tenant=values.get("tenant"),
        ca_bundle=ca_bundle, disable_instance_discovery=disable_discovery,
        profile=profile_name if source == "credential_file" else None,
        ad_user=values.get("ad_user") if source == "user_password" else None,
        password=values.get("password") if source == "user_password" else None,
    )
