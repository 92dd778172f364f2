"""Credential resolution and cloud discovery, without network or SDK calls."""
import pytest

from ansible_collections.vmss.rollout.plugins.module_utils import azure_auth
from ansible_collections.vmss.rollout.plugins.module_utils.errors import VmssError

SP_ENV = {"AZURE_CLIENT_ID": "env-client", "AZURE_SECRET": "env-Secret-123", "AZURE_TENANT": "env-tenant",
          "AZURE_SUBSCRIPTION_ID": "env-sub"}
METADATA = [
    {"name": "Other", "resourceManager": "https://elsewhere.example/",
     "authentication": {"loginEndpoint": "https://login.elsewhere.example/", "audiences": ["https://x/"]}},
    {"name": "Emulator", "resourceManager": "https://127.0.0.1:8443/",
     "authentication": {"loginEndpoint": "https://127.0.0.1:8443/", "audiences": ["https://management.azure.com/"],
                        "tenant": "common"}},
]


def no_fetch(url, ca_bundle):
    raise AssertionError("no metadata fetch expected")


def resolve(options=None, environ=None, home="/nonexistent", fetch=no_fetch, cli=False):
    return azure_auth.resolve_auth(options or {}, environ=environ or {}, home=home, fetch=fetch, cli_available=cli)


def write_profiles(tmp_path, text):
    (tmp_path / ".azure").mkdir()
    (tmp_path / ".azure" / "credentials").write_text(text)
    return str(tmp_path)


def test_service_principal_from_env():
    auth = resolve(environ=SP_ENV)
    assert (auth.source, auth.client_id, auth.secret, auth.tenant, auth.subscription_id) == (
        "service_principal", "env-client", "env-Secret-123", "env-tenant", "env-sub")
    assert auth.cloud.name == "AzureCloud" and auth.cloud.scopes == ["https://management.azure.com/.default"]
    assert auth.connection_verify is True and auth.disable_instance_discovery is False


def test_options_win_over_env_and_tenant_id_fallback():
    env = dict(SP_ENV)
    del env["AZURE_TENANT"]
    env["AZURE_TENANT_ID"] = "tenant-from-id"
    auth = resolve({"client_id": "opt-client", "subscription_id": "opt-sub"}, environ=env)
    assert auth.client_id == "opt-client" and auth.subscription_id == "opt-sub" and auth.tenant == "tenant-from-id"


def test_secret_never_in_repr():
    auth = resolve(environ=SP_ENV)
    assert "env-Secret-123" not in repr(auth)


@pytest.mark.parametrize("source", ["env", "cli"])
def test_malformed_tenant_is_one_clear_error_naming_the_option(source):
    pytest.importorskip("azure.identity")
    auth = resolve({"tenant": "not a tenant!", "auth_source": source, "subscription_id": "s"}, environ=SP_ENV)
    with pytest.raises(VmssError) as err:
        auth.credential()
    msg = str(err.value)
    assert msg.startswith("tenant 'not a tenant!' is not allowed") and "AZURE_TENANT" in msg
    assert "letters, digits, '-' and '.'" in msg and "env-Secret-123" not in msg


def test_partial_service_principal_names_missing_options():
    with pytest.raises(VmssError, match="missing: secret, tenant"):
        resolve({"client_id": "c", "subscription_id": "s"})


def test_default_profile_then_cli_then_msi(tmp_path):
    home = write_profiles(tmp_path, "[default]\nsubscription_id = p-sub\nclient_id = p-client\n"
                                    "secret = p-secret\ntenant = p-tenant\n")
    auth = resolve(home=home)
    assert (auth.source, auth.profile, auth.client_id, auth.subscription_id) == (
        "service_principal", "default", "p-client", "p-sub")
    assert resolve({"subscription_id": "s"}, cli=True).source == "cli"
    assert resolve({"subscription_id": "s"}).source == "msi"


def test_named_profile_from_env_var(tmp_path):
    home = write_profiles(tmp_path, "[default]\nclient_id = d\nsecret = d\ntenant = d\n"
                                    "[staging]\nsubscription_id = st-sub\nclient_id = st-client\nsecret = st-secret\n"
                                    "tenant = st-tenant\ncloud_environment = AzureUSGovernment\n")
    auth = resolve(environ={"AZURE_PROFILE": "staging"}, home=home)
    assert auth.client_id == "st-client" and auth.profile == "staging"
    assert auth.cloud.resource_manager == "https://management.usgovcloudapi.net/"
    assert auth.cloud.authority == "https://login.microsoftonline.us"


