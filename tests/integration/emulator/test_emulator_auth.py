"""Sign-in and ARM authorization, through azure-identity and azure-mgmt-compute."""
from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request

import jwt
import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

from emu_sdk import ARM_SCOPE, compute_for, credential_for, web_scenario


class FixedToken:
    """A credential that always presents the same bearer token (to send forged or expired tokens)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes, **kwargs):
        return AccessToken(self.token, int(time.time()) + 3600)

    def get_token_info(self, *scopes, options=None):
        from azure.core.credentials import AccessTokenInfo
        return AccessTokenInfo(self.token, int(time.time()) + 3600)


def test_client_secret_credential_gets_a_signed_expiring_token(emu):
    emu.config(token_lifetime=600)
    token = credential_for(emu).get_token(ARM_SCOPE)
    claims = jwt.decode(token.token, options={"verify_signature": False})
    assert claims["appid"] == emu.env["AZURE_CLIENT_ID"]
    assert claims["tid"] == emu.env["AZURE_TENANT"]
    assert claims["exp"] - claims["iat"] == 600
    assert jwt.get_unverified_header(token.token)["alg"] == "RS256"
    assert emu.requests()["token_requests"] == 1


def _metadata(emu, version):
    context = ssl.create_default_context(cafile=str(emu.ca_path))
    with urllib.request.urlopen(f"{emu.url}/metadata/endpoints?api-version={version}", context=context) as resp:
        return json.loads(resp.read())


def test_cloud_metadata_is_one_object_from_2022_09_01_and_a_list_before(emu):
    """As ARM answers: `az cloud register` reads the 2022-09-01 answer as one cloud object."""
    cloud = _metadata(emu, "2022-09-01")
    assert isinstance(cloud, dict) and cloud["name"]
    older = _metadata(emu, "2019-05-01")
    assert isinstance(older, list) and older == [cloud]


def test_cloud_metadata_names_the_emulator(emu):
    cloud = _metadata(emu, "2022-09-01")
    assert cloud["resourceManager"].rstrip("/") == emu.url
    assert cloud["authentication"]["loginEndpoint"].rstrip("/") == emu.url
    assert "https://management.core.windows.net/" in cloud["authentication"]["audiences"]
    assert "suffixes" in cloud and cloud["name"]


def test_wrong_secret_is_invalid_client(emu):
    with pytest.raises(ClientAuthenticationError) as err:
        credential_for(emu, secret="not-the-secret").get_token(ARM_SCOPE)
    assert "AADSTS7000215" in str(err.value)
    assert emu.events(type="token_issued") == []
    assert emu.requests()["token_requests"] >= 1
    assert "not-the-secret" not in emu.log_path.read_text()


def test_missing_or_forged_token_is_401(web):
    forged = jwt.encode({"appid": web.env["AZURE_CLIENT_ID"], "tid": web.env["AZURE_TENANT"],
                         "aud": "https://management.azure.com/", "exp": int(time.time()) + 600}, "k" * 32,
                        algorithm="HS256")
    client = compute_for(web, credential=FixedToken(forged))
    with pytest.raises(ClientAuthenticationError) as err:
        client.virtual_machine_scale_sets.get("rg-demo", "web")
    assert err.value.status_code == 401
    assert err.value.error.code == "InvalidAuthenticationToken"
    assert web.requests()["by_operation"]["VirtualMachineScaleSets_Get"] == 1

    # no Authorization header at all (the SDK always sends one, so a plain HTTPS request)
    url = (f"{web.url}/subscriptions/{web.env['AZURE_SUBSCRIPTION_ID']}/resourceGroups/rg-demo/providers/"
           "Microsoft.Compute/virtualMachineScaleSets/web?api-version=2026-04-01")
    context = ssl.create_default_context(cafile=str(web.ca_path))
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(url, context=context, timeout=10)  # noqa: S310 - the emulator's https URL
    assert missing.value.code == 401
    error = json.loads(missing.value.read())["error"]
    assert error["code"] == "InvalidAuthenticationToken"
    assert error["message"] == "Authentication failed. The 'Authorization' header is missing."


def test_expired_token_is_401_expired(web):
    web.config(token_lifetime=1)
    token = credential_for(web).get_token(ARM_SCOPE).token
    expiry = jwt.decode(token, options={"verify_signature": False})["exp"]
    while time.time() <= expiry:  # wait for the token to expire, not for a duration
        time.sleep(0.1)
    client = compute_for(web, credential=FixedToken(token))
    with pytest.raises(ClientAuthenticationError) as err:
        client.virtual_machine_scale_sets.get("rg-demo", "web")
    assert err.value.error.code == "ExpiredAuthenticationToken"


def test_principal_outside_its_subscriptions_is_403(emu):
    other_sub = "11111111-2222-3333-4444-555555555555"
    scenario = web_scenario()
    scenario["principals"] = [{"tenant": emu.env["AZURE_TENANT"], "client_id": "limited-app",
                               "secret": "limited-secret", "subscriptions": [other_sub]}]
    emu.load_scenario(scenario)
    cred = credential_for(emu, client_id="limited-app", secret="limited-secret")
    client = compute_for(emu, credential=cred)
    with pytest.raises(HttpResponseError) as err:
        client.virtual_machine_scale_sets.get("rg-demo", "web")
    assert err.value.status_code == 403
    assert err.value.error.code == "AuthorizationFailed"
    assert "limited-app" in err.value.error.message
    # the same principal may act on its own subscription (where the resource group does not exist)
    with pytest.raises(HttpResponseError) as err:
        compute_for(emu, credential=cred, subscription=other_sub).virtual_machine_scale_sets.get("rg-demo", "web")
    assert err.value.status_code == 404
    assert err.value.error.code == "ResourceGroupNotFound"
