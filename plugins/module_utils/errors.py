# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Domain errors of the collection and the one place azure-core errors become a sentence.

No SDK import here: azure-core exceptions are read by attribute (duck typing), so this file loads
without the Azure SDK (ansible-test sanity import) and in the inventory plugin.
"""

from __future__ import annotations

__metaclass__ = type


class VmssError(Exception):
    """Something the user must read: one sentence, plus the ARM code, HTTP status and request id."""

    def __init__(self, msg, code=None, request_id=None, status=None):
        super().__init__(msg)
        self.msg = msg
        self.code = code
        self.request_id = request_id
        self.status = status

    def __str__(self):
        return self.msg

    def as_result(self):
        """Extra keys for fail_json so roles can branch on the code without parsing text."""
        return {"error_code": self.code, "request_id": self.request_id, "status_code": self.status}


class VmssTimeout(VmssError):
    """A bounded wait ran out (wait_timeout / health_timeout)."""


class VmssNotStarted(VmssError):
    """A long-running call Azure never answered with an operation (refused, or the connection failed first)."""


class VmssConflict(VmssError):
    """ARM answered 412: the scale set changed between our read and our write (etag mismatch)."""


def _header(response, name):
    headers = getattr(response, "headers", None) or {}
    try:
        return headers.get(name)
    except AttributeError:
        return None


def _first_line(text):
    text = (text or "").strip()
    return text.splitlines()[0].strip() if text else ""


def _error_parts(exc):
    """(code, message) from an azure-core HttpResponseError or OperationFailed, else from its text."""
    odata = getattr(exc, "error", None)
    code = getattr(odata, "code", None)
    message = getattr(odata, "message", None)
    if not code:
        code = getattr(exc, "error_code", None) or None
    if not message:
        # azure-core formats "(Code) Message\nCode: ...\nMessage: ..."; the first line is enough.
        message = _first_line(getattr(exc, "message", None) or str(exc))
        if code and message.startswith("(%s) " % code):
            message = message[len(code) + 3:]
    return code, message


def from_azure_error(exc, action):
    """Turn any exception raised while talking to Azure into a VmssError with one clear sentence.

    ``action`` says what we were doing ("read scale set rg/web"). The sentence is
    "Could not <action>: <ARM code>: <message> (HTTP <status>, request id <id>)".
    """
    if isinstance(exc, VmssError):
        return exc
    response = getattr(exc, "response", None)
    status = getattr(exc, "status_code", None) or getattr(response, "status_code", None)
    request_id = _header(response, "x-ms-request-id") or _header(response, "x-ms-correlation-request-id")
    code, message = _error_parts(exc)
    kind = type(exc).__name__
    if response is None and kind in ("ServiceRequestError", "ServiceRequestTimeoutError", "ServiceResponseError"):
        code = code or kind
        message = "cannot reach the endpoint: %s" % (message or kind)
    elif kind == "ClientAuthenticationError" or kind.endswith("CredentialUnavailableError"):
        code = code or "AuthenticationFailed"
        message = "sign-in failed: %s" % (message or kind)
    details = []
    if status:
        details.append("HTTP %s" % status)
    if request_id:
        details.append("request id %s" % request_id)
    text = "Could not %s: %s%s" % (action, "%s: " % code if code else "", message or kind)
    if details:
        text += " (%s)" % ", ".join(details)
    cls = VmssConflict if status == 412 else VmssError
    return cls(text, code=code, request_id=request_id, status=status)
