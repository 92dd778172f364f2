"""Sign-in: OpenID discovery, the token endpoint (client credentials, and the password grant for users), user realm
discovery, cloud metadata, and ARM token checks.

A user (username/password sign-in, azure-identity's UsernamePasswordCredential) is a principal whose client_id is its
user name (UPN) and whose secret is its password: its tokens carry the UPN as appid, so ARM checks it like any other.

Tokens are RS256 JWTs signed with a key generated when the emulator starts, so a token from another emulator
(or a hand-made one) is rejected. Client secrets and tokens are never logged or put in events.
"""
from __future__ import annotations

import base64
import hmac
import json
import math
import time
import uuid
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from .app_keys import BASE_URL, EVENTS, FAULTS, TOKENS, WORLD
from .arm import json_response
from .exceptions import ArmError
from .catalog import known_subscriptions, subscription_not_found
from .state import Principal

METADATA_OBJECT_SINCE = "2022-09-01"
ARM_AUDIENCES = ("https://management.core.windows.net/", "https://management.azure.com/")


class TokenIssuer:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._public = self._key.public_key()
        self.key_id = uuid.uuid4().hex
        self._verified: dict[str, dict[str, Any]] = {}  # token -> claims; saves an RSA verify per request

    def audiences(self) -> set[str]:
        known = {a.rstrip("/") for a in ARM_AUDIENCES}
        known.add(self.base_url.rstrip("/"))
        return known

    def issue(self, principal: Principal, audience: str, lifetime: int) -> str:
        # iat rounded up so that exp - iat is the advertised expires_in and the token lives at least
        # that long (truncating made a one-second token issued late in a second expire within ms)
        issued_at = math.ceil(time.time())
        claims = {
            "aud": audience, "iss": f"{self.base_url}/{principal.tenant}/", "iat": issued_at,
            "nbf": issued_at - 5, "exp": issued_at + lifetime, "appid": principal.client_id, "tid": principal.tenant,
            "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, principal.client_id)), "sub": principal.client_id,
            "ver": "1.0", "jti": uuid.uuid4().hex,
        }
        return self.sign(claims)

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.key_id})

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or ArmError 401 (InvalidAuthenticationToken / ExpiredAuthenticationToken)."""
        claims = self._verified.get(token)
        if claims is None:
            try:
                # iat may lie up to a second ahead (issue() rounds it up); expiry is checked below
                claims = jwt.decode(token, self._public, algorithms=["RS256"],
                                    options={"verify_aud": False, "verify_exp": False, "verify_iat": False,
                                             "require": ["exp", "aud", "appid", "tid"]})
            except jwt.PyJWTError:
                raise unauthorized("InvalidAuthenticationToken", "The access token is invalid.") from None
            if str(claims["aud"]).rstrip("/") not in self.audiences():
                raise unauthorized("InvalidAuthenticationToken",
                                   "The access token has been obtained for wrong audience or resource "
                                   f"'{claims['aud']}'. It should exactly match with one of the allowed audiences "
                                   f"{', '.join(sorted(self.audiences()))}.")
            if len(self._verified) > 2000:
                self._verified.clear()
            self._verified[token] = claims
        now = time.time()
        if claims["exp"] <= now:
            raise unauthorized("ExpiredAuthenticationToken",
                               f"The access token expiry UTC time '{_utc(claims['exp'])}' is earlier than current "
                               f"UTC time '{_utc(now)}'.")
        return claims

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._public))
        jwk.update({"kid": self.key_id, "use": "sig", "alg": "RS256"})
        return {"keys": [jwk]}


def _utc(ts: float) -> str:
    return time.strftime("%m/%d/%Y %H:%M:%S", time.gmtime(ts))


def unauthorized(code: str, message: str) -> ArmError:
    return ArmError(401, code, message)


def find_principal(principals: list[Principal], client_id: str) -> Principal | None:
    return next((p for p in principals if p.client_id.lower() == client_id.lower()), None)


def authenticate(request: web.Request, subscription: str | None, action: str) -> dict[str, Any]:
    """Check the bearer token of an ARM request and the principal's right to the subscription."""
    header = request.headers.get("Authorization", "")
    if not header:
        raise unauthorized("InvalidAuthenticationToken",
                           "Authentication failed. The 'Authorization' header is missing.")
    scheme, _sep, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("InvalidAuthenticationToken",
                           "Authentication failed. The 'Authorization' header is provided in an invalid format.")
    claims = request.app[TOKENS].verify(token.strip())
    principal = find_principal(request.app[WORLD].principals, claims["appid"])
    if principal is None or principal.tenant.lower() != str(claims["tid"]).lower():
        raise unauthorized("InvalidAuthenticationToken", "The access token is invalid: the client is unknown.")
    request["principal"] = principal
    if subscription and subscription.lower() not in known_subscriptions(request.app):
        raise subscription_not_found(subscription)
    if subscription and not principal.may_use(subscription):
        scope = request.path.split("/providers/")[0] if "/providers/" in request.path else request.path
        raise ArmError(403, "AuthorizationFailed",
                       f"The client '{principal.client_id}' with object id '{claims.get('oid')}' does not have "
                       f"authorization to perform action '{action}' over scope '{scope}' or the scope is invalid. "
                       "If access was recently granted, please refresh your credentials.")
    return claims


