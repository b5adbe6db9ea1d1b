"""The ledger through its public API: minutes, restarts, backfill, checks, latency, schema."""

from __future__ import annotations

import random
import sqlite3
import tempfile
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.core.checks import CheckResult, ErrorKind, Observation, State
from monitor.core.clock import FakeClock
from monitor.core.minutes import Run, clip, fold
from monitor.store.latency import HourHistogram
from monitor.store.ledger import Ledger, LedgerError, StoredCheck
from monitor.store.schema import LATEST

U, G, D = State.UP, State.DEGRADED, State.DOWN
T0 = datetime(2026, 10, 1, 10, 0, tzinfo=UTC)
M0 = int(T0.timestamp()) // 60
WINDOW = (M0 - 30, M0 + 120)


def make(
    at_s: float,
    state: State = U,
    interval_s: float = 60,
    *,
    service: str = "api",
    location: str = "local",
    latency: float | None = None,
    detail: str = "",
) -> Observation:
    ok = state != D
    result = CheckResult(
        service, T0 + timedelta(seconds=at_s), ok,
        latency_ms=latency if latency is not None else (80.0 if ok else None),
        status=200 if ok else 503, error=None if ok else ErrorKind.HTTP_STATUS,
        detail=detail, location=location,
    )
    return Observation(result, state, int(interval_s * 1000))


def runs(spec: Sequence[tuple[int, int, State]]) -> list[Run]:
    return [Run(M0 + a, M0 + b, s) for a, b, s in spec]


def stream(checks: Sequence[tuple[float, State, float]]) -> list[Observation]:
    return [make(at_s, state, interval_s) for at_s, state, interval_s in checks]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "upwatch.db"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0 + timedelta(hours=1))


@pytest.fixture
def ledger(db: Path, clock: FakeClock) -> Iterator[Ledger]:
    led = Ledger(db, clock=clock)
    yield led
    led.close()


DESIGN_CASES = [
    pytest.param([(0, U, 60), (300, U, 60)], [(0, 2, U), (5, 7, U)],
                 id="60s-1001-carries-1002-to-1004-nodata"),
    pytest.param([(0, U, 30), (30, D, 30), (60, U, 30), (90, U, 30), (120, U, 30)],
                 [(0, 1, D), (1, 3, U)], id="30s-one-failure-makes-the-minute-down"),
    pytest.param([(0, U, 60), (60, G, 60), (120, U, 60)], [(0, 1, U), (1, 2, G), (2, 4, U)],
                 id="degraded-minute"),
    pytest.param([(0, D, 60), (20, U, 60)], [(0, 1, D), (1, 3, U)],
                 id="carry-takes-the-last-check-not-the-worst"),
    pytest.param([(0, U, 300), (300, U, 300)], [(0, 15, U)],
                 id="5m-carries-until-the-next-check"),
    pytest.param([(0, D, 300)], [(0, 10, D)], id="5m-nodata-from-the-10th-minute"),
    pytest.param([(0.5, U, 300)], [(0, 11, U)], id="5m-half-second-late-carries-one-more"),
    pytest.param([(0, U, 300), (900, U, 300)], [(0, 10, U), (15, 25, U)],
                 id="5m-missed-check-leaves-nodata"),
]


@pytest.mark.parametrize(("checks", "expected"), DESIGN_CASES)
def test_design_examples(
    ledger: Ledger, checks: list[tuple[float, State, float]], expected: list[tuple[int, int, State]]
) -> None:
    ledger.record(stream(checks))
    assert ledger.runs("api", *WINDOW) == runs(expected)
    assert ledger.runs_many(["api", "nope"], *WINDOW) == {"api": runs(expected), "nope": []}


@pytest.mark.parametrize(("checks", "expected"), DESIGN_CASES)
def test_restart_between_records_changes_nothing(
    db: Path, checks: list[tuple[float, State, float]], expected: list[tuple[int, int, State]]
) -> None:
    obs = stream(checks)
    for cut in range(1, len(obs)):
        path = db.with_name(f"cut{cut}.db")
        first = Ledger(path)
        first.record(obs[:cut])
        first.close()
        second = Ledger(path)
        second.record(obs[cut:])
        assert second.runs("api", *WINDOW) == runs(expected), f"restart after check {cut}"
        second.close()


