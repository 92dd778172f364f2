"""ARM wire helpers: JSON responses, request bodies, paging links, timestamps."""
from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from aiohttp import web

from .exceptions import ArmError

ARM_NOT_FOUND_HINT = "For more details please go to https://aka.ms/ARMResourceNotFoundFix"
CONFLICT_MESSAGE = (
    "The request failed due to conflict with a concurrent request. To resolve it, please refer to "
    "https://aka.ms/activitylog to get more details on the conflicting requests."
)


def invalid(message: str, target: str | None = None) -> ArmError:
    return ArmError(400, "InvalidParameter", message, target=target)


def bad_request(message: str, innererror: dict[str, Any] | None = None) -> ArmError:
    return ArmError(400, "BadRequest", message, innererror=innererror)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=json.dumps(data, separators=(",", ":")).encode(), status=status,
                        content_type="application/json", charset="utf-8", headers=headers)


def now_iso(ts: float | None = None) -> str:
    moment = datetime.fromtimestamp(ts, timezone.utc) if ts is not None else datetime.now(timezone.utc)
    return moment.isoformat(timespec="microseconds")


async def read_json(request: web.Request, required: bool = True) -> Any:
    """The request body as JSON; a clear 400 for a missing, malformed or non-UTF-8 body."""
    raw = await request.read()
    if not raw.strip():
        if required:
            raise ArmError(400, "InvalidRequestContent", "The request content was invalid and could not be "
                           "deserialized: the request body is empty.")
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ArmError(400, "InvalidRequestContent", "The request content was invalid and could not be "
                       f"deserialized: {exc}.") from None


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return {dict: "an object", list: "an array", str: "a string"}.get(type(value), type(value).__name__)


def expect_type(value: Any, kind: type | tuple[type, ...], target: str, what: str, null_ok: bool = True) -> Any:
    """400 InvalidParameter naming the property when `value` is not of the JSON type expected.

    The message names the JSON type received, never the value: it may be a secret (protectedSettings).
    """
    if value is None and null_ok:
        return value
    ok = isinstance(value, kind) and not (isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple)
                                                                                   else (kind,)))
    if not ok:
        raise invalid(f"The value of parameter '{target}' is invalid: expected {what}, got {json_type(value)}.",
                      target=target)
    return value


def encode_skiptoken(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def decode_skiptoken(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        kind, _sep, value = text.partition(":")
        offset = int(value)
        if kind != "o" or offset < 0:
            raise ValueError
        return offset
    except (ValueError, UnicodeDecodeError):
        raise ArmError(400, "InvalidParameter", "The request URL is not valid.", target="$skiptoken") from None


def page(request: web.Request, base_url: str, items: list[Any], page_size: int,
         render: Callable[[Any], Any] | None = None) -> dict[str, Any]:
    """One page of a list; nextLink is absolute and keeps every original query parameter (the SDK GETs it as is).

    Only the page's items are rendered, so listing 1000 instances 100 at a time stays cheap.
    """
    token = request.query.get("$skiptoken")
    offset = decode_skiptoken(token) if token else 0
    end = offset + page_size
    chunk = items[offset:end]
    body: dict[str, Any] = {"value": [render(i) for i in chunk] if render else chunk}
    if end < len(items):
        query = [(k, v) for k, v in request.query.items() if k != "$skiptoken"]
        query.append(("$skiptoken", encode_skiptoken(end)))
        encoded = "&".join(f"{quote(k, safe='$')}={quote(v, safe='')}" for k, v in query)
        body["nextLink"] = f"{base_url}{request.path}?{encoded}"
    return body
