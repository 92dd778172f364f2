"""Custom metrics of the App Health extension's rich health states ("Configure custom metrics for rolling upgrades").

An instance's app may add ``customMetrics`` to its health answer: a JSON *string* such as
``{"rollingUpgrade": {"PhaseOrderingNumber": 0, "SkipUpgrade": false}}``. The extension passes it on, and the
instance view shows it as the extension's ``ComponentStatus/CustomMetrics/succeeded`` substatus (the metrics in its
``message``) beside ``ComponentStatus/ApplicationHealthState/<state>``. Tests tell an app what to report through
``POST /_emulator/scale_sets/{rg}/{name}/instances/{id}/custom_metrics``.
"""
from __future__ import annotations

import json
from typing import Any

ROLLING_UPGRADE_KEYS = {"PhaseOrderingNumber": int, "SkipUpgrade": bool}


def validate(body: Any) -> dict[str, Any] | None:
    """The metrics an app is told to report; ``{}`` or null clears them. Raises ValueError naming what is wrong."""
    if body is None or body == {}:
        return None
    if not isinstance(body, dict):
        raise ValueError("custom metrics must be a JSON object such as "
                         '{"rollingUpgrade": {"PhaseOrderingNumber": 1, "SkipUpgrade": false}}')
    rolling = body.get("rollingUpgrade")
    if rolling is not None:
        if not isinstance(rolling, dict):
            raise ValueError("rollingUpgrade must be an object with PhaseOrderingNumber and/or SkipUpgrade")
        for key, value in rolling.items():
            kind = ROLLING_UPGRADE_KEYS.get(key)
            if kind is None:
                raise ValueError(f"rollingUpgrade.{key} is not known; allowed: {', '.join(ROLLING_UPGRADE_KEYS)}")
            # bool is an int in Python: a phase of true is refused
            if not isinstance(value, kind) or (kind is int and (isinstance(value, bool) or value < 0)):
                what = "a non-negative integer" if kind is int else "true or false"
                raise ValueError(f"rollingUpgrade.{key} must be {what}, got {value!r}")
    return body


def as_string(metrics: dict[str, Any] | None) -> str | None:
    """The customMetrics value of the app's health answer: the metrics as a JSON string, as Azure expects."""
    return None if metrics is None else json.dumps(metrics, separators=(",", ":"))


def substatuses(health: str | None, metrics: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The App Health extension's substatuses in the instance view, while the app answers (rich health states)."""
    if health in (None, "unknown"):
        return []
    state = {"code": f"ComponentStatus/ApplicationHealthState/{health}", "level": "Info",
             "displayStatus": "Provisioning succeeded", "message": f"Application found to be {health}"}
    if metrics is None:
        return [state]
    return [state, {"code": "ComponentStatus/CustomMetrics/succeeded", "level": "Info",
                    "displayStatus": "Provisioning succeeded", "message": as_string(metrics)}]