def test_runs_clips_to_the_range_and_merges_the_pending_tail(ledger: Ledger) -> None:
    ledger.record(stream([(m * 60, U, 60) for m in range(10)] + [(600, D, 60)]))
    assert ledger.runs("api", M0 + 3, M0 + 11) == runs([(3, 10, U), (10, 11, D)])
    assert ledger.runs("api", M0 + 10, M0 + 10) == []
    assert ledger.runs("api", *WINDOW, location="eu") == []
    assert ledger.runs("nope", *WINDOW) == []


def test_a_steady_service_is_stored_as_one_row(ledger: Ledger, db: Path) -> None:
    for m in range(300):
        ledger.record([make(m * 60, U)])
    ledger.record([make(300 * 60 + 20, D), make(301 * 60, U)])
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT start - ?, end - ?, state FROM minute_runs", (M0, M0)).fetchall()
    conn.close()
    assert rows == [(0, 300, U), (300, 301, D)]  # 10:301 is the pending tail
    assert ledger.runs("api", M0, M0 + 400) == runs([(0, 300, U), (300, 301, D), (301, 303, U)])


def test_locations_fold_separately(ledger: Ledger) -> None:
    ledger.record([make(0, D, location="eu"), make(0, U), make(60, U, location="eu")])
    assert ledger.runs("api", *WINDOW) == runs([(0, 2, U)])
    assert ledger.runs("api", *WINDOW, location="eu") == runs([(0, 1, D), (1, 3, U)])


LIVE = [(m * 60, U, 60) for m in range(10, 21)]  # 10:10 .. 10:20, pending minute 10:20

BACKFILL_CASES = [
    pytest.param([(120, U, 60), (180, D, 60)], [(2, 3, U), (3, 5, D), (10, 22, U)],
                 id="history-before-the-first-run"),
    pytest.param([(19 * 60 + 30, D, 60)], [(10, 19, U), (19, 20, D), (20, 22, U)],
                 id="carry-is-cut-at-the-pending-minute"),
    pytest.param([(9 * 60, D, 300)], [(9, 10, D), (10, 22, U)],
                 id="last-carry-stops-at-stored-data"),
    pytest.param([(15 * 60 + 30, D, 60)], [(10, 15, U), (15, 16, D), (16, 22, U)],
                 id="inside-a-stored-minute-worst-of-that-minute"),
    pytest.param([(15 * 60 + 30, D, 60), (17 * 60 + 30, U, 60)],
                 [(10, 15, U), (15, 17, D), (17, 22, U)],
                 id="approximated-carry-between-stored-checks-only-worsens"),
    pytest.param([(12 * 60 + 10, U, 60)], [(10, 22, U)], id="same-state-changes-nothing"),
]


@pytest.mark.parametrize(("older", "expected"), BACKFILL_CASES)
def test_backfill_older_than_the_pending_minute_is_merged_worst_of(
    ledger: Ledger, older: list[tuple[float, State, float]],
    expected: list[tuple[int, int, State]],
) -> None:
    ledger.record(stream(LIVE))
    ledger.record(stream(older))
    assert ledger.runs("api", *WINDOW) == runs(expected)
    ledger.record([make(21 * 60, U)])  # the live fold goes on from its tail
    assert ledger.runs("api", *WINDOW) == runs(expected[:-1]) + runs([(expected[-1][0], 23, U)])


def snapshot(led: Ledger) -> tuple[object, ...]:
    return (
        led.runs("api", *WINDOW), led.runs("api", *WINDOW, location="eu"),
        led.recent_checks("api", 10_000), led.failures("api", T0 - timedelta(days=1)),
        led.latency_hours("api", T0 - timedelta(hours=1), T0 + timedelta(hours=3)),
        led.known_services(),
    )


def test_reimport_of_the_same_checks_changes_nothing(ledger: Ledger) -> None:
    rng = random.Random(7)
    lines = [make(s * 20, rng.choice([U, U, U, G, D]), 60, latency=rng.uniform(5, 500),
                  location=rng.choice(["local", "eu"])) for s in range(400)]
    ledger.record(lines)
    before = snapshot(ledger)
    ledger.record(lines)
    assert snapshot(ledger) == before
    for size in (37, 1):  # in any batching
        for i in range(0, len(lines), size):
            ledger.record(lines[i:i + size])
        assert snapshot(ledger) == before