def test_profile_identity_beats_env_identity(tmp_path):
    home = write_profiles(tmp_path, "[p]\nsubscription_id = p-sub\nclient_id = p-client\nsecret = p\ntenant = t\n")
    auth = resolve({"auth_source": "credential_file", "profile": "p"}, environ=SP_ENV, home=home)
    assert auth.client_id == "p-client" and auth.secret == "p"
    # a subscription given as option/env still wins over the profile's
    assert auth.subscription_id == "env-sub"


def test_missing_profile_is_one_clear_error(tmp_path):
    home = write_profiles(tmp_path, "[default]\nclient_id = a\n")
    with pytest.raises(VmssError, match="profile 'nope' was not found"):
        resolve({"profile": "nope"}, home=home)
    with pytest.raises(VmssError, match="lacks secret, tenant"):
        resolve({"auth_source": "credential_file", "subscription_id": "s"}, home=home)


def test_env_source_requires_all_three():
    with pytest.raises(VmssError, match="auth_source env needs .* missing: client_id, secret, tenant"):
        resolve({"auth_source": "env", "subscription_id": "s"})


def test_subscription_required():
    with pytest.raises(VmssError, match="subscription_id is required"):
        resolve(environ={k: v for k, v in SP_ENV.items() if k != "AZURE_SUBSCRIPTION_ID"})


def test_bad_auth_source_and_cloud_name():
    with pytest.raises(VmssError, match="auth_source 'magic' is not allowed"):
        resolve({"auth_source": "magic"}, environ=SP_ENV)
    with pytest.raises(VmssError, match="cloud_environment 'AzureMoon' is not allowed"):
        resolve({"cloud_environment": "AzureMoon"}, environ=SP_ENV)
    with pytest.raises(VmssError, match="cloud_environment 'http://127.0.0.1:1' is not allowed"):
        resolve({"cloud_environment": "http://127.0.0.1:1"}, environ=SP_ENV)


def test_ca_bundle_must_exist(tmp_path):
    with pytest.raises(VmssError, match="ca_bundle .*does not exist"):
        resolve(environ=dict(SP_ENV, REQUESTS_CA_BUNDLE=str(tmp_path / "nope.pem")))
    pem = tmp_path / "ca.pem"
    pem.write_text("x")
    assert resolve(environ=dict(SP_ENV, REQUESTS_CA_BUNDLE=str(pem))).connection_verify == str(pem)


def test_metadata_cloud_picks_matching_entry_and_forces_discovery_off(tmp_path):
    pem = tmp_path / "ca.pem"
    pem.write_text("x")
    seen = []

    def fetch(url, ca_bundle):
        seen.append((url, ca_bundle))
        return METADATA

    env = dict(SP_ENV, AZURE_CLOUD_ENVIRONMENT="https://127.0.0.1:8443", AZURE_CA_BUNDLE=str(pem))
    auth = resolve(environ=env, fetch=fetch)
    assert seen == [("https://127.0.0.1:8443", str(pem))]
    assert auth.cloud.resource_manager == "https://127.0.0.1:8443/"
    assert auth.cloud.authority == "https://127.0.0.1:8443"
    assert auth.cloud.scopes == ["https://management.azure.com/.default"]
    assert auth.disable_instance_discovery is True


def test_metadata_2022_09_01_answers_one_object():
    # the api-version we ask for answers one cloud, not a list
    cloud = azure_auth.parse_cloud_metadata(
        {"name": "Stack", "resourceManager": "https://arm.local/",
         "authentication": {"loginEndpoint": "https://login.local/adfs"}},
        "https://arm.local")
    assert cloud.resource_manager == "https://arm.local/" and cloud.scopes == ["https://arm.local/.default"]
    assert cloud.authority == "https://login.local/adfs" and cloud.name == "Stack"


