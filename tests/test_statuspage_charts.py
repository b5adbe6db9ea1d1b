"""Response-time charts: the ledger's hourly latency read back, and drawn as inline SVG."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.checks import CheckResult, Observation, State
from monitor.core.clock import FakeClock
from monitor.store.latency import LatencyPoint
from monitor.store.ledger import Ledger
from statuspage.charts import KeptLines, _lines, chart, drawing
from statuspage.i18n import formatter
from statuspage.summary import KeptColumns, _columns

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


def _lines_as_drawn_before(points: list[LatencyPoint], first: int, per: int, slots: int,
                           top: float, value: str) -> list[str]:
    """The polylines as charts.py first drew them, point by point with f-strings."""
    runs: list[list[str]] = []
    last = None
    step = (300 - 2 * 2) / max(slots - 1, 1)
    for p in points:
        slot = (p.hour - first) // per
        if not 0 <= slot < slots:
            continue
        y = 64 - 2 - (64 - 2 * 2) * min(getattr(p, value) / top, 1.0)
        xy = f"{2 + slot * step:.0f},{y:.0f}"
        if last is None or slot != last + 1:
            runs.append([])
        runs[-1].append(xy)
        last = slot
    return [" ".join(run) for run in runs]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.floats(0.1, 5000.0), st.floats(0.1, 9000.0)),
                max_size=30),
       st.sampled_from([(1, 24), (24, 90), (3, 8)]), st.floats(0.5, 10_000.0),
       st.sampled_from(["p50_ms", "p95_ms"]))
def test_lines_are_drawn_as_before_to_the_unit(
    raw: list[tuple[int, float, float]], shape: tuple[int, int], top: float, value: str
) -> None:
    """The faster polylines (each slot's x made once, y rounded with ``round``) are the very
    text the first ones were, halves rounded to even included."""
    per, slots = shape
    hours = sorted({h * per for h, _, _ in raw})
    points = [LatencyPoint(h, 1, p50, p95)
              for h, (_, p50, p95) in zip(hours, raw[:len(hours)], strict=True)]
    assert _lines(points, 0, per, slots, top, value) == _lines_as_drawn_before(
        points, 0, per, slots, top, value)
    # y = 62 − v with a top of 60: 61.5, 60.5, 59.5 and 31.5, each a half
    halves = [LatencyPoint(h, 1, v, v) for h, v in enumerate((0.5, 1.5, 2.5, 30.5)[:slots])]
    assert _lines(halves, 0, 1, slots, 60.0, value) == _lines_as_drawn_before(
        halves, 0, 1, slots, 60.0, value)
    assert _lines(halves[:3], 0, 1, 24, 60.0, value) == ["2,62 15,60 28,60"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.lists(st.integers(0, 30), max_size=12),
                          st.floats(1.0, 900.0)), min_size=1, max_size=8),
       st.sampled_from([(1, 24), (24, 90)]))
def test_response_time_columns_kept_between_builds_are_those_made_anew(
    builds: list[tuple[int, list[int], float]], shape: tuple[int, int]
) -> None:
    """Build after build, the window moving on and points coming and going, the columns made
    with the last builds' kept (only the last slot worked out again) are those made anew."""
    per, slots = shape
    kept: KeptColumns = {}
    first = 1000 * per
    for moved, hours, value in builds:
        first += moved * per
        points = tuple(LatencyPoint(first + h * per, h + 1, value + h, 2 * value + h)
                       for h in sorted(set(hours)))
        latest = LatencyPoint(first + (slots - 1) * per, 3, value / 2, value)
        for found in (points, (*points, latest)):
            assert _columns(found, first, per, slots, kept, ("api", "days")) == _columns(
                found, first, per, slots)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.lists(st.integers(0, 30), max_size=12),
                          st.floats(1.0, 900.0), st.floats(0.1, 3.0)), min_size=1, max_size=8),
       st.sampled_from([(1, 24), (24, 90)]))
def test_charts_drawn_from_the_lines_kept_are_those_drawn_anew(
    builds: list[tuple[int, list[int], float, float]], shape: tuple[int, int]
) -> None:
    """Build after build, the window moving on, points coming and going and the newest one
    raising the scale's top or not: a drawing made with the lines kept (only the last slot
    placed again) is the drawing made anew."""
    per, slots = shape
    kept: KeptLines = {}
    first = 1000 * per
    for moved, hours, value, newest in builds:
        first += moved * per
        points = tuple(LatencyPoint(first + h * per, h + 1, value + h, 2 * value + h)
                       for h in sorted(set(hours)))
        latest = LatencyPoint(first + (slots - 1) * per, 3, value * newest, 3 * value * newest)
        for found in (points, (*points, latest)):
            assert drawing(found, first, per, slots, (), kept, ("api", "days")) == drawing(
                found, first, per, slots)