def test_a_failed_record_leaves_no_trace(ledger: Ledger) -> None:
    ledger.record(stream([(0, U, 60)]))
    naive = Observation(CheckResult("api", datetime(2026, 10, 1, 10, 2), True), U, 60_000)
    with pytest.raises(LedgerError, match="timezone-aware"):
        ledger.record([make(60, D, service="new"), make(60, D), naive])
    with pytest.raises(LedgerError, match="positive interval"):
        ledger.record([make(60, D), Observation(make(70).result, State.NODATA, 60_000)])
    assert ledger.known_services() == ["api"]
    assert ledger.runs("api", *WINDOW) == runs([(0, 2, U)])
    ledger.record([make(60, D, service="new"), make(60, U)])
    assert ledger.runs("api", *WINDOW) == runs([(0, 3, U)])
    assert ledger.runs("new", *WINDOW) == runs([(1, 3, D)])


def test_stored_checks_round_trip_newest_first(ledger: Ledger) -> None:
    ledger.record([make(0, U, latency=12.5), make(60, D, detail="503 from upstream"),
                   make(59, U, location="eu", latency=40.0), make(120, U)])
    recent = ledger.recent_checks("api", limit=3)
    assert [(c.time, c.location, c.ok) for c in recent] == [
        (T0 + timedelta(seconds=120), "local", True),
        (T0 + timedelta(seconds=60), "local", False),
        (T0 + timedelta(seconds=59), "eu", True),
    ]
    assert recent[1] == StoredCheck("api", "local", T0 + timedelta(seconds=60), False, None, 503,
                                    ErrorKind.HTTP_STATUS, "503 from upstream")
    assert ledger.last_check("api") == recent[0]
    assert ledger.last_check("nope") is None
    assert ledger.recent_checks("nope") == []
    assert [c.time for c in ledger.failures("api", T0 + timedelta(seconds=60))] == [
        T0 + timedelta(seconds=60)]
    assert ledger.failures("api", T0 + timedelta(seconds=61)) == []


def test_known_services_and_last_write(ledger: Ledger, clock: FakeClock) -> None:
    assert ledger.known_services() == []
    assert ledger.last_write() is None
    ledger.record([make(0, service="web"), make(0, service="api")])
    assert ledger.known_services() == ["api", "web"]
    assert ledger.last_write() == clock.now()
    clock.advance(90)
    ledger.record([])
    assert ledger.last_write() == clock.now() - timedelta(seconds=90)


def test_prune_keeps_failures_for_the_retention_and_the_latest_successes(
    db: Path, clock: FakeClock
) -> None:
    led = Ledger(db, retention_days=2, keep_successes=3, clock=clock)
    day = 86_400
    led.record([make(s * 60, U) for s in range(6)] + [make(s * 60, U, location="eu")
                                                        for s in range(2)])
    led.record([make(10 * 60, U, service="web"), make(-3 * day, D), make(-day, D),
                make(30, D, service="web")])
    led.prune(T0)
    kept = [(c.time, c.location, c.ok) for c in led.recent_checks("api", 100)]
    assert kept == [
        (T0 + timedelta(minutes=5), "local", True),
        (T0 + timedelta(minutes=4), "local", True),
        (T0 + timedelta(minutes=3), "local", True),
        (T0 - timedelta(days=1), "local", False),
    ]
    assert len(led.recent_checks("web")) == 2
    assert led.runs("api", M0 - 5, M0 + 10) == runs([(0, 7, U)]), "prune keeps the minutes"
    led.close()


def test_keep_successes_also_bounds_one_big_batch(db: Path) -> None:
    led = Ledger(db, keep_successes=5)
    led.record([make(s, U) for s in range(50)] + [make(7.5, D)])
    assert [c.time for c in led.recent_checks("api", 100)] == [
        T0 + timedelta(seconds=s) for s in (49, 48, 47, 46, 45, 7.5)]
    led.close()


@pytest.mark.parametrize(
    ("latencies", "count", "mean", "top", "p50", "p95", "p99"),
    [
        pytest.param(list(range(1, 101)), 100, 50.5, 100.0, 50, 95, 99, id="1-to-100-ms"),
        pytest.param([200.0] * 10, 10, 200.0, 200.0, 200, 200, 200, id="all-equal"),
        pytest.param([5.0] * 99 + [3000.0], 100, 34.95, 3000.0, 5, 5, 5, id="one-outlier"),
        pytest.param([0.05, 0.3], 2, 0.2, 0.3, 0.05, 0.3, 0.3, id="sub-millisecond"),
        pytest.param([10.0, 250_000.0], 2, 125_005.0, 250_000.0, 10, 250_000, 250_000,
                     id="beyond-the-last-bucket"),
    ],
)
def test_latency_hour_statistics(
    ledger: Ledger, latencies: list[float], count: int, mean: float, top: float,
    p50: float, p95: float, p99: float,
) -> None:
    ledger.record([make(i * 3, U, latency=ms) for i, ms in enumerate(latencies)]
                  + [make(i * 3 + 1, D, latency=9999.0) for i in range(5)])  # failures: no latency
    ledger.record([make(3600, U, latency=1.0)])  # the next hour closes this one
    hours = ledger.latency_hours("api", T0, T0 + timedelta(hours=2))
    assert [h.hour for h in hours] == [T0, T0 + timedelta(hours=1)]
    first = hours[0]
    assert (first.count, first.max_ms) == (count, top)
    assert first.mean_ms == pytest.approx(mean, abs=0.05)
    for got, want in ((first.p50_ms, p50), (first.p95_ms, p95), (first.p99_ms, p99)):
        assert got == pytest.approx(want, rel=0.1, abs=0.05)
    assert first.p99_ms <= first.max_ms


