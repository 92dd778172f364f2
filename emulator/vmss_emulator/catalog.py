"""What ARM serves around the scale sets that clients ask for: subscriptions, VM sizes, the marketplace image
lists, and POST /batch. Read-only, computed from the world; its routes are rows of urls.ROUTES."""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from .app_keys import BASE_URL, DEFAULT_PRINCIPAL, DEFAULT_SUBSCRIPTION, WORLD
from .arm import json_response, read_json
from .exceptions import ArmError

SIZES = [  # name, cores, memory MB, max data disks, resource disk MB
    ("Standard_B1s", 1, 1024, 2, 4096), ("Standard_B2s", 2, 4096, 4, 8192),
    ("Standard_D2s_v3", 2, 8192, 4, 16384), ("Standard_D4s_v3", 4, 16384, 8, 32768),
    ("Standard_D2s_v5", 2, 8192, 4, 0), ("Standard_D4s_v5", 4, 16384, 8, 0),
    ("Standard_F2s_v2", 2, 4096, 4, 16384), ("Standard_E2s_v5", 2, 16384, 4, 0),
]
# publisher -> offer -> sku -> versions (the images the demo and tests use; models add theirs, see _images)
IMAGES = {"Canonical": {"ubuntu-24_04-lts": {"server": ["1.0.0", "2.0.0", "3.0.0"]},
                        "0001-com-ubuntu-server-jammy": {"22_04-lts-gen2": ["1.0.0", "2.0.0"]}},
          "MicrosoftWindowsServer": {"WindowsServer": {"2022-datacenter-azure-edition": ["1.0.0"]}}}


def known_subscriptions(app: web.Application) -> set[str]:
    """The subscriptions that exist: the default one, those principals are given, those holding resources."""
    world = app[WORLD]
    subs = {app[DEFAULT_SUBSCRIPTION].lower()}
    subs.update(s.lower() for p in world.principals for s in p.subscriptions if s != "*")
    subs.update(sub for sub, _rg in world.resource_groups)
    return subs


def subscription_not_found(subscription: str) -> ArmError:
    return ArmError(404, "SubscriptionNotFound", f"The subscription '{subscription}' could not be found.")


def _render_subscription(app: web.Application, subscription: str) -> dict[str, Any]:
    display = "VMSS Emulator" if subscription.lower() == app[DEFAULT_SUBSCRIPTION].lower() else subscription
    return {"id": f"/subscriptions/{subscription}", "authorizationSource": "RoleBased", "managedByTenants": [],
            "subscriptionId": subscription, "tenantId": app[DEFAULT_PRINCIPAL].tenant, "displayName": display,
            "state": "Enabled", "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01",
                                                         "quotaId": "PayAsYouGo_2014-09-01", "spendingLimit": "Off"}}


def _spelled(app: web.Application, subscription: str) -> str:
    """A subscription id as it was first given (paths are case-insensitive, answers keep the original case)."""
    if subscription.lower() == app[DEFAULT_SUBSCRIPTION].lower():
        return app[DEFAULT_SUBSCRIPTION]
    return subscription


async def subscriptions_list(request: web.Request, m: dict[str, str]) -> web.Response:
    principal = request["principal"]
    subs = sorted(s for s in known_subscriptions(request.app) if principal.may_use(s))
    return json_response({"value": [_render_subscription(request.app, _spelled(request.app, s)) for s in subs]})


async def subscription_get(request: web.Request, m: dict[str, str]) -> web.Response:
    return json_response(_render_subscription(request.app, _spelled(request.app, m["sub"])))


async def vm_sizes(request: web.Request, m: dict[str, str]) -> web.Response:
    return json_response({"value": [
        {"name": name, "numberOfCores": cores, "osDiskSizeInMB": 1047552, "resourceDiskSizeInMB": disk,
         "memoryInMB": memory, "maxDataDiskCount": disks} for name, cores, memory, disks, disk in SIZES]})


def _images(request: web.Request) -> dict[str, dict[str, dict[str, set[str]]]]:
    """The catalog plus every concrete platform image a scale set's model names (so `latest` resolves to it)."""
    catalog = {p: {o: {s: set(v) for s, v in skus.items()} for o, skus in offers.items()}
               for p, offers in IMAGES.items()}
    for ss in request.app[WORLD].scale_sets.values():
        ref = ss.image_reference()
        if all(isinstance(ref.get(k), str) for k in ("publisher", "offer", "sku")):
            versions = catalog.setdefault(ref["publisher"], {}).setdefault(ref["offer"], {}).setdefault(ref["sku"],
                                                                                                        set())
            if ref.get("version") and ref["version"].lower() != "latest":
                versions.add(ref["version"])
    return catalog


