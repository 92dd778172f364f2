"""The tiny application every instance runs: a minimal HTTP/1.1 server on the instance's loopback address.

It is an ``asyncio.Protocol`` rather than aiohttp or streams because a 1000-instance scale set means 1000 of
these in one process: an idle listener costs one socket and a small Server object. Each connection carries one
request and is closed after the answer (``Connection: close``), which is all the probes, the load balancer and the
tests need.
"""
from __future__ import annotations

import asyncio
import json
import socket
from typing import Callable

from .addresses import bind_socket

MAX_HEAD = 16 * 1024
MAX_BODY = 1024 * 1024

# (method, path) -> (status, JSON body)
Handler = Callable[[str, str], "tuple[int, dict]"]

REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 413: "Payload Too Large",
           500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


def http_response(status: int, body: dict) -> bytes:
    payload = json.dumps(body).encode()
    head = (f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\nConnection: close\r\n\r\n")
    return head.encode() + payload


def parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    """Request line and headers (names lower-cased); raises ValueError on garbage."""
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if line:
            name, _sep, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return method.upper(), target, headers


class _AppProtocol(asyncio.Protocol):
    def __init__(self, server: AppServer) -> None:
        self._server = server
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._server.connections.add(transport)  # type: ignore[arg-type]

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.connections.discard(self._transport)  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > MAX_HEAD:
                self._answer(400, {"error": "request head too large"})
            return
        try:
            method, target, headers = parse_head(self._buffer[:end])
            length = int(headers.get("content-length") or 0)
        except ValueError:
            self._answer(400, {"error": "malformed request"})
            return
        if length > MAX_BODY:
            self._answer(413, {"error": "body too large"})
            return
        if len(self._buffer) < end + 4 + length:
            return   # wait for the rest of the body (ignored, but read so the client is not reset)
        path = target.split("?", 1)[0]
        self._answer(*self._server.handler(method, path))

    def _answer(self, status: int, body: dict) -> None:
        assert self._transport is not None
        self._transport.write(http_response(status, body))
        self._transport.close()
        self._buffer = b""


class AppServer:
    """One instance's app. Holds its address for the instance's whole life: listening while the instance runs, a
    bound but silent socket (connection refused) while it is stopped or being upgraded."""

    def __init__(self, ip: str, port: int, sock: socket.socket | None, handler: Handler) -> None:
        self.ip = ip
        self.port = port
        self.handler = handler
        self.connections: set[asyncio.Transport] = set()
        self._reserved: socket.socket | None = sock
        self._server: asyncio.base_events.Server | None = None

    @property
    def listening(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        if self._server is not None:
            return
        sock = self._reserved or bind_socket(self.ip, self.port)
        self._reserved = None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _AppProtocol(self), sock=sock, backlog=128)

    def stop(self) -> None:
        """Stop listening and cut open connections, as a VM going down does; keep the address reserved."""
        if self._server is None:
            return
        self._server.close()
        self._server = None
        for transport in list(self.connections):
            transport.abort()
        self.connections.clear()
        try:
            self._reserved = bind_socket(self.ip, self.port)
        except OSError:
            self._reserved = None   # start() binds again (and reports the error) when the instance comes back

    def close(self) -> None:
        """The instance is gone: release the address too."""
        self.stop()
        if self._reserved is not None:
            self._reserved.close()
            self._reserved = None