def test_metadata_older_api_versions_answer_a_list_and_the_entry_on_the_host_is_used():
    # 2019-05-01 and older list every cloud; the one whose resource manager is the URL asked counts
    clouds = [
        {"name": "AzureCloud", "resourceManager": "https://management.azure.com/",
         "authentication": {"loginEndpoint": "https://login.microsoftonline.com", "audiences": ["https://m/"]}},
        {"name": "Stack", "resourceManager": "https://arm.local:443/",
         "authentication": {"loginEndpoint": "https://login.local/adfs", "audiences": ["https://arm.local/x"]}},
    ]
    cloud = azure_auth.parse_cloud_metadata(clouds, "https://arm.local")
    assert (cloud.name, cloud.authority, cloud.scopes) == (
        "Stack", "https://login.local/adfs", ["https://arm.local/x/.default"])


FOREIGN = {"name": "Elsewhere", "resourceManager": "https://evil.example:8443/",
           "authentication": {"loginEndpoint": "https://login.evil.example", "audiences": ["https://evil.example/"]}}


@pytest.mark.parametrize("document", [FOREIGN, [FOREIGN], [FOREIGN, dict(FOREIGN, name="Other")]],
                         ids=["object", "list", "list-of-two"])
def test_resource_manager_on_another_host_is_refused_naming_both_hosts(document):
    with pytest.raises(VmssError) as err:
        azure_auth.parse_cloud_metadata(document, "https://arm.local")
    msg = str(err.value)
    assert "evil.example:8443" in msg and "arm.local" in msg and "refused" in msg
    assert "allow_foreign_resource_manager" in msg and "AZURE_ALLOW_FOREIGN_RESOURCE_MANAGER" in msg


@pytest.mark.parametrize("url, resource_manager", [
    ("https://arm.local:8443", "https://arm.local:9443/"),      # another port is another service
    ("https://arm.local", "https://arm.local.evil.example/"),
    ("https://arm.local", "http://arm.local/"),                 # same host, but the token would go in clear text
])
def test_only_the_same_https_host_and_port_counts_as_the_users_host(url, resource_manager):
    document = {"resourceManager": resource_manager, "authentication": {"loginEndpoint": "https://login.local"}}
    with pytest.raises(VmssError, match="refused"):
        azure_auth.parse_cloud_metadata(document, url)


def test_login_endpoint_is_taken_only_from_the_checked_entry():
    own = {"name": "Own", "resourceManager": "https://arm.local/",
           "authentication": {"loginEndpoint": "https://login.local/adfs"}}
    cloud = azure_auth.parse_cloud_metadata([FOREIGN, own], "https://arm.local")
    assert cloud.authority == "https://login.local/adfs" and cloud.resource_manager == "https://arm.local/"


def test_allow_foreign_resource_manager_option_and_env_var():
    def fetch(url, ca_bundle):
        return FOREIGN

    env = dict(SP_ENV, AZURE_CLOUD_ENVIRONMENT="https://arm.local")
    with pytest.raises(VmssError, match="refused"):
        resolve(environ=env, fetch=fetch)
    for options, environ in (({"allow_foreign_resource_manager": True}, env),
                             ({}, dict(env, AZURE_ALLOW_FOREIGN_RESOURCE_MANAGER="true"))):
        auth = resolve(options, environ=environ, fetch=fetch)
        assert auth.cloud.resource_manager == "https://evil.example:8443/"
        assert auth.cloud.authority == "https://login.evil.example"


@pytest.mark.parametrize("field", ["resourceManager", "loginEndpoint"])
def test_plain_http_endpoints_are_refused_even_when_foreign_hosts_are_allowed(field):
    document = {"resourceManager": "https://elsewhere.example/",
                "authentication": {"loginEndpoint": "https://login.elsewhere.example"}}
    if field == "resourceManager":
        document["resourceManager"] = "http://elsewhere.example/"
    else:
        document["authentication"]["loginEndpoint"] = "http://login.elsewhere.example"
    with pytest.raises(VmssError, match="only https:// is allowed"):
        azure_auth.parse_cloud_metadata(document, "https://arm.local", allow_foreign_resource_manager=True)


def test_metadata_azure_stack_document_without_resource_manager_uses_the_url_asked():
    # the shape Azure Stack Hub answers: endpoints and authentication, no resourceManager
    document = {"galleryEndpoint": "https://gallery.local/", "graphEndpoint": "https://graph.windows.net/",
                "portalEndpoint": "https://portal.local/",
                "authentication": {"loginEndpoint": "https://login.microsoftonline.com/",
                                   "audiences": ["https://management.contoso.onmicrosoft.com/0a1b2c"]}}
    cloud = azure_auth.parse_cloud_metadata(document, "https://management.local.azurestack.external")
    assert cloud.resource_manager == "https://management.local.azurestack.external/"
    assert cloud.scopes == ["https://management.contoso.onmicrosoft.com/0a1b2c/.default"]


