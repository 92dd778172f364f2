"""The fleet behind the API (part 2): an app per instance on its own loopback address, App Health states, a load
balancer per scale set, and the Microsoft.Network view of the instances' addresses.

``create_app`` calls ``make_fleet(app, events)``; everything else talks to the returned ``EmulatorFleet`` through the
``hooks.Fleet`` protocol.
"""
from __future__ import annotations

from typing import Any

from ..app_keys import FAULTS, WORLD
from ..events import EventLog
from .fleet import EmulatorFleet
from .options import validate_options

__all__ = ["EmulatorFleet", "make_fleet", "validate_options"]


def make_fleet(app: Any, events: EventLog) -> EmulatorFleet:
    return EmulatorFleet(events, settings=lambda: app[WORLD].settings, faults=lambda: app.get(FAULTS))
