"""Bounded waits with an injected clock: no real sleeping."""
import pytest

from ansible_collections.vmss.rollout.plugins.module_utils.errors import VmssTimeout
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.waiter import Deadline, wait_for_poller, wait_until


class FakeClock:
    def __init__(self):
        self.now = 100.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_returns_first_truthy_value_and_sleeps_between_polls():
    clock = FakeClock()
    answers = iter([None, 0, "done"])
    assert wait_until(lambda: next(answers), 60, 5, "x", clock=clock, sleep=clock.sleep) == "done"
    assert clock.sleeps == [5, 5]


def test_times_out_with_the_subject_named_and_never_oversleeps():
    clock = FakeClock()
    calls = []
    with pytest.raises(VmssTimeout, match=r"Timed out after 12s waiting for health of 3"):
        wait_until(lambda: calls.append(1), 12, 5, "health of 3", clock=clock, sleep=clock.sleep)
    assert clock.sleeps == [5, 5, 2]
    assert len(calls) == 4  # the last check happens at the deadline


def test_zero_timeout_checks_once():
    clock = FakeClock()
    assert wait_until(lambda: True, 0, 5, "x", clock=clock, sleep=clock.sleep) is True
    with pytest.raises(VmssTimeout):
        wait_until(lambda: False, 0, 5, "x", clock=clock, sleep=clock.sleep)
    assert clock.sleeps == []


def test_deadline():
    clock = FakeClock()
    deadline = Deadline(10, clock)
    clock.now += 4
    assert deadline.remaining() == 6 and not deadline.expired()
    clock.now += 6
    assert deadline.expired() and deadline.remaining() == 0


class FakePoller:
    def __init__(self, finishes):
        self.finishes = finishes
        self.waited = None

    def wait(self, timeout=None):
        self.waited = timeout

    def done(self):
        return self.finishes

    def status(self):
        return "Succeeded" if self.finishes else "InProgress"

    def result(self):
        return "resource"


def test_wait_for_poller_bounded():
    poller = FakePoller(True)
    assert wait_for_poller(poller, 30, "op") == "resource" and poller.waited == 30
    with pytest.raises(VmssTimeout, match="status InProgress"):
        wait_for_poller(FakePoller(False), 30, "op")


def test_polls_start_one_interval_apart_whatever_the_predicate_takes():
    clock = FakeClock()
    durations = iter([2, 7, 1])

    def slow_read():
        clock.now += next(durations)  # a read that takes 2 s, then one longer than the interval, then 1 s
        return clock.now >= 113

    assert wait_until(slow_read, 60, 5, "x", clock=clock, sleep=clock.sleep) is True
    assert clock.sleeps == [3]  # 5 - 2; after the 7 s read the next poll starts at once
