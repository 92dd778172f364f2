# Benchmark-only callback (not shipped in the collection): writes one JSON line per task with its wall time,
# so benchmarks/rollout.py can say where the controller's time per batch goes.
from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: task_times
type: aggregate
short_description: JSON lines of task wall times, for benchmarks/rollout.py
description: Writes C({"task", "start", "seconds"}) per task to the file named by E(BENCH_TASK_TIMES).
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_times"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._path = os.environ.get("BENCH_TASK_TIMES")
        self._current = None

    def _close_current(self):
        if self._current and self._path:
            name, started = self._current
            with open(self._path, "a", encoding="utf-8") as out:
                out.write(json.dumps({"task": name, "start": started, "seconds": time.time() - started}) + "\n")
        self._current = None

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._close_current()
        self._current = (task.get_name(), time.time())

    def v2_playbook_on_handler_task_start(self, task):
        self.v2_playbook_on_task_start(task, False)

    def v2_playbook_on_stats(self, stats):
        self._close_current()
