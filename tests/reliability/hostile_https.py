"""Tiny hostile servers on loopback for the credential tests: HTTPS (a trustme CA of the test's own) or plain HTTP.

Each server records every request it receives (method, path, headers, body), so a test can prove that nothing,
no token and no client secret, ever reached it. ``answer(handler)`` decides the reply (status, headers, JSON or
bytes; None drops the connection). By default a server plays a sign-in service (OpenID discovery and a
client-credentials token endpoint) and answers ARM-style 404s otherwise, so a client that trusted it would go all
the way to sending it the secret and the bearer token.
"""
from __future__ import annotations

import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HOSTILE_TOKEN = "hostile-token-0123456789"


class Recorded:
    def __init__(self, method: str, path: str, headers: dict, body: bytes):
        self.method, self.path, self.headers, self.body = method, path, headers, body

    def __repr__(self):
        return f"{self.method} {self.path}"


class HostileServer:
    """A threaded HTTP(S) server on 127.0.0.1; ``base`` is its URL under the host name given."""

    def __init__(self, ca=None, host_name: str = "127.0.0.1", answer=None):
        self.requests: list[Recorded] = []
        self.answer = answer or self.sign_in_service
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.requests.append(Recorded(self.command, self.path, dict(self.headers), body))
                reply = server.answer(self)
                if reply is None:   # drop the connection without an answer
                    self.close_connection = True
                    return
                status, headers, payload = reply
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        scheme = "http"
        if ca is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.base = f"{scheme}://{host_name}:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def sign_in_service(self, handler):
        """Plays Microsoft Entra sign-in (so a client would post its secret here) and 404s everything else."""
        path = handler.path.split("?")[0]
        if path.endswith("/.well-known/openid-configuration"):
            tenant = path.strip("/").split("/")[0]
            return 200, {}, {
                "issuer": f"{self.base}/{tenant}/v2.0", "token_endpoint": f"{self.base}/{tenant}/oauth2/v2.0/token",
                "authorization_endpoint": f"{self.base}/{tenant}/oauth2/v2.0/authorize",
                "jwks_uri": f"{self.base}/{tenant}/discovery/v2.0/keys",
                "response_types_supported": ["code"], "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"]}
        if path.endswith("/token"):
            return 200, {}, {"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600,
                             "access_token": HOSTILE_TOKEN}
        return 404, {}, {"error": {"code": "NotFound", "message": "hostile server"}}

    def secrets_seen(self, *needles: str) -> list[str]:
        """Requests that carried a bearer token or any of ``needles`` (a client secret, say)."""
        seen = []
        for request in self.requests:
            text = json.dumps(request.headers) + request.body.decode(errors="replace") + request.path
            if "bearer" in text.lower() or any(n and n in text for n in needles):
                seen.append(repr(request))
        return seen


def write_bundle(path: Path, *pems: str | bytes | Path) -> Path:
    """One CA bundle file of several PEMs (file paths or PEM text)."""
    parts = []
    for pem in pems:
        if isinstance(pem, Path):
            pem = pem.read_text()
        parts.append(pem.decode() if isinstance(pem, bytes) else pem)
    path.write_text("\n".join(parts))
    return path