@pytest.mark.parametrize("document,match", [
    ([], "names no resourceManager"),
    ({"galleryEndpoint": "https://g/"}, "names no resourceManager"),
    ({"resourceManager": "https://a/"}, "names no authentication.loginEndpoint"),
])
def test_metadata_errors(document, match):
    with pytest.raises(VmssError, match=match):
        azure_auth.parse_cloud_metadata(document, "https://a")


def test_argspec_secret_is_no_log_and_env_fallbacks():
    spec = azure_auth.AUTH_ARGSPEC
    assert spec["secret"]["no_log"] is True
    assert spec["tenant"]["fallback"][1] == ["AZURE_TENANT", "AZURE_TENANT_ID"]
    assert spec["ca_bundle"]["fallback"][1] == ["AZURE_CA_BUNDLE", "REQUESTS_CA_BUNDLE"]
    assert "validate_certs" not in spec
    assert spec["password"]["no_log"] is True
    assert spec["ad_user"]["fallback"][1] == ["AZURE_AD_USER"]
    assert spec["password"]["fallback"][1] == ["AZURE_PASSWORD"]
    assert spec["allow_foreign_resource_manager"]["type"] == "bool"
    assert spec["allow_foreign_resource_manager"]["fallback"][1] == ["AZURE_ALLOW_FOREIGN_RESOURCE_MANAGER"]


USER_ENV = {"AZURE_AD_USER": "ops@contoso.example", "AZURE_PASSWORD": "User-Pass-987", "AZURE_SUBSCRIPTION_ID": "sub"}


def test_ad_user_and_password_sign_in_as_azure_identity_supports_it():
    pytest.importorskip("azure.identity")
    from azure.identity import UsernamePasswordCredential
    auth = resolve(environ=USER_ENV)
    assert (auth.source, auth.ad_user, auth.client_id) == (
        "user_password", "ops@contoso.example", azure_auth.AZURE_CLI_CLIENT_ID)
    assert "User-Pass-987" not in repr(auth) and auth.secrets == ["User-Pass-987"]
    credential = auth.credential()
    assert isinstance(credential, UsernamePasswordCredential)
    # the client id given wins over the Azure CLI's
    assert resolve({"client_id": "my-public-app", "tenant": "t1"}, environ=USER_ENV).client_id == "my-public-app"
    # a service principal wins when a secret is given too (azure.azcollection's order)
    assert resolve(environ=dict(SP_ENV, **USER_ENV)).source == "service_principal"


class _Request:
    def __init__(self, url):
        self.http_request = type("HttpRequest", (), {"url": url})()


def test_the_authority_port_is_put_back_on_requests_to_its_host_without_one():
    """MSAL's user realm discovery drops the authority's port; the hook sends it to the authority as configured."""
    hook = azure_auth.authority_port_hook("https://login.private.example:8443")
    for url, expected in [
            ("https://login.private.example/common/userrealm/ops@contoso.example?api-version=1.0",
             "https://login.private.example:8443/common/userrealm/ops@contoso.example?api-version=1.0"),
            ("https://login.private.example:8443/t1/oauth2/v2.0/token", "https://login.private.example:8443/t1/oauth2/v2.0/token"),
            ("https://other.example/x", "https://other.example/x"),
            ("http://login.private.example/x", "http://login.private.example/x")]:
        request = _Request(url)
        hook(request)
        assert request.http_request.url == expected
    # the default port needs no hook
    assert azure_auth.authority_port_hook("https://login.microsoftonline.com") is None
    assert azure_auth.authority_port_hook("https://login.microsoftonline.com:443/") is None


def test_ad_user_without_password_names_what_is_missing():
    with pytest.raises(VmssError, match="needs ad_user and password; missing: password"):
        resolve({"ad_user": "ops@contoso.example", "subscription_id": "s"})


