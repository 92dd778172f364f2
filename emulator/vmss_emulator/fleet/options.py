"""The scenario's per-set fleet options (`app`, `load_balancer`): checked here, used by the fleet and its admin
routes (a module of its own so that fleet.py and routes.py do not import each other)."""
from __future__ import annotations

import os
from typing import Any

DEFAULT_APP_PORT = 8080


def validate_options(app: Any, load_balancer: Any) -> None:
    """Scenario ``app`` / ``load_balancer`` blocks; raises ValueError naming the option and what is allowed."""
    if app is not None:
        if not isinstance(app, dict) or set(app) - {"port"}:
            raise ValueError("scale set 'app' must be an object with the key 'port'")
        port = app.get("port", DEFAULT_APP_PORT)
        lowest = 1 if os.geteuid() == 0 else 1024   # privileged ports need root
        if isinstance(port, bool) or not isinstance(port, int) or not lowest <= port <= 65535:
            raise ValueError(f"'app.port' must be an integer between {lowest} and 65535, got {port!r}")
    if load_balancer is not None:
        allowed = {"frontend_port", "probe_interval", "traffic_rps"}
        if not isinstance(load_balancer, dict) or set(load_balancer) - allowed:
            raise ValueError(f"scale set 'load_balancer' must be an object with keys {', '.join(sorted(allowed))}")
        port = load_balancer.get("frontend_port", 0)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"'load_balancer.frontend_port' must be an integer 0-65535 (0 = a free port), got {port!r}")
        for key, low in (("probe_interval", 0.01), ("traffic_rps", 0)):
            value = load_balancer.get(key, low)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low:
                raise ValueError(f"'load_balancer.{key}' must be a number >= {low}, got {value!r}")
