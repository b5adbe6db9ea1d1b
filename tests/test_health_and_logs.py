"""/healthz says 503 when upwatch is not doing its job; --log-format json is one object a line."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from fakes import Scheduler, Writer
from prometheus_client import CollectorRegistry

from monitor.config import parse_config
from monitor.core.clock import FakeClock
from monitor.logs import JsonFormatter
from monitor.web.app import STALE_COMMIT_S, Runtime

NOW = datetime(2026, 11, 10, 10, 0, tzinfo=UTC)




def runtime(scheduler: Scheduler, writer: Writer, clock: FakeClock) -> Runtime:
    config = parse_config("services:\n  - {name: api, url: 'http://127.0.0.1:9/'}\n")
    return Runtime(config, clock, CollectorRegistry(), scheduler, writer)  # type: ignore[arg-type]


STALE = STALE_COMMIT_S + 5
READ_ONLY = "recording 1706 check results failed: attempt to write a readonly database"


@pytest.mark.parametrize(
    ("running", "queued", "commit_age", "started_ago", "error", "problems"),
    [
        (True, 0, None, 1.0, None, []),
        (True, 10, 2.0, 60.0, None, []),
        (False, 0, 1.0, 60.0, None, ["scheduler is not running"]),
        (True, 10, STALE, 600.0, None,
         [f"no ledger commit for {STALE:.0f}s with results queued"]),
        (True, 0, STALE, 600.0, None, []),  # nothing to write is not a stuck writer
        (True, 10, None, 5.0, READ_ONLY, []),  # a failure or two at the start: not yet
        (True, 1706, None, STALE, READ_ONLY,
         [f"no ledger commit since the start {STALE:.0f}s ago with results queued",
          f"the ledger refuses writes: {READ_ONLY}"]),
        (True, 10, STALE, 600.0, "disk I/O error",
         [f"no ledger commit for {STALE:.0f}s with results queued",
          "the ledger refuses writes: disk I/O error"]),
    ],
    ids=["fresh-start", "writing", "scheduler-stopped", "writer-stuck", "idle-writer",
         "first-commit-failing", "never-committed", "stuck-with-its-reason"],
)
def test_health(running: bool, queued: int, commit_age: float | None, started_ago: float,
                error: str | None, problems: list[str]) -> None:
    clock = FakeClock(NOW)
    last = None if commit_age is None else clock.monotonic() - commit_age
    writer = Writer(queued, last, clock.monotonic() - started_ago, error)
    ok, body = runtime(Scheduler(running, lag_p99_ms=12.0), writer, clock).health()
    assert ok is (not problems)
    assert body["status"] == ("ok" if not problems else "unhealthy")
    assert body["problems"] == problems
    assert body["schedule_lag_p99_ms"] == 12.0


def test_json_log_lines_are_one_object_each() -> None:
    record = logging.LogRecord("upwatch.scheduler", logging.WARNING, __file__, 1,
                               "service %s is %s", ("api", "down"), None)
    record.created = NOW.timestamp()
    line: dict[str, Any] = json.loads(JsonFormatter().format(record))
    assert line == {"time": "2026-11-10T10:00:00Z", "level": "warning",
                    "logger": "upwatch.scheduler", "message": "service api is down"}
