"""Long-running operations as ARM runs them: an id, a status URL, and a background task doing the work."""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .app_keys import BASE_URL, EVENTS, WORLD
from .arm import json_response, now_iso
from .exceptions import ArmError

log = logging.getLogger("vmss_emulator")
FINISHED = ("Succeeded", "Failed", "Canceled")


@dataclass(eq=False)
class Operation:
    id: str
    kind: str                      # operationId of the request that started it
    subscription: str
    location: str
    scale_set: str | None          # "RG/NAME"
    status: str = "InProgress"
    start: float = field(default_factory=time.time)
    end: float | None = None
    error: dict[str, Any] | None = None
    task: asyncio.Task | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"startTime": now_iso(self.start), "status": self.status, "name": self.id}
        if self.end is not None:
            out["endTime"] = now_iso(self.end)
        if self.error:
            out["error"] = self.error
        return out


class OperationFailed(Exception):
    """Raised by an operation's work to end it Failed with an ARM error body."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("message"))
        self.error = error


class Operations:
    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._ops: dict[str, Operation] = {}

    def get(self, op_id: str) -> Operation | None:
        return self._ops.get(op_id)

    def start(self, kind: str, subscription: str, location: str, scale_set: Any | None,
              work: Callable[[Operation], Awaitable[None]], lock: bool = True) -> Operation:
        """Run `work` in the background; with `lock`, the scale set refuses other writes (409) meanwhile."""
        op = Operation(id=str(uuid.uuid4()), kind=kind, subscription=subscription, location=location,
                       scale_set=scale_set.key if scale_set is not None else None)
        self._ops[op.id] = op
        if lock and scale_set is not None:
            scale_set.active_operation = op.id
        events = self._app[EVENTS]
        events.append("lro_start", operation_id=op.id, operation=kind, status=op.status,
                      **_where(scale_set))

        async def run() -> None:
            try:
                await work(op)
                op.status = "Succeeded"
            except OperationFailed as exc:
                op.status, op.error = "Failed", exc.error
            except ArmError as exc:
                op.status, op.error = "Failed", exc.error()
            except asyncio.CancelledError:
                op.status = "Canceled"
                op.error = op.error or {"code": "OperationPreempted",
                                        "message": "Operation execution has been preempted by a more recent "
                                                   "operation."}
            except Exception:  # noqa: BLE001 - an emulator bug must end the LRO, not hang the client
                log.exception("operation %s (%s) crashed", op.id, kind)
                op.status, op.error = "Failed", {"code": "InternalExecutionError",
                                                 "message": "An internal execution error occurred."}
            finally:
                op.end = time.time()
                if scale_set is not None and scale_set.active_operation == op.id:
                    scale_set.active_operation = None
                events.append("lro_end", operation_id=op.id, operation=kind, status=op.status,
                              **_where(scale_set), **({"error_code": op.error["code"]} if op.error else {}))
                op.done.set()

        op.task = asyncio.get_running_loop().create_task(run())
        return op

    async def cancel_all(self) -> None:
        tasks = [op.task for op in self._ops.values() if op.task and not op.task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._ops.clear()

    # ------------------------------------------------------------ answers

    def url(self, op: Operation) -> str:
        return (f"{self._app[BASE_URL]}/subscriptions/{op.subscription}/providers/Microsoft.Compute/locations/"
                f"{op.location}/operations/{op.id}")

    def headers(self, request: web.Request, op: Operation, with_location: bool) -> dict[str, str]:
        api = request.query.get("api-version", "")
        url = self.url(op)
        headers = {"Azure-AsyncOperation": f"{url}?api-version={api}", "azure-asyncnotification": "Enabled"}
        if with_location:
            headers["Location"] = f"{url}?monitor=true&api-version={api}"
        headers.update(retry_headers(self._app[WORLD].settings.lro_retry_after))
        return headers

    def accepted(self, request: web.Request, op: Operation) -> web.Response:
        """202 for POST actions and DELETE: empty body, Azure-AsyncOperation and Location."""
        return web.Response(status=202, headers=self.headers(request, op, with_location=True))

    def status_response(self, request: web.Request, op: Operation) -> web.Response:
        settings = self._app[WORLD].settings
        if request.query.get("monitor", "").lower() == "true":
            if op.status == "InProgress":
                return web.Response(status=202, headers={"Location": str(request.url),
                                                         **retry_headers(settings.lro_retry_after)})
            if op.status == "Failed":
                return ArmError(400, op.error["code"], op.error["message"]).response()
            return web.Response(status=200)
        headers = retry_headers(settings.lro_retry_after) if op.status == "InProgress" else {}
        return json_response(op.body(), headers=headers)


def retry_headers(seconds: float) -> dict[str, str]:
    """Retry-After in whole seconds (the SDK parses it as an int); a fraction goes in retry-after-ms only,
    which azure-core's poller reads when Retry-After is absent."""
    headers = {"retry-after-ms": str(int(seconds * 1000))}
    if float(seconds).is_integer():
        headers["Retry-After"] = str(int(seconds))
    return headers


def _where(scale_set: Any | None) -> dict[str, str]:
    if scale_set is None:
        return {}
    fields = getattr(scale_set, "event_fields", None)   # a plain VM names itself as "vm" (vms/models.py)
    return fields() if fields is not None else {"resource_group": scale_set.resource_group, "vmss": scale_set.name}
