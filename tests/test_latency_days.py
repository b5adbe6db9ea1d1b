"""Latency packed per day (schema version 9): a ledger of version 8, with one row per hour in
``latency_hours``, opens with the same latency series as a ledger that recorded the same
checks, on both engines; so does one of version 9, whose days have no sums beside their blobs
yet (version 10)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.core.checks import CheckResult, Observation, State
from monitor.store.connect import open_database
from monitor.store.database import Database
from monitor.store.latency import blob_sums, unpack_day
from monitor.store.ledger import Ledger
from monitor.store.schema import apply_migrations, transaction

T0 = datetime(2026, 3, 9, 21, 10, tzinfo=UTC)  # three hours before a midnight


def checks() -> list[Observation]:
    """Two services at two locations, a check every 10 minutes for 30 hours."""
    out = []
    for i in range(180):
        for name, location, base in (("api", "local", 40.0), ("web", "eu", 200.0),
                                     ("api", "eu", 90.0)):
            result = CheckResult(name, T0 + timedelta(minutes=10 * i), True,
                                 base + (i * 37) % 113, 200, location=location)
            out.append(Observation(result, State.UP, 600_000))
    return out


def _recorded(target: str | Path) -> tuple[Ledger, int, list[Any]]:
    """A ledger that recorded :func:`checks`, the hour they end near, and its series around
    it by 1, 3 and 24 hours."""
    led = Ledger(target)
    led.record(checks())
    hour = int(T0.timestamp()) // 3600
    return led, hour, [led.latency_series(hour - 48, hour + 48, per) for per in (1, 3, 24)]


def _tables(led: Ledger) -> dict[str, list[Any]]:
    """The rows an older ledger is given as they are: services, locations, open hours."""
    return {t: led.read_only(lambda x, t=t: x._conn.execute(f"SELECT * FROM {t}").fetchall())
            for t in ("services", "locations", "latency_open")}


@contextmanager
def _ledger_of_version(target: str | Path, version: int,
                       tables: dict[str, list[Any]]) -> Iterator[Database]:
    """A ledger at schema ``version`` holding ``tables``' rows; the block adds its own, in the
    same transaction."""
    db = open_database(target)
    try:
        with transaction(db, f"a version {version} ledger"):
            apply_migrations(db, 0, version)
            db.set_schema_version(version)
            for table, content in tables.items():
                if content:
                    db.copy_in(table, db.columns(table), content)
            yield db
    finally:
        db.close()


def test_version_8_latency_hours_become_days(new_target: Callable[[], str | Path]) -> None:
    led, hour, want = _recorded(new_target())
    legacy = new_target()
    want_open = led.read_only(lambda x: x._conn.execute(
        "SELECT * FROM latency_open ORDER BY service_id, location_id").fetchall())
    rows = [(sid, lid, *entry) for sid, lid, day, blob in led.read_only(
        lambda x: x._conn.execute("SELECT service_id, location_id, day, hours "
                                  "FROM latency_days").fetchall())
        for entry in unpack_day(int(day), bytes(blob))]
    assert len(rows) == 3 * 30  # of 31 hours, the last is still open
    tables = _tables(led)
    led.close()

    with _ledger_of_version(legacy, 8, tables) as db:
        db.copy_in("latency_hours", (
            "service_id", "location_id", "hour", "count", "mean_dms", "max_dms", "p50_dms",
            "p95_dms", "p99_dms"), sorted(rows, key=lambda r: (r[2], r[0], r[1])))
    led = Ledger(legacy)
    try:
        assert [led.latency_series(hour - 48, hour + 48, per) for per in (1, 3, 24)] == want
        assert led.read_only(lambda x: x._conn.execute(
            "SELECT * FROM latency_open ORDER BY service_id, location_id").fetchall()) == want_open
        assert led.read_only(lambda x: x._conn.execute(
            "SELECT count(*) FROM latency_days").fetchone())[0] == 3 * 3  # three days each
    finally:
        led.close()


def _day_rows(led: Ledger) -> list[tuple[Any, ...]]:
    return led.read_only(lambda x: x._conn.execute(
        "SELECT service_id, location_id, day, hours, count, p50_sum, p95_sum FROM latency_days "
        "ORDER BY service_id, location_id, day").fetchall())


def _sums_of_blobs(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [(*row[:3], *blob_sums(bytes(row[3]))) for row in rows]


def test_version_9_days_get_their_sums(new_target: Callable[[], str | Path]) -> None:
    led, hour, want = _recorded(new_target())
    legacy = new_target()
    rows = _day_rows(led)
    assert [(*r[:3], *r[4:]) for r in rows] == _sums_of_blobs(rows)  # as recorded
    assert all(r[4] for r in rows)
    tables = _tables(led)
    led.close()

    with _ledger_of_version(legacy, 9, tables) as db:
        assert db.columns("latency_days") == ["service_id", "location_id", "day", "hours"]
        db.copy_in("latency_days", ("service_id", "location_id", "day", "hours"),
                   [r[:4] for r in rows])
    led = Ledger(legacy)
    try:
        assert [led.latency_series(hour - 48, hour + 48, per) for per in (1, 3, 24)] == want
        assert _day_rows(led) == rows  # the sums worked out from the blobs
    finally:
        led.close()


def test_hours_closed_over_several_commits_fill_their_days(tmp_path: Path) -> None:
    led = Ledger(tmp_path / "ledger.db")
    try:
        obs = checks()
        led.record(obs[:30])
        led.record(obs[30:])
        again = Ledger(tmp_path / "whole.db")
        again.record(obs)
        hour = int(T0.timestamp()) // 3600
        assert led.latency_series(hour, hour + 40) == again.latency_series(hour, hour + 40)
        assert _day_rows(led) == _day_rows(again)
        rows = _day_rows(led)
        assert [(*r[:3], *r[4:]) for r in rows] == _sums_of_blobs(rows)  # kept with the blob
        again.close()
    finally:
        led.close()


def test_each_locations_series_adds_up_to_the_services(ledger_target: str | Path) -> None:
    led = Ledger(ledger_target)
    try:
        led.record(checks())
        hour = int(T0.timestamp()) // 3600
        for per in (1, 24):
            overall = led.latency_series(hour - 48, hour + 48, per)
            apart = led.latency_by_location(hour - 48, hour + 48, per)
            assert sorted(apart) == ["api", "web"]
            assert sorted(apart["api"]) == ["eu", "local"] and sorted(apart["web"]) == ["eu"]
            assert apart["web"]["eu"] == overall["web"]  # one location: the same points
            for point in overall["api"]:  # the checks of a slot, split between locations
                parts = [p for pts in apart["api"].values() for p in pts if p.hour == point.hour]
                assert sum(p.count for p in parts) == point.count
                low, high = min(p.p50_ms for p in parts), max(p.p50_ms for p in parts)
                assert low <= point.p50_ms <= high
    finally:
        led.close()


def test_a_services_slots_come_in_time_order_whatever_order_its_locations_fill_them(
        ledger_target: str | Path) -> None:
    """Two locations whose hours interleave, each with its last hour still open: the service's
    points (all locations together) come oldest first, each slot once with all its checks."""
    led = Ledger(ledger_target)
    start = datetime(2026, 3, 10, 8, 5, tzinfo=UTC)
    plan = {"a": (0, 2), "b": (1, 3, 4)}  # hours after ``start``; the last of each stays open
    try:
        led.record([
            Observation(CheckResult("api", start + timedelta(hours=h), True, 10.0 * (h + 1), 200,
                                    location=location), State.UP, 600_000)
            for location, hours in plan.items() for h in hours])
        hour = int(start.timestamp()) // 3600
        points = led.latency_series(hour - 1, hour + 6)["api"]
        assert [(p.hour - hour, p.count, p.p50_ms) for p in points] == [
            (h, 1, pytest.approx(10.0 * (h + 1), rel=0.1)) for h in range(5)]
        assert len(led.latency_series(hour - 24, hour + 24, 24)["api"]) == 1  # one day
    finally:
        led.close()


def test_the_last_24_hours_and_today_read_at_once_are_the_points_read_apart(
        ledger_target: str | Path) -> None:
    """Before, across and after a midnight, with open hours at two locations: the same points,
    to the last bit, as the two reads of the 24 hours by hour and of today as one slot."""
    led = Ledger(ledger_target)
    try:
        led.record(checks())
        first = int(T0.timestamp()) // 3600
        for hour in (first - 1, first, first + 2, first + 3, first + 4, first + 29, first + 30,
                     first + 40, first + 51, first + 52):
            hours, today = led.latency_recent(hour)
            assert hours == led.latency_series(hour - 23, hour + 1)
            assert today == led.latency_series(hour // 24 * 24, hour + 1, 24)
            assert ("api" in hours) == (hour >= first)  # not an empty comparison
    finally:
        led.close()
