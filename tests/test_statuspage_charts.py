"""Response-time charts: the ledger's hourly latency read back, and drawn as inline SVG."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.core.checks import CheckResult, Observation, State
from monitor.core.clock import FakeClock
from monitor.store.latency import LatencyPoint
from monitor.store.ledger import Ledger
from statuspage.charts import chart
from statuspage.i18n import formatter

NOW = datetime(2026, 11, 2, 12, 30, tzinfo=UTC)
HOUR = int(NOW.timestamp()) // 3600
EN = formatter("en")


def obs(service: str, at: datetime, ms: float, location: str = "local") -> Observation:
    result = CheckResult(service, at, True, ms, 200, location=location)
    return Observation(result, State.UP, 60_000)


def test_the_ledger_gives_hourly_and_daily_points_weighted_by_checks(
        ledger_target: str | Path) -> None:
    ledger = Ledger(ledger_target, clock=FakeClock(NOW))
    start = NOW - timedelta(hours=3)
    try:
        # three closed hours of 100 ms, then the open hour at 300 ms; another service at 10 ms
        ledger.record([obs("api", start + timedelta(minutes=m), 100.0) for m in range(180)])
        ledger.record([obs("api", start + timedelta(minutes=m), 300.0)
                       for m in range(180, 200)])
        ledger.record([obs("db", start + timedelta(minutes=m), 10.0, "fra")
                       for m in range(0, 200, 10)])
        hourly = ledger.latency_series(HOUR - 23, HOUR + 1)
        daily = ledger.latency_series((HOUR // 24) * 24, (HOUR // 24 + 1) * 24, 24)
    finally:
        ledger.close()
    api = hourly["api"]
    assert [p.hour for p in api] == [HOUR - 3, HOUR - 2, HOUR - 1, HOUR]
    assert [p.count for p in api] == [30, 60, 60, 50]  # 09:30-12:00 by hour, then the open one
    assert all(abs(p.p50_ms - 100) / 100 < 0.1 for p in api[:2])  # a bucket is ±9 %
    # the open hour (from its histogram): 30 checks at 100 ms, 20 at 300 ms
    assert abs(api[-1].p50_ms - 100) / 100 < 0.1 and abs(api[-1].p95_ms - 300) / 300 < 0.1
    (day,) = daily["api"]
    assert day.hour == (HOUR // 24) * 24 and day.count == 200
    # the day's values: the hours' weighted by their checks; the slow open hour raises its p95
    assert abs(day.p50_ms - 100) / 100 < 0.1
    assert day.p95_ms == (sum(p.count * p.p95_ms for p in api) / 200)
    assert [p.count for p in hourly["db"]] == [3, 6, 6, 5]


def test_a_chart_draws_p50_and_p95_and_breaks_where_there_were_no_checks() -> None:
    points = [LatencyPoint(HOUR - 23 + i, 60, 80.0 + i, 200.0) for i in range(24)
              if i not in (10, 11, 20)]
    made = chart("Last 24 hours", points, HOUR - 23, 1, 24, EN)
    assert made is not None
    svg = str(made.svg)
    assert svg.count('<polyline class="p50"') == 3  # hours 0-9, 12-19 and 21-23
    assert svg.count('<polyline class="p95"') == 3 and "<circle" not in svg
    assert made.summary == "Median 92 ms (80 ms – 103 ms); 95th percentile up to 200 ms"
    assert 'aria-hidden="true"' in svg  # the caption says it: not heard twice


def test_a_lone_hour_is_a_dot_and_an_empty_window_no_chart() -> None:
    made = chart("Last 24 hours", [LatencyPoint(HOUR, 5, 12.0, 30.0)], HOUR - 23, 1, 24, EN)
    assert made is not None and str(made.svg).count("<circle") == 2
    assert chart("Last 24 hours", [], HOUR - 23, 1, 24, EN) is None
    old = [LatencyPoint(HOUR - 100, 5, 12.0, 30.0)]  # outside the window
    assert chart("Last 24 hours", old, HOUR - 23, 1, 24, EN) is None


def test_the_words_are_translated_and_the_title_kept_out_of_the_svg() -> None:
    made = chart('<b>"x"</b>', [LatencyPoint(HOUR, 5, 12.0, 30.0)], HOUR - 23, 1, 24,
                 formatter("de"))
    assert made is not None and "<b>" not in str(made.svg)  # the template escapes the title
    assert made.summary == "Median 12 ms (12 ms – 12 ms); 95. Perzentil bis 30 ms"
