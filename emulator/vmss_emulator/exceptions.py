"""The emulator's one error type and the one place it is rendered: Azure's envelope
{"error": {code, message, target?, details?, innererror?}}.

Backends raise it without knowing about HTTP; the dispatcher (server.py) turns it into a response with response(),
for ARM and the admin API alike. AdminError only picks the plain code the admin API (/_emulator/...) uses.
"""
from __future__ import annotations

import json
from typing import Any

from aiohttp import web

ADMIN_CODES = {400: "BadRequest", 403: "Forbidden", 404: "NotFound", 409: "Conflict"}


class ArmError(Exception):
    """An error answer: HTTP status plus Azure's error object."""

    def __init__(self, status: int, code: str, message: str, target: str | None = None,
                 details: list[dict[str, Any]] | None = None, innererror: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.target = target
        self.details = details
        self.innererror = innererror

    def error(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target:
            err["target"] = self.target
        if self.details:
            err["details"] = self.details
        if self.innererror:
            err["innererror"] = self.innererror
        return err

    def response(self) -> web.Response:
        return web.Response(body=json.dumps({"error": self.error()}, separators=(",", ":")).encode(),
                            status=self.status, content_type="application/json", charset="utf-8")


class AdminError(ArmError):
    """An error of the admin API: the same envelope, a plain code chosen by status, one sentence."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, ADMIN_CODES.get(status, "BadRequest"), message)
