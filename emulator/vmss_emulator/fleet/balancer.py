"""A load balancer per scale set: an HTTP frontend on 127.0.0.1, health probes, round robin, no retries.

Like Azure Load Balancer, it only learns that an instance went away from its probes: between an instance going
down and the next probe, requests sent to it fail (502). Draining an instance first (``POST /drain`` on its app)
makes the probe take it out of rotation before it goes down, so nothing fails.
"""
from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from dataclasses import dataclass
from typing import Callable

from .app import MAX_BODY, MAX_HEAD, http_response, parse_head


@dataclass
class Backend:
    instance_id: str
    ip: str
    port: int


HOP_HEADERS = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}
PROBE_CHUNK = 100
UPSTREAM_TIMEOUT = 10.0
MAX_PROBES_PER_SECOND = 500
# A probe that times out says nothing definite (on a busy machine every probe of a round can time out at once);
# only this many timeouts in a row take an instance out. A refusal or a non-200 answer takes it out at once.
TIMEOUTS_BEFORE_OUT = 2
PROBE_TIMED_OUT = -1


class _StatusProtocol(asyncio.Protocol):
    """Reads just the status code of an HTTP answer (cheaper than streams: 1000 instances are probed often)."""

    def __init__(self, request: bytes, done: asyncio.Future) -> None:
        self._request = request
        self._done = done
        self._buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(self._request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if b"\r\n" in self._buffer and not self._done.done():
            try:
                self._done.set_result(int(self._buffer.split(b" ", 2)[1]))
            except (ValueError, IndexError):
                self._done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._done.done():
            self._done.set_result(None)


async def http_get_status(ip: str, port: int, path: str, timeout: float, timed_out: int | None = None) -> int | None:
    """Status code of GET path, or None when nothing answers (refused, reset); `timed_out` on a timeout."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future = loop.create_future()
    request = f"GET {path} HTTP/1.1\r\nHost: {ip}:{port}\r\nConnection: close\r\n\r\n".encode()
    transport = None
    try:
        async with asyncio.timeout(timeout):
            transport, _protocol = await loop.create_connection(lambda: _StatusProtocol(request, done), ip, port)
            return await done
    except asyncio.TimeoutError:
        return timed_out
    except OSError:
        return None
    finally:
        if transport is not None:
            transport.close()


class LoadBalancer:
    def __init__(self, name: str, backends: Callable[[], list[Backend]], probe_interval: Callable[[], float],
                 on_rotation: Callable[[str, bool], None], frontend_port: int = 0, traffic_rps: float = 0) -> None:
        self.name = name
        self._backends = backends
        self._probe_interval = probe_interval
        self._on_rotation = on_rotation
        self._requested_port = frontend_port
        self.traffic_rps = traffic_rps
        self.port: int | None = None
        self.in_rotation: dict[str, Backend] = {}
        self.served = 0
        self.failed = 0
        self.failed_by_instance: Counter[str] = Counter()
        self._rr = 0
        self._timeouts: Counter[str] = Counter()   # consecutive probe timeouts per instance
        self._server: asyncio.base_events.Server | None = None
        self._tasks: list[asyncio.Task] = []
        self._traffic_slots = asyncio.Semaphore(64)
        self.probed = asyncio.Event()   # set once every backend has been probed at least once
        self._wake = asyncio.Event()

    @property
    def frontend(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def availability(self) -> dict:
        return {"served": self.served, "failed": self.failed, "frontend": self.frontend,
                "failed_by_instance": dict(self.failed_by_instance), "in_rotation": sorted(self.in_rotation, key=_id_key)}

    def reset_availability(self) -> None:
        self.served = 0
        self.failed = 0
        self.failed_by_instance.clear()

    async def start(self) -> None:
        await self.move_frontend(self._requested_port)
        self._tasks.append(asyncio.create_task(self._probe_loop(), name=f"lb-probe-{self.name}"))
        self._tasks.append(asyncio.create_task(self._traffic_loop(), name=f"lb-traffic-{self.name}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._server is not None:
            self._server.close()
            self._server = None

    # ---- probes --------------------------------------------------------------------------------------------
    def effective_probe_interval(self, backends: int) -> float:
        """The configured interval, stretched for very large sets so probing stays under MAX_PROBES_PER_SECOND
        (each probe is a real TCP connection; 1000 instances every 0.5 s would take most of a core)."""
        return max(self._probe_interval(), backends / MAX_PROBES_PER_SECOND)

    async def probe_once(self) -> None:
        """Probe every backend once (GET /health; 200 = in rotation) and apply the result."""
        backends = self._backends()
        timeout = max(0.5, min(2.0, 2 * self._probe_interval()))
        results: list[int | None] = []
        for start in range(0, len(backends), PROBE_CHUNK):   # chunks keep the event loop responsive for ARM
            chunk = backends[start:start + PROBE_CHUNK]
            results += await asyncio.gather(*(self._probe(b, timeout) for b in chunk))
        known = set()
        for backend, status in zip(backends, results):
            known.add(backend.instance_id)
            if status == PROBE_TIMED_OUT:
                self._timeouts[backend.instance_id] += 1
                if self._timeouts[backend.instance_id] < TIMEOUTS_BEFORE_OUT:
                    continue
            else:
                self._timeouts.pop(backend.instance_id, None)
            self._set_rotation(backend, status == 200)
        for gone in [i for i in self.in_rotation if i not in known]:
            self._set_rotation(Backend(gone, "", 0), False)
            self._timeouts.pop(gone, None)
        self.probed.set()

    @staticmethod
    async def _probe(backend: Backend, timeout: float) -> int | None:
        return await http_get_status(backend.ip, backend.port, "/health", timeout, timed_out=PROBE_TIMED_OUT)

    def _set_rotation(self, backend: Backend, healthy: bool) -> None:
        was = backend.instance_id in self.in_rotation
        if healthy:
            self.in_rotation[backend.instance_id] = backend
        else:
            self.in_rotation.pop(backend.instance_id, None)
        if healthy != was:
            self._on_rotation(backend.instance_id, healthy)

    async def _probe_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await self.probe_once()
            interval = self.effective_probe_interval(len(self._backends()))
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):   # woken early when the settings change
                await asyncio.wait_for(self._wake.wait(), max(0.01, interval - (loop.time() - started)))

    def settings_changed(self) -> None:
        self._wake.set()

    async def move_frontend(self, port: int) -> None:
        """Listen on another frontend port (0 = a free one); raises OSError when it is taken."""
        server = await asyncio.start_server(self._handle, "127.0.0.1", port, limit=MAX_HEAD + MAX_BODY)
        if self._server is not None:
            self._server.close()
        self._server = server
        self.port = server.sockets[0].getsockname()[1]

    # ---- forwarding ----------------------------------------------------------------------------------------
    def _next_backend(self) -> Backend | None:
        if not self.in_rotation:
            return None
        ids = sorted(self.in_rotation, key=_id_key)
        self._rr += 1
        return self.in_rotation[ids[self._rr % len(ids)]]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
                method, target, headers = parse_head(head[:-4])
                body = await reader.readexactly(int(headers.get("content-length") or 0))
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                writer.write(http_response(400, {"error": "malformed request"}))
                return
            writer.write(await self._forward(method, target, headers, body))
            await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass   # the client went away, or the load balancer is stopping: nothing to answer
        finally:
            writer.close()

    async def _forward(self, method: str, target: str, headers: dict[str, str], body: bytes) -> bytes:
        backend = self._next_backend()
        if backend is None:
            self.failed += 1
            return http_response(503, {"error": "no instance in rotation", "load_balancer": self.name})
        lines = [f"{method} {target} HTTP/1.1"]
        lines += [f"{k}: {v}" for k, v in headers.items() if k not in HOP_HEADERS and k != "content-length"]
        lines += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
        try:
            async with asyncio.timeout(UPSTREAM_TIMEOUT):
                upstream_reader, upstream_writer = await asyncio.open_connection(backend.ip, backend.port)
                try:
                    upstream_writer.write("\r\n".join(lines).encode("latin-1") + body)
                    answer = await upstream_reader.read()
                finally:
                    upstream_writer.close()
            status = int(answer.split(b" ", 2)[1]) if answer else 0
        except (OSError, asyncio.TimeoutError, ValueError, IndexError):
            status, answer = 0, b""
        if status == 0:
            self.failed += 1
            self.failed_by_instance[backend.instance_id] += 1
            return http_response(502, {"error": "the instance did not answer", "instance_id": backend.instance_id})
        if status >= 500:
            self.failed += 1
            self.failed_by_instance[backend.instance_id] += 1
        else:
            self.served += 1
        return answer

    # ---- built-in traffic ----------------------------------------------------------------------------------
    async def _traffic_loop(self) -> None:
        """Send traffic_rps requests a second through the frontend, so availability can be measured."""
        loop = asyncio.get_running_loop()
        await self.probed.wait()   # no traffic before the first probe round: an empty rotation is not an outage
        next_at = loop.time()
        pending: set[asyncio.Task] = set()
        while True:
            if self.traffic_rps <= 0:
                await asyncio.sleep(0.1)
                next_at = loop.time()
                continue
            next_at += 1.0 / self.traffic_rps
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            if self._traffic_slots.locked():
                continue   # the frontend is saturated: skip rather than pile up
            task = asyncio.create_task(self._one_request())
            pending.add(task)
            task.add_done_callback(pending.discard)

    async def _one_request(self) -> None:
        async with self._traffic_slots:
            await http_get_status("127.0.0.1", self.port or 0, "/", 5.0)


def _id_key(instance_id: str) -> tuple[int, str]:
    return (int(instance_id), instance_id) if instance_id.isdigit() else (1 << 62, instance_id)