def _pick(mapping: dict[str, Any], name: str, what: str) -> tuple[str, Any]:
    for key, value in mapping.items():
        if key.lower() == name.lower():
            return key, value
    raise ArmError(404, "NotFound", f"Artifact: VMImage was not found. {what} '{name}' is unknown.")


def _version_key(version: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in version.split("."))


def _image_items(request: web.Request, m: dict[str, str], names: list[str]) -> list[dict[str, Any]]:
    loc = m["loc"]
    base = f"/Subscriptions/{m['sub']}/Providers/Microsoft.Compute/Locations/{loc}/Publishers"
    if "publisher" in m:
        base += f"/{m['publisher']}/ArtifactTypes/VMImage/Offers"
    if "offer" in m:
        base += f"/{m['offer']}/Skus"
    if "sku" in m:
        base += f"/{m['sku']}/Versions"
    return [{"location": loc, "name": n, "id": f"{base}/{n}"} for n in names]


async def image_list(request: web.Request, m: dict[str, str]) -> web.Response:
    """publishers, offers, skus or versions, by how far the path goes (a JSON array, as ARM answers these)."""
    level: Any = _images(request)
    for key, what in (("publisher", "Publisher"), ("offer", "Offer"), ("sku", "Sku")):
        if key in m:
            _name, level = _pick(level, m[key], what)
    names = sorted(level, key=_version_key) if isinstance(level, set) else sorted(level, key=str.lower)
    return json_response(_image_items(request, m, names))


async def image_get(request: web.Request, m: dict[str, str]) -> web.Response:
    level: Any = _images(request)
    for key, what in (("publisher", "Publisher"), ("offer", "Offer"), ("sku", "Sku")):
        _name, level = _pick(level, m[key], what)
    version = m["version"]
    if version.lower() == "latest" and level:
        version = max(level, key=_version_key)
    if version not in level:
        raise ArmError(404, "NotFound", f"Artifact: VMImage was not found. Version '{m['version']}' is unknown.")
    os_type = "Windows" if "windows" in m["publisher"].lower() else "Linux"
    item = _image_items(request, {**m, "version": version}, [version])[0]
    item["properties"] = {"osDiskImage": {"operatingSystem": os_type}, "dataDiskImages": [],
                          "hyperVGeneration": "V2", "architecture": "x64", "automaticOSUpgradeProperties":
                          {"automaticOSUpgradeSupported": True}, "imageDeprecationStatus": {"imageState": "Active"}}
    return json_response(item)


async def batch(request: web.Request, m: dict[str, str]) -> web.Response:
    """ARM's POST /batch: each request is sent to this emulator with the caller's token; answers in order."""
    body = await read_json(request)
    requests = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(requests, list) or not all(isinstance(r, dict) for r in requests):
        raise ArmError(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized: "
                       "'requests' must be a list of objects.")
    if len(requests) > 20:
        raise ArmError(400, "BatchRequestTooLarge", "The batch request contains more than 20 requests.")
    base = request.app[BASE_URL]
    headers = {"Authorization": request.headers.get("Authorization", "")}
    responses = []
    # the emulator calls itself on loopback: its certificate is its own, so there is nothing to verify
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as session:
        for index, item in enumerate(requests):
            method = str(item.get("httpMethod") or "GET").upper()
            url = str(item.get("url") or "")
            parts = urlsplit(url)
            target = f"{base}{parts.path}" + (f"?{parts.query}" if parts.query else "")
            content = item.get("content")
            async with session.request(method, target, headers=headers,
                                       json=content if content is not None else None) as answer:
                text = await answer.text()
                try:
                    parsed = json.loads(text) if text else None
                except ValueError:
                    parsed = text
                responses.append({"name": item.get("name", str(index)), "httpStatusCode": answer.status,
                                  "headers": {k: v for k, v in answer.headers.items()
                                              if k.lower().startswith("x-ms-") or k.lower() in
                                              ("location", "azure-asyncoperation", "retry-after", "etag")},
                                  "content": parsed, "contentLength": len(text)})
    return json_response({"responses": responses})
