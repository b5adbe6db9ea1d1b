"""The ledger through its public API: minutes, restarts, backfill, checks, latency, schema."""

from __future__ import annotations

import random
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ledger_sql import checks as kept_checks
from ledger_sql import integrity_ok, query, tables

from monitor.core.checks import CheckResult, ErrorKind, Observation, State
from monitor.core.clock import FakeClock
from monitor.core.minutes import Run, clip, fold
from monitor.store.latency import HourHistogram, unpack_day
from monitor.store.ledger import Ledger, LedgerError, StoredCheck
from monitor.store.pg_ddl import PostgresOnly
from monitor.store.schema import LATEST, MIGRATIONS, to_ms

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


@pytest.fixture
def either(ledger_target: str | Path, clock: FakeClock) -> Iterator[Ledger]:
    """A ledger on each engine in turn (SQLite, PostgreSQL): the tests of what it stores."""
    led = Ledger(ledger_target, clock=clock)
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
    either: Ledger, checks: list[tuple[float, State, float]], expected: list[tuple[int, int, State]]
) -> None:
    either.record(stream(checks))
    assert either.runs("api", *WINDOW) == runs(expected)
    assert either.runs_many(["api", "nope"], *WINDOW) == {"api": runs(expected), "nope": []}


@pytest.mark.parametrize(("checks", "expected"), DESIGN_CASES)
def test_restart_between_records_changes_nothing(
    new_target: Callable[[], str | Path], checks: list[tuple[float, State, float]],
    expected: list[tuple[int, int, State]],
) -> None:
    obs = stream(checks)
    for cut in range(1, len(obs)):
        path = new_target()
        first = Ledger(path)
        first.record(obs[:cut])
        first.close()
        second = Ledger(path)
        second.record(obs[cut:])
        assert second.runs("api", *WINDOW) == runs(expected), f"restart after check {cut}"
        second.close()


def test_runs_clips_to_the_range_and_merges_the_pending_tail(either: Ledger) -> None:
    either.record(stream([(m * 60, U, 60) for m in range(10)] + [(600, D, 60)]))
    assert either.runs("api", M0 + 3, M0 + 11) == runs([(3, 10, U), (10, 11, D)])
    assert either.runs("api", M0 + 10, M0 + 10) == []
    assert either.runs("api", *WINDOW, location="eu") == []
    assert either.runs("nope", *WINDOW) == []


def test_a_steady_service_is_stored_as_one_row(ledger: Ledger, db: Path) -> None:
    for m in range(300):
        ledger.record([make(m * 60, U)])
    ledger.record([make(300 * 60 + 20, D), make(301 * 60, U)])
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT start - ?, end - ?, state FROM minute_runs", (M0, M0)).fetchall()
    conn.close()
    assert rows == [(0, 300, U), (300, 301, D)]  # 10:301 is the pending tail
    assert ledger.runs("api", M0, M0 + 400) == runs([(0, 300, U), (300, 301, D), (301, 303, U)])


def test_locations_fold_separately(either: Ledger) -> None:
    either.record([make(0, D, location="eu"), make(0, U), make(60, U, location="eu")])
    assert either.runs("api", *WINDOW) == runs([(0, 2, U)])
    assert either.runs("api", *WINDOW, location="eu") == runs([(0, 1, D), (1, 3, U)])


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
    either: Ledger, older: list[tuple[float, State, float]],
    expected: list[tuple[int, int, State]],
) -> None:
    either.record(stream(LIVE))
    either.record(stream(older))
    assert either.runs("api", *WINDOW) == runs(expected)
    either.record([make(21 * 60, U)])  # the live fold goes on from its tail
    assert either.runs("api", *WINDOW) == runs(expected[:-1]) + runs([(expected[-1][0], 23, U)])


def snapshot(led: Ledger, db: Path) -> tuple[object, ...]:
    """The runs read back, and every row stored (raw checks, latency hours, services …)."""
    return led.runs("api", *WINDOW), led.runs("api", *WINDOW, location="eu"), tables(db)