def test_latency_open_hour_survives_a_restart(db: Path) -> None:
    samples = [make(i * 30, U, latency=float(10 + i % 90)) for i in range(150)]  # 75 minutes
    whole = Ledger(db.with_name("whole.db"))
    whole.record(samples)
    expected = whole.latency_hours("api", T0, T0 + timedelta(hours=2))
    whole.close()
    for cut in (40, 120, 121):
        path = db.with_name(f"cut{cut}.db")
        first = Ledger(path)
        first.record(samples[:cut])
        first.close()
        second = Ledger(path)
        second.record(samples[cut:])
        assert second.latency_hours("api", T0, T0 + timedelta(hours=2)) == expected
        second.close()
    assert [h.count for h in expected] == [120, 30]
    assert Ledger(db).latency_hours("nope", T0, T0 + timedelta(hours=1)) == []


def test_histogram_blob_round_trips() -> None:
    hist = HourHistogram(7)
    for i, ms in enumerate((0.0, 1.0, 80.0, 80.5, 1e9)):
        hist.add(i, ms)
    back = HourHistogram.restore(7, hist.count, hist.sum_ms, hist.max_ms, hist.last_ms,
                                 hist.blob())
    assert back == hist


# ---- schema --------------------------------------------------------------------------------

V1_SCHEMA = """
CREATE TABLE services (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE locations (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE minute_runs (service_id INTEGER NOT NULL REFERENCES services (id),
    location_id INTEGER NOT NULL REFERENCES locations (id), start INTEGER NOT NULL,
    end INTEGER NOT NULL, state INTEGER NOT NULL CHECK (state BETWEEN 1 AND 3),
    PRIMARY KEY (service_id, location_id, start)) WITHOUT ROWID;
CREATE TABLE folder_state (service_id INTEGER NOT NULL REFERENCES services (id),
    location_id INTEGER NOT NULL REFERENCES locations (id), minute INTEGER NOT NULL,
    worst INTEGER NOT NULL, last_ms INTEGER NOT NULL, last_state INTEGER NOT NULL,
    interval_ms INTEGER NOT NULL, PRIMARY KEY (service_id, location_id)) WITHOUT ROWID;
CREATE TABLE checks (service_id INTEGER NOT NULL REFERENCES services (id),
    location_id INTEGER NOT NULL REFERENCES locations (id), ts_ms INTEGER NOT NULL,
    ok INTEGER NOT NULL, latency_ms REAL, status INTEGER, error TEXT,
    detail TEXT NOT NULL DEFAULT '', PRIMARY KEY (service_id, ts_ms, location_id)) WITHOUT ROWID;
CREATE INDEX checks_failures ON checks (service_id, ts_ms) WHERE ok = 0;
"""


def test_a_version_1_database_is_migrated_with_its_data(db: Path) -> None:
    t_ms = int(T0.timestamp() * 1000)
    conn = sqlite3.connect(db)
    conn.executescript(V1_SCHEMA)
    conn.executescript(f"""
        INSERT INTO services VALUES (1, 'api');
        INSERT INTO locations VALUES (1, 'local');
        INSERT INTO minute_runs VALUES (1, 1, {M0}, {M0 + 3}, 1), (1, 1, {M0 + 3}, {M0 + 4}, 3);
        INSERT INTO folder_state VALUES (1, 1, {M0 + 4}, 1, {t_ms + 240_000}, 1, 60000);
        INSERT INTO checks VALUES (1, 1, {t_ms + 180_000}, 0, NULL, 503, 'http_status', '');
        PRAGMA user_version = 1;
    """)
    conn.close()
    led = Ledger(db)
    assert led.runs("api", *WINDOW) == runs([(0, 3, U), (3, 4, D), (4, 6, U)])
    assert [c.error for c in led.failures("api", T0)] == [ErrorKind.HTTP_STATUS]
    assert led.last_write() is None
    assert led.latency_hours("api", T0, T0 + timedelta(hours=1)) == []
    led.record([make(300, U, latency=20.0)])
    assert led.runs("api", *WINDOW) == runs([(0, 3, U), (3, 4, D), (4, 7, U)])
    assert [h.count for h in led.latency_hours("api", T0, T0 + timedelta(hours=1))] == [1]
    led.close()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone() == (LATEST,)
    conn.close()


