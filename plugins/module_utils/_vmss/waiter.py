# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bounded waits. Every wait has a deadline on a monotonic clock; clock and sleep are injectable for tests."""

from __future__ import annotations

__metaclass__ = type

import time

from ansible_collections.vmss.rollout.plugins.module_utils.errors import VmssTimeout


class Deadline:
    """A point in time ``timeout`` seconds after creation, measured on ``clock`` (time.monotonic)."""

    def __init__(self, timeout, clock=time.monotonic):
        self._clock = clock
        self.timeout = float(timeout)
        self._end = clock() + self.timeout

    def remaining(self):
        return max(0.0, self._end - self._clock())

    def expired(self):
        return self._clock() >= self._end


def wait_until(predicate, timeout, interval, what, clock=time.monotonic, sleep=time.sleep, on_poll=None):
    """Call ``predicate()`` until it returns a truthy value, which is returned.

    Raises VmssTimeout naming ``what`` when ``timeout`` seconds pass first. The predicate always runs at
    least once, and once more at the deadline, so a zero timeout still checks the current state. Polls start
    ``interval`` seconds apart: the time the predicate took (a read of 1000 instances, about a second) is not
    slept again.
    """
    deadline = Deadline(timeout, clock)
    attempts = 0
    while True:
        attempts += 1
        poll_started = clock()
        value = predicate()
        if on_poll is not None:
            on_poll(attempts, value)
        if value:
            return value
        remaining = deadline.remaining()
        if remaining <= 0:
            raise VmssTimeout("Timed out after %gs waiting for %s." % (deadline.timeout, what), code="Timeout")
        pause = min(float(interval) - (clock() - poll_started), remaining)
        if pause > 0:
            sleep(pause)


def wait_for_poller(poller, timeout, what):
    """Wait for an azure-core LROPoller at most ``timeout`` seconds and return its result.

    The poller does the polling (Retry-After, polling_interval); we only bound it. A poller that ends
    Failed raises its HttpResponseError from ``result()``, which callers convert with from_azure_error.
    """
    poller.wait(timeout=timeout)
    if not poller.done():
        raise VmssTimeout("Timed out after %gs waiting for %s (status %s)." % (timeout, what, poller.status()),
                          code="Timeout")
    return poller.result()