def test_reimport_of_the_same_checks_changes_nothing(ledger: Ledger, db: Path) -> None:
    rng = random.Random(7)
    lines = [make(s * 20, rng.choice([U, U, U, G, D]), 60, latency=rng.uniform(5, 500),
                  location=rng.choice(["local", "eu"])) for s in range(400)]
    ledger.record(lines)
    before = snapshot(ledger, db)
    ledger.record(lines)
    assert snapshot(ledger, db) == before
    for size in (37, 1):  # in any batching
        for i in range(0, len(lines), size):
            ledger.record(lines[i:i + size])
        assert snapshot(ledger, db) == before


def test_a_failed_record_leaves_no_trace(ledger: Ledger, db: Path) -> None:
    ledger.record(stream([(0, U, 60)]))
    naive = Observation(CheckResult("api", datetime(2026, 10, 1, 10, 2), True), U, 60_000)
    with pytest.raises(LedgerError, match="timezone-aware"):
        ledger.record([make(60, D, service="new"), make(60, D), naive])
    with pytest.raises(LedgerError, match="positive interval"):
        ledger.record([make(60, D), Observation(make(70).result, State.NODATA, 60_000)])
    assert query(db, "SELECT name FROM services") == [("api",)]
    assert ledger.runs("api", *WINDOW) == runs([(0, 2, U)])
    ledger.record([make(60, D, service="new"), make(60, U)])
    assert ledger.runs("api", *WINDOW) == runs([(0, 3, U)])
    assert ledger.runs("new", *WINDOW) == runs([(1, 3, D)])


def test_the_last_check_round_trips(ledger: Ledger, db: Path) -> None:
    ledger.record([make(0, U, latency=12.5), make(60, D, detail="503 from upstream"),
                   make(59, U, location="eu", latency=40.0)])
    assert ledger.last_check("api") == StoredCheck(
        "api", "local", T0 + timedelta(seconds=60), False, None, 503, ErrorKind.HTTP_STATUS,
        "503 from upstream")
    ledger.record([make(120, U, location="eu", latency=12.5)])
    assert ledger.last_check("api") == StoredCheck(
        "api", "eu", T0 + timedelta(seconds=120), True, 12.5, 200, None, "")
    assert ledger.last_check("nope") is None
    assert kept_checks(db, "api") == [  # newest first
        (to_ms(T0 + timedelta(seconds=s)), loc, ok)
        for s, loc, ok in ((120, "eu", True), (60, "local", False), (59, "eu", True),
                           (0, "local", True))]


def test_each_record_stamps_the_last_write(ledger: Ledger, db: Path, clock: FakeClock) -> None:
    def last_write() -> list[tuple[object, ...]]:  # auditors read it (docs/auditing.md)
        return query(db, "SELECT value FROM meta WHERE key = 'last_write'")

    assert last_write() == []
    ledger.record([make(0, service="web"), make(0, service="api")])
    assert last_write() == [(to_ms(clock.now()),)]
    clock.advance(90)
    ledger.record([])
    assert last_write() == [(to_ms(clock.now() - timedelta(seconds=90)),)]


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
    assert kept_checks(db, "api") == [
        (to_ms(T0 + timedelta(minutes=5)), "local", True),
        (to_ms(T0 + timedelta(minutes=4)), "local", True),
        (to_ms(T0 + timedelta(minutes=3)), "local", True),
        (to_ms(T0 - timedelta(days=1)), "local", False),
    ]
    assert len(kept_checks(db, "web")) == 2
    assert led.runs("api", M0 - 5, M0 + 10) == runs([(0, 7, U)]), "prune keeps the minutes"
    led.close()