def test_a_newer_database_is_refused(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 7")
    conn.close()
    with pytest.raises(LedgerError) as err:
        Ledger(db)
    assert str(err.value) == (
        f"upwatch.db has schema version 7, this upwatch knows up to {LATEST}: upgrade upwatch"
    )


def test_a_file_that_is_not_a_database_is_refused(db: Path) -> None:
    db.write_bytes(b"this is not sqlite\n" * 100)
    with pytest.raises(LedgerError, match=r"^upwatch\.db is not an upwatch database: "):
        Ledger(db)


def test_a_path_that_cannot_be_opened_is_reported(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / "upwatch.db"
    with pytest.raises(LedgerError) as err:
        Ledger(missing)
    assert str(err.value) == f"cannot open {missing}: unable to open database file"


def test_opened_in_wal_mode_and_integrity_ok(ledger: Ledger, db: Path) -> None:
    ledger.record([make(0)])
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    conn.close()
    assert ledger.integrity_ok()


def test_integrity_ok_is_false_for_a_damaged_file(db: Path) -> None:
    led = Ledger(db, keep_successes=100_000)
    led.record([make(s, U, detail="x" * 200) for s in range(2000)])
    led.close()  # checkpoints the WAL into the main file
    data = bytearray(db.read_bytes())
    page = 4096
    last_page = len(data) // page - 1
    data[last_page * page + 8: (last_page + 1) * page] = b"\xff" * (page - 8)
    db.write_bytes(bytes(data))
    led = Ledger(db)
    assert not led.integrity_ok()
    led.close()


def test_reads_from_another_thread_are_serialized(ledger: Ledger) -> None:
    seen: list[list[Run]] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def reader() -> None:
        try:
            while not done.is_set():
                seen.append(ledger.runs("api", *WINDOW))
        except BaseException as exc:
            errors.append(exc)

    ledger.record([make(0, U)])
    thread = threading.Thread(target=reader)
    thread.start()
    for m in range(1, 60):
        ledger.record([make(m * 60, U)])
    done.set()
    thread.join()
    assert errors == []
    assert seen and all(len(r) == 1 and r[0].start == M0 and r[0].state == U for r in seen)


# ---- cross-check with the pure fold -------------------------------------------------------

check_stream = st.lists(
    st.tuples(st.integers(0, 90 * 60_000), st.sampled_from([U, G, D]),
              st.sampled_from([30_000, 60_000, 300_000]), st.sampled_from(["local", "eu"])),
    min_size=1, max_size=40, unique_by=lambda c: (c[0], c[3]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(checks=check_stream, data=st.data())
def test_batches_and_restarts_give_exactly_the_pure_fold(
    checks: list[tuple[int, State, int, str]], data: st.DataObject
) -> None:
    checks.sort()
    cuts = sorted(data.draw(st.sets(st.integers(1, len(checks)), max_size=6)) | {len(checks)})
    reopen = data.draw(st.lists(st.booleans(), min_size=len(cuts), max_size=len(cuts)))
    obs = [make(ts / 1000, state, interval / 1000, location=loc)
           for ts, state, interval, loc in checks]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "upwatch.db"
        led = Ledger(path)
        lo = 0
        for cut, again in zip(cuts, reopen, strict=True):
            batch = data.draw(st.permutations(obs[lo:cut]))
            led.record(batch)
            lo = cut
            if again:
                led.close()
                led = Ledger(path)
        for loc in ("local", "eu"):
            mine = [(ts + int(T0.timestamp() * 1000), state, interval)
                    for ts, state, interval, where in checks if where == loc]
            expected = list(clip(fold(mine), *WINDOW))
            assert led.runs("api", *WINDOW, location=loc) == expected
        before = led.runs_many(["api"], *WINDOW, location="eu")
        led.record(obs)  # re-importing everything changes nothing
        assert led.runs_many(["api"], *WINDOW, location="eu") == before
        led.close()
