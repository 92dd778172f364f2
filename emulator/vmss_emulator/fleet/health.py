"""What an instance's app answers, and the App Health extension state derived from that same answer.

Both the app (``GET /health``) and ``vmHealth`` in the instance view read ``app_health`` / ``health_state`` below, so
Azure's view can never disagree with what the app really says.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import custom_metrics
from ..state import Instance


@dataclass
class AppStatus:
    listening: bool           # the app accepts connections (instance running)
    listening_since: float | None
    drained: bool             # POST /drain since the last start
    sick: bool                # an unhealthy_after_upgrade fault rule selected this instance

    @property
    def healthy(self) -> bool:
        return not (self.drained or self.sick)


def health_body(inst: Instance, status: AppStatus) -> dict[str, Any]:
    """The JSON of GET /health. Extension settings are the public ones (the model never holds protectedSettings)."""
    word = "Healthy" if status.healthy else "Unhealthy"
    return {
        "status": word,
        "ApplicationHealthState": word,   # what the rich App Health extension (v2) reads
        "instanceId": inst.instance_id,
        "imageVersion": inst.image_version(),
        "extensions": {ext.get("name"): (ext.get("properties") or {}).get("settings") or {}
                       for ext in inst.extensions()},
        **({"drained": True} if status.drained else {}),
        # rich health states: what the app tells the rolling upgrade (a JSON string, as the extension expects)
        **({"customMetrics": custom_metrics.as_string(inst.custom_metrics)} if inst.custom_metrics else {}),
    }


def health_state(inst: Instance, status: AppStatus, grace_seconds: float, now: float) -> str | None:
    """Azure's rich App Health states: None without the extension; initializing during the grace period after a
    start; then healthy / unhealthy from the app's answer; unknown while the app does not answer."""
    if inst.health_extension() is None:
        return None
    if not status.listening:
        return "unknown"
    if status.listening_since is not None and now - status.listening_since < grace_seconds:
        return "initializing"
    return "healthy" if status.healthy else "unhealthy"