@pytest.mark.parametrize("where", ["option", "env"])
def test_cert_validation_mode_ignore_is_refused_saying_why(where):
    options = {"cert_validation_mode": "ignore"} if where == "option" else {}
    environ = dict(SP_ENV, **({"AZURE_CERT_VALIDATION_MODE": "ignore"} if where == "env" else {}))
    with pytest.raises(VmssError) as err:
        resolve(options, environ=environ)
    msg = str(err.value)
    assert msg.startswith("cert_validation_mode 'ignore' is not supported: TLS certificates are always verified")
    assert "ca_bundle" in msg
    # validate is what happens anyway
    assert resolve({"cert_validation_mode": "validate"}, environ=SP_ENV).source == "service_principal"


# ---------------------------------------------------------------- the metadata read itself (azure-core over TLS)
# A real HTTPS server on loopback with a CA of the test's own (hostile_https.py); nothing is mocked.

OWN_DOCUMENT = {"name": "Own", "authentication": {"loginEndpoint": "https://login.local"}}


@pytest.fixture
def tls(tmp_path):
    trustme = pytest.importorskip("trustme")
    pytest.importorskip("azure.core")
    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    return ca, str(bundle)


def metadata_server(ca, replies):
    """A server answering /…/metadata/endpoints with ``replies`` in turn (the last one repeats)."""
    from hostile_https import HostileServer

    server = HostileServer(ca)
    queue = list(replies)

    def answer(handler):
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        return reply(server) if callable(reply) else reply

    server.answer = answer
    return server


def own(server):
    return 200, {}, dict(OWN_DOCUMENT, resourceManager=server.base + "/")


@pytest.mark.parametrize("where", ["other_host", "plain_http"])
def test_a_redirect_off_the_users_https_host_is_refused_and_never_followed(tls, where):
    from hostile_https import HostileServer

    ca, bundle = tls
    with HostileServer(ca, host_name="localhost") as other, HostileServer(None) as plain:
        target = {"other_host": other.base, "plain_http": plain.base}[where]
        with metadata_server(ca, [(302, {"Location": target + "/metadata/endpoints"}, b"")]) as server:
            with pytest.raises(VmssError) as err:
                azure_auth.fetch_cloud_metadata(server.base, bundle)
        msg = str(err.value)
        assert "redirected to %s/metadata/endpoints" % target in msg and "refused" in msg
        assert server.base.split("//")[1] in msg
        assert other.requests == [] and plain.requests == []


def test_a_redirect_on_the_same_https_host_is_followed(tls):
    ca, bundle = tls
    with metadata_server(ca, [(301, {"Location": "/moved/metadata/endpoints?api-version=2022-09-01"}, b""),
                              own]) as server:
        document = azure_auth.fetch_cloud_metadata(server.base, bundle)
    assert document["resourceManager"] == server.base + "/"
    assert [r.path for r in server.requests] == ["/metadata/endpoints?api-version=2022-09-01",
                                                 "/moved/metadata/endpoints?api-version=2022-09-01"]


@pytest.mark.parametrize("fault", [
    (429, {"Retry-After": "0"}, {"error": {"code": "TooManyRequests", "message": "throttled"}}),
    (503, {}, {"error": {"code": "ServiceUnavailable", "message": "busy"}}),
    None,   # the connection dropped without an answer
], ids=["throttled", "5xx", "dropped"])
def test_one_throttled_or_failed_metadata_read_is_retried(tls, fault):
    ca, bundle = tls
    with metadata_server(ca, [fault, own]) as server:
        document = azure_auth.fetch_cloud_metadata(server.base, bundle)
    assert document["resourceManager"] == server.base + "/"
    assert len(server.requests) == 2


def test_metadata_retries_are_bounded_and_end_in_one_clear_error(tls, monkeypatch):
    ca, bundle = tls
    monkeypatch.setattr(azure_auth, "RETRY_SETTINGS", dict(azure_auth.RETRY_SETTINGS, retry_total=2,
                                                           retry_status=2, retry_backoff_factor=0))
    busy = (503, {"x-ms-request-id": "req-1"}, {"error": {"code": "ServiceUnavailable", "message": "busy"}})
    with metadata_server(ca, [busy]) as server:
        with pytest.raises(VmssError) as err:
            azure_auth.fetch_cloud_metadata(server.base, bundle)
    assert len(server.requests) == 3
    msg = str(err.value)
    assert msg.startswith("cloud_environment %s: could not read %s/metadata/endpoints" % (server.base, server.base))
    assert "ServiceUnavailable: busy" in msg and "HTTP 503" in msg and "req-1" in msg and "\n" not in msg