def test_keep_successes_also_bounds_one_big_batch(db: Path) -> None:
    led = Ledger(db, keep_successes=5)
    led.record([make(s, U) for s in range(50)] + [make(7.5, D)])
    assert [ts for ts, _, _ in kept_checks(db, "api")] == [
        to_ms(T0 + timedelta(seconds=s)) for s in (49, 48, 47, 46, 45, 7.5)]
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
    ledger: Ledger, db: Path, latencies: list[float], count: int, mean: float, top: float,
    p50: float, p95: float, p99: float,
) -> None:
    ledger.record([make(i * 3, U, latency=ms) for i, ms in enumerate(latencies)]
                  + [make(i * 3 + 1, D, latency=9999.0) for i in range(5)])  # failures: no latency
    ledger.record([make(3600, U, latency=1.0)])  # the next hour closes this one
    hour = to_ms(T0) // 3_600_000
    assert query(db, "SELECT hour, count FROM latency_open") == [(hour + 1, 1)]
    [(closed, n, *dms)] = closed_hours(db)  # latencies in tenths of a millisecond
    mean_ms, max_ms, p50_ms, p95_ms, p99_ms = (v / 10 for v in dms)
    assert (closed, n, max_ms) == (hour, count, top)
    assert mean_ms == pytest.approx(mean, abs=0.05)
    for got, want in ((p50_ms, p50), (p95_ms, p95), (p99_ms, p99)):
        assert got == pytest.approx(want, rel=0.1, abs=0.05)
    assert p99_ms <= max_ms


def closed_hours(path: Path) -> list[tuple[int, ...]]:
    """``(hour, count, mean_dms, max_dms, p50_dms, p95_dms, p99_dms)`` of every closed hour."""
    return [hour for day, blob in query(path, "SELECT day, hours FROM latency_days ORDER BY "
                                              "service_id, location_id, day")
            for hour in unpack_day(day, blob)]


def test_latency_open_hour_survives_a_restart(db: Path) -> None:
    def latency(path: Path) -> tuple[object, ...]:
        return (closed_hours(path), query(path, "SELECT * FROM latency_open"))

    samples = [make(i * 30, U, latency=float(10 + i % 90)) for i in range(150)]  # 75 minutes
    whole = Ledger(db.with_name("whole.db"))
    whole.record(samples)
    whole.close()
    expected = latency(db.with_name("whole.db"))
    for cut in (40, 120, 121):
        path = db.with_name(f"cut{cut}.db")
        first = Ledger(path)
        first.record(samples[:cut])
        first.close()
        second = Ledger(path)
        second.record(samples[cut:])
        assert latency(path) == expected
        second.close()
    closed, still_open = expected
    assert [row[1] for row in closed] + [row[3] for row in still_open] == [120, 30]  # counts


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
    last = led.last_check("api")
    assert last is not None and last.error == ErrorKind.HTTP_STATUS
    assert query(db, "SELECT * FROM meta") == []
    assert query(db, "SELECT count FROM latency_open") == []
    led.record([make(300, U, latency=20.0)])
    assert led.runs("api", *WINDOW) == runs([(0, 3, U), (3, 4, D), (4, 7, U)])
    assert query(db, "SELECT count FROM latency_open") == [(1,)]
    led.close()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone() == (LATEST,)
    conn.close()


def test_every_migration_path_ends_in_one_schema_and_a_current_file_opens_unchanged(
    db: Path,
) -> None:
    def schema(path: Path) -> object:
        return (query(path, "PRAGMA user_version"),
                query(path, "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name"))

    Ledger(db).close()
    fresh = schema(db)
    for version in range(1, LATEST):
        path = db.with_name(f"v{version}.db")
        conn = sqlite3.connect(path)
        for migration in MIGRATIONS[:version]:
            for step in migration:
                if isinstance(step, str) and not isinstance(step, PostgresOnly):
                    conn.execute(step)
        conn.execute(f"PRAGMA user_version = {version}")
        conn.commit()
        conn.close()
        Ledger(path).close()
        assert schema(path) == fresh, f"migrated from version {version}"
    led = Ledger(db)
    led.record([make(0, U), make(60, D)])
    led.close()
    before = schema(db), tables(db)
    Ledger(db).close()
    assert (schema(db), tables(db)) == before


