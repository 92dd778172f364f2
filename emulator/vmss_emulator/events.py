"""The event timeline shared by the ARM side and the fleet: an ordered, append-only list of dicts.

Each event is ``{"seq": int, "time": float (epoch seconds), "type": str, **fields}``. Tests and benchmarks read
it through ``GET /_emulator/events``. Never put secrets in an event.
"""
from __future__ import annotations

import time
from collections import deque
from typing import Any

# Enough for a 1000-instance rollout with health flapping; the oldest events drop first.
MAX_EVENTS = 200_000


class EventLog:
    def __init__(self, max_events: int = MAX_EVENTS) -> None:
        self._events: deque[dict[str, Any]] = deque(maxlen=max_events)
        self._seq = 0

    def append(self, type: str, **fields: Any) -> dict[str, Any]:  # noqa: A002 - "type" is the wire name
        self._seq += 1
        event = {"seq": self._seq, "time": time.time(), "type": type, **fields}
        self._events.append(event)
        return event

    def list(self, type: str | None = None, since: int | None = None) -> list[dict[str, Any]]:  # noqa: A002
        return [
            e for e in self._events
            if (type is None or e["type"] == type) and (since is None or e["seq"] > since)
        ]

    def clear(self) -> None:
        """Drop the events; seq keeps counting so `since` stays meaningful across clears."""
        self._events.clear()

    def __len__(self) -> int:
        return len(self._events)
