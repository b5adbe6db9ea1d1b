"""/healthz says 503 when upwatch is not doing its job; --log-format json is one object a line."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from monitor.config import parse_config
from monitor.core.clock import FakeClock
from monitor.logs import JsonFormatter
from monitor.web.app import STALE_COMMIT_S, Runtime

NOW = datetime(2026, 11, 10, 10, 0, tzinfo=UTC)


@dataclass
class Scheduler:
    running: bool = True
    inflight: int = 0

    def lag_quantile_ms(self, q: float) -> float | None:
        return 12.0


@dataclass
class Writer:
    queued: int = 0
    last_commit_monotonic: float | None = None


def runtime(scheduler: Scheduler, writer: Writer, clock: FakeClock) -> Runtime:
    config = parse_config("services:\n  - {name: api, url: 'http://127.0.0.1:9/'}\n")
    return Runtime(config, clock, CollectorRegistry(), scheduler, writer)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("running", "queued", "commit_age", "healthy", "problems"),
    [
        (True, 0, None, True, []),
        (True, 10, 2.0, True, []),
        (False, 0, 1.0, False, ["scheduler is not running"]),
        (True, 10, STALE_COMMIT_S + 5, False,
         [f"no ledger commit for {STALE_COMMIT_S + 5:.0f}s with results queued"]),
        (True, 0, STALE_COMMIT_S + 5, True, []),  # nothing to write is not a stuck writer
    ],
    ids=["fresh-start", "writing", "scheduler-stopped", "writer-stuck", "idle-writer"],
)
def test_health(running: bool, queued: int, commit_age: float | None, healthy: bool,
                problems: list[str]) -> None:
    clock = FakeClock(NOW)
    last = None if commit_age is None else clock.monotonic() - commit_age
    ok, body = runtime(Scheduler(running), Writer(queued, last), clock).health()
    assert ok is healthy
    assert body["status"] == ("ok" if healthy else "unhealthy")
    assert body["problems"] == problems
    assert body["schedule_lag_p99_ms"] == 12.0


def test_json_log_lines_are_one_object_each() -> None:
    record = logging.LogRecord("upwatch.scheduler", logging.WARNING, __file__, 1,
                               "service %s is %s", ("api", "down"), None)
    record.created = NOW.timestamp()
    line: dict[str, Any] = json.loads(JsonFormatter().format(record))
    assert line == {"time": "2026-11-10T10:00:00Z", "level": "warning",
                    "logger": "upwatch.scheduler", "message": "service api is down"}