def test_a_newer_database_is_refused(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {LATEST + 1}")
    conn.close()
    with pytest.raises(LedgerError) as err:
        Ledger(db)
    assert str(err.value) == (
        f"upwatch.db has schema version {LATEST + 1}, this upwatch knows up to {LATEST}: "
        "upgrade upwatch"
    )


def test_someone_elses_database_is_refused_and_left_as_it_was(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.executescript("CREATE TABLE moz_places (url TEXT); CREATE VIEW recent AS SELECT 1;")
    conn.close()
    before = db.read_bytes()
    with pytest.raises(LedgerError) as err:
        Ledger(db)
    assert str(err.value) == (
        "upwatch.db is an SQLite database but not an upwatch ledger (it holds moz_places, "
        "recent): point --db at an upwatch ledger or at a new file"
    )
    conn = sqlite3.connect(db)
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master ORDER BY name")]
    conn.close()
    assert names == ["moz_places", "recent"]  # nothing of upwatch's was added
    assert len(db.read_bytes()) == len(before)


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
    assert query(db, "PRAGMA journal_mode") == [("wal",)]
    assert integrity_ok(db)


def test_reads_from_another_thread_are_serialized(ledger: Ledger) -> None:
    # 1. A read called from another thread while a transaction is half done waits for all of
    # it. (The ledger has one connection: a read let in early would see the first window.)
    inside, calling = threading.Event(), threading.Event()
    titles: list[list[str]] = []

    def declare(led: Ledger, title: str) -> None:
        led.add_window(kind="maintenance", services=("api",), start=T0,
                       end=T0 + timedelta(hours=1), title=title, declared_at=T0,
                       declared_by="test")

    def read_titles() -> None:
        inside.wait()
        calling.set()
        titles.append([w.title for w in ledger.windows()])

    def two_windows(led: Ledger) -> None:
        declare(led, "first")
        inside.set()
        calling.wait()  # the reader is calling windows() now: it must wait for "second"
        declare(led, "second")

    thread = threading.Thread(target=read_titles)
    thread.start()
    ledger.atomically(two_windows)
    thread.join()
    assert titles == [["first", "second"]]

    # 2. Reads looping beside a stream of commits (the first read before the first commit)
    # see whole commits only, and never fail.
    seen: list[list[Run]] = []
    errors: list[BaseException] = []
    reading, done = threading.Event(), threading.Event()

    def reader() -> None:
        try:
            while not done.is_set():
                seen.append(ledger.runs("api", *WINDOW))
                reading.set()
        except BaseException as exc:
            errors.append(exc)
            reading.set()

    ledger.record([make(0, U)])
    thread = threading.Thread(target=reader)
    thread.start()
    reading.wait()
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


# new_target gives each example a ledger of its own: the function-scoped fixture is safe here
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(checks=check_stream, data=st.data())
def test_batches_and_restarts_give_exactly_the_pure_fold(
    new_target: Callable[[], str | Path], checks: list[tuple[int, State, int, str]],
    data: st.DataObject,
) -> None:
    checks.sort()
    cuts = sorted(data.draw(st.sets(st.integers(1, len(checks)), max_size=6)) | {len(checks)})
    reopen = data.draw(st.lists(st.booleans(), min_size=len(cuts), max_size=len(cuts)))
    obs = [make(ts / 1000, state, interval / 1000, location=loc)
           for ts, state, interval, loc in checks]
    path = new_target()
    led = Ledger(path)
    try:
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
    finally:
        led.close()


def test_ready_to_record_stamps_the_start(ledger: Ledger, db: Path, clock: FakeClock) -> None:
    ledger.ready_to_record()
    conn = sqlite3.connect(db)
    stamp = conn.execute("SELECT value FROM meta WHERE key = 'last_start'").fetchone()[0]
    conn.close()
    assert stamp == int(clock.now().timestamp() * 1000)


def test_ready_to_record_refuses_a_ledger_that_takes_no_writes(ledger: Ledger) -> None:
    # Root ignores file modes, so the read-only file is the connection's own switch here;
    # bench/faults.py does it for real on a read-only mount.
    ledger._conn.execute("PRAGMA query_only = ON")
    with pytest.raises(LedgerError) as err:
        ledger.ready_to_record()
    assert str(err.value) == (
        "writing to upwatch.db failed: attempt to write a readonly database; upwatch run needs "
        "to write to its ledger (check the file's and its folder's permissions, and free space)")


def test_ready_to_record_refuses_a_damaged_ledger(db: Path, clock: FakeClock) -> None:
    led = Ledger(db, clock=clock)
    led.record([make(60.0 * i, D if i % 7 else U) for i in range(3000)])
    led.close()
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'checks'").fetchone()[0]
    conn.close()
    with db.open("r+b") as f:  # scribble over the checks table's first page, past its header
        f.seek((root - 1) * page_size + 100)
        f.write(b"\xff" * (page_size - 200))
    led = Ledger(db, clock=clock)  # the schema page is whole: it opens
    try:
        with pytest.raises(LedgerError) as err:
            led.ready_to_record()
    finally:
        led.close()
    assert str(err.value).startswith("upwatch.db is damaged (")
    assert str(err.value).endswith(
        "); restore it from a backup, or move it aside and start with a new file")


def test_a_second_writer_on_the_file_is_caught_up_with_not_overwritten(
    ledger_target: str | Path, clock: FakeClock
) -> None:
    """``upwatch import`` beside ``run``: the import stores a failed check in the minute whose
    fold ``run`` holds in memory; run's next commit must keep it (worst-of), not write its
    older tail over it."""
    run = Ledger(ledger_target, clock=clock)
    run.record([make(0, U), make(60, U)])  # run's fold now holds minute M0+1 pending, up
    other = Ledger(ledger_target, clock=clock)
    other.record([make(75, D)])  # the import: down inside that same minute
    other.close()
    run.record([make(120, U), make(180, U)])  # run moves on and commits
    assert run.runs("api", M0, M0 + 4) == runs([(0, 1, U), (1, 2, D), (2, 4, U)])
    run.close()
    fresh = Ledger(ledger_target, clock=clock)
    assert fresh.runs("api", M0, M0 + 4) == runs([(0, 1, U), (1, 2, D), (2, 4, U)])
    fresh.close()


def test_a_service_added_by_another_writer_is_no_unique_error(
    ledger_target: str | Path, clock: FakeClock
) -> None:
    run = Ledger(ledger_target, clock=clock)
    other = Ledger(ledger_target, clock=clock)
    other.record([make(0, U, service="web")])
    other.close()
    run.record([make(60, D, service="web")])  # would INSERT "web" again without catching up
    assert run.runs("web", M0, M0 + 2) == [Run(M0, M0 + 1, U), Run(M0 + 1, M0 + 2, D)]
    run.close()


def test_a_reader_sees_the_minutes_another_process_holds_pending(
    ledger_target: str | Path, clock: FakeClock
) -> None:
    """A standby replica (or ``upwatch report`` beside ``run``) reads what the writer recorded,
    the minute it still holds pending included."""
    reader = Ledger(ledger_target, clock=clock)
    writer = Ledger(ledger_target, clock=clock)
    try:
        assert reader.read_only(lambda led: led.runs("api", *WINDOW)) == []
        writer.record([make(0, U), make(60, D)])  # minute 1 is still pending in the writer
        assert reader.read_only(lambda led: led.runs("api", *WINDOW)) == runs(
            [(0, 1, U), (1, 3, D)])
    finally:
        reader.close()
        writer.close()