# ---------------------------------------------------------------- routes: discovery, token, cloud metadata


def _aad_error(status: int, error: str, code: int, description: str) -> web.Response:
    trace = str(uuid.uuid4())
    text = (f"AADSTS{code}: {description} Trace ID: {trace} Correlation ID: {uuid.uuid4()} "
            f"Timestamp: {time.strftime('%Y-%m-%d %H:%M:%SZ', time.gmtime())}")
    return json_response({"error": error, "error_description": text, "error_codes": [code],
                          "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()), "trace_id": trace,
                          "correlation_id": str(uuid.uuid4())}, status=status)


async def openid_configuration(request: web.Request, groups: dict[str, str]) -> web.Response:
    base = request.app[BASE_URL]
    tenant = groups["tenant"]
    return json_response({
        "issuer": f"{base}/{tenant}/v2.0",
        "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
        "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
        "device_authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/devicecode",
        "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "tenant_region_scope": "EU",
    })


async def jwks(request: web.Request, groups: dict[str, str]) -> web.Response:
    return json_response(request.app[TOKENS].jwks())


async def token(request: web.Request, groups: dict[str, str]) -> web.Response:
    tenant = groups["tenant"]
    form = await request.post()
    if form.get("grant_type") == "password":
        return _password_grant(request, tenant, form)
    if form.get("grant_type") != "client_credentials":
        return _aad_error(400, "unsupported_grant_type", 70003,
                          "The app requested an unsupported grant type; this emulator supports client_credentials "
                          "and password.")
    client_id = str(form.get("client_id") or "")
    secret = str(form.get("client_secret") or "")
    if not client_id:
        return _aad_error(400, "invalid_request", 900144, "The request body must contain the parameter: 'client_id'.")
    principal = find_principal(request.app[WORLD].principals, client_id)
    if principal is None:
        return _aad_error(400, "unauthorized_client", 700016,
                          f"Application with identifier '{client_id}' was not found in the directory '{tenant}'.")
    if principal.tenant.lower() != tenant.lower():
        return _aad_error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
    if not secret or not hmac.compare_digest(secret.encode(), principal.secret.encode()):
        return _aad_error(401, "invalid_client", 7000215,
                          "Invalid client secret provided. Ensure the secret being sent in the request is the client "
                          f"secret value, not the client secret ID, for a secret added to app '{client_id}'.")
    scopes = str(form.get("scope") or "").split()
    resource = next((s for s in scopes if s.endswith("/.default")), "")
    audience = resource[: -len(".default")] if resource else ARM_AUDIENCES[0]
    default = request.app[WORLD].settings.token_lifetime
    lifetime = int(request.app[FAULTS].token_lifetime(default))
    access_token = request.app[TOKENS].issue(principal, audience, lifetime)
    request.app[EVENTS].append("token_issued", client_id=principal.client_id, expires_in=lifetime)
    return json_response({"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
                          "access_token": access_token})


# Tenants a public client may sign a user in through without naming the user's own.
_MULTI_TENANT = ("organizations", "common")


