# Records how long each task took on each host (from v2_runner_on_start, when a worker takes the task
# for the host, to its result) and writes, at the end of the playbook, a JSON object to the file named by
# $BENCH_HOST_TIMES: {host: {"ms": total, "tasks": n, "ok": n, "failed": n, "unreachable": n}}.
from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "host_times"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._start = {}
        self._hosts = {}

    def v2_runner_on_start(self, host, task):
        self._start[(host.get_name(), task._uuid)] = time.monotonic()

    def _done(self, result, outcome):
        name = result._host.get_name()
        t0 = self._start.pop((name, result._task._uuid), None)
        h = self._hosts.setdefault(name, {"ms": 0.0, "tasks": 0, "ok": 0, "failed": 0, "unreachable": 0, "skipped": 0})
        if t0 is not None:
            h["ms"] += (time.monotonic() - t0) * 1000.0
        h["tasks"] += 1
        h[outcome] += 1

    def v2_runner_on_ok(self, result):
        self._done(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._done(result, "failed")

    def v2_runner_on_unreachable(self, result):
        self._done(result, "unreachable")

    def v2_runner_on_skipped(self, result):
        self._done(result, "skipped")

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get("BENCH_HOST_TIMES")
        if path:
            with open(path, "w") as f:
                json.dump(self._hosts, f)