def _password_grant(request: web.Request, tenant: str, form: Any) -> web.Response:
    """The OAuth2 resource-owner password grant (ROPC): a public client signs a user in with name and password."""
    for key in ("client_id", "username", "password"):
        if not form.get(key):
            return _aad_error(400, "invalid_request", 900144, f"The request body must contain the parameter: '{key}'.")
    client_id, username = str(form["client_id"]), str(form["username"])
    user = find_principal(request.app[WORLD].principals, username)
    if user is None or (tenant.lower() not in _MULTI_TENANT and user.tenant.lower() != tenant.lower()):
        return _aad_error(400, "invalid_grant", 50034,
                          f"The user account {username} does not exist in the {tenant} directory. To sign into this "
                          "application, the account must be added to the directory.")
    if not hmac.compare_digest(str(form["password"]).encode(), user.secret.encode()):
        return _aad_error(400, "invalid_grant", 50126,
                          "Error validating credentials due to invalid username or password.")
    scopes = str(form.get("scope") or "").split()
    resource = next((s for s in scopes if s.endswith("/.default")), "")
    audience = resource[: -len(".default")] if resource else ARM_AUDIENCES[0]
    lifetime = int(request.app[FAULTS].token_lifetime(request.app[WORLD].settings.token_lifetime))
    tokens = request.app[TOKENS]
    object_id = str(uuid.uuid5(uuid.NAMESPACE_URL, user.client_id))
    issued_at = math.ceil(time.time())
    # the id token names the user for the client (azure-identity builds its AuthenticationRecord from it)
    id_token = tokens.sign({"aud": client_id, "iss": f"{request.app[BASE_URL]}/{user.tenant}/v2.0",
                            "iat": issued_at, "nbf": issued_at - 5, "exp": issued_at + lifetime, "sub": object_id,
                            "oid": object_id, "tid": user.tenant, "preferred_username": user.client_id,
                            "name": user.client_id, "ver": "2.0"})
    client_info = base64.urlsafe_b64encode(json.dumps({"uid": object_id, "utid": user.tenant}).encode()).decode()
    request.app[EVENTS].append("token_issued", client_id=user.client_id, expires_in=lifetime)
    return json_response({"token_type": "Bearer", "scope": " ".join(scopes), "expires_in": lifetime,
                          "ext_expires_in": lifetime, "access_token": tokens.issue(user, audience, lifetime),
                          "id_token": id_token, "client_info": client_info.rstrip("=")})


async def user_realm(request: web.Request, groups: dict[str, str]) -> web.Response:
    """Home realm discovery (MSAL asks before a password sign-in): every user here is a cloud-only (Managed) one."""
    username = groups["username"]
    known = find_principal(request.app[WORLD].principals, username) is not None
    return json_response({"ver": "1.0", "account_type": "Managed" if known else "Unknown",
                          "domain_name": username.rpartition("@")[2],
                          "cloud_instance_name": "microsoftonline.com",
                          "cloud_audience_urn": "urn:federation:MicrosoftOnline"})


async def cloud_metadata(request: web.Request, groups: dict[str, str]) -> web.Response:
    base = request.app[BASE_URL]
    cloud = {
        "name": "VmssEmulator",
        "portal": base,
        "resourceManager": f"{base}/",
        "authentication": {"loginEndpoint": base, "audiences": list(ARM_AUDIENCES), "tenant": "common",
                           "identityProvider": "AAD"},
        "suffixes": {"storage": "core.windows.net", "keyVaultDns": "vault.azure.net",
                     "acrLoginServer": "azurecr.io", "sqlServerHostname": "database.windows.net"},
        "graph": f"{base}/", "graphAudience": f"{base}/", "microsoftGraphResourceId": f"{base}/",
        "media": f"{base}/", "batch": f"{base}/", "sqlManagement": f"{base}/",
        "vmImageAliasDoc": "", "activeDirectoryDataLake": f"{base}/", "appInsightsResourceId": f"{base}/",
        "appInsightsTelemetryChannelResourceId": f"{base}/", "attestationResourceId": f"{base}/",
        "synapseAnalyticsResourceId": f"{base}/", "logAnalyticsResourceId": f"{base}/",
        "ossrDbmsResourceId": f"{base}/",
    }
    # api-version 2022-09-01 and later answer the one cloud as an object (what `az cloud register` reads); older
    # versions, and a request without one, a list of clouds
    version = request.query.get("api-version", "")
    return json_response(cloud if version >= METADATA_OBJECT_SINCE else [cloud])
