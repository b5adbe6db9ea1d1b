"""Declared windows in the ledger: stored as given, cancelled once, never rewritten or deleted."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ledger_sql import query

from monitor.core.windows import WindowKind
from monitor.store.ledger import DeclaredWindow, Ledger, LedgerError
from monitor.store.schema import LATEST, MIGRATIONS

T0 = datetime(2026, 10, 1, 2, 0, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "upwatch.db"


@pytest.fixture
def ledger(db: Path) -> Iterator[Ledger]:
    led = Ledger(db)
    yield led
    led.close()


def add(led: Ledger, start: datetime = T0, hours: int = 1, *, kind: WindowKind = "maintenance",
        services: tuple[str, ...] = ("api",), title: str = "Upgrade") -> DeclaredWindow:
    return led.add_window(
        kind=kind, services=services,
        start=start, end=start + hours * H, title=title, declared_at=T0 - 24 * H,
        declared_by="cli:alice", warnings=("start: a warning",))


def test_a_window_is_stored_and_read_back_as_given(ledger: Ledger, db: Path) -> None:
    w = ledger.add_window(
        kind="exclusion", services=("web", "api"), start=T0 + timedelta(milliseconds=250),
        end=T0 + H, title="Upstream DNS outage", declared_at=T0 + 2 * H,
        declared_by="api:ops", warnings=("one", "two ünïcode"))
    expected = DeclaredWindow(
        id="1", kind="exclusion", services=("web", "api"),
        start=T0 + timedelta(milliseconds=250), end=T0 + H, title="Upstream DNS outage",
        declared_at=T0 + 2 * H, declared_by="api:ops", cancelled_at=None,
        warnings=("one", "two ünïcode"), cancelled_by=None)
    assert w == expected
    assert ledger.window(1) == expected
    ledger.close()
    reopened = Ledger(db)
    assert reopened.window(1) == expected
    assert expected.number == 1
    reopened.close()


def test_an_unknown_id_is_none(ledger: Ledger) -> None:
    assert ledger.window(7) is None
    assert ledger.cancel_window(7, at=T0, by="cli:bob") is None


def test_cancelling_keeps_the_record_and_the_first_cancellation_stands(ledger: Ledger) -> None:
    w = add(ledger)
    first = ledger.cancel_window(w.number, at=T0 + H / 2, by="cli:bob")
    assert first is not None
    assert (first.cancelled_at, first.cancelled_by) == (T0 + H / 2, "cli:bob")
    assert (first.start, first.end, first.title) == (w.start, w.end, w.title)
    again = ledger.cancel_window(w.number, at=T0 + H, by="api:admin")
    assert again == first
    assert ledger.windows() == [first]


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("DELETE FROM windows", "declared windows are never deleted: cancel them"),
        ("DELETE FROM window_services", "declared windows are never deleted: cancel them"),
        ("UPDATE windows SET end_ms = end_ms + 1",
         "declared windows are never rewritten: cancel and declare anew"),
        ("UPDATE windows SET title = 'x'",
         "declared windows are never rewritten: cancel and declare anew"),
        ("UPDATE window_services SET service = 'web'",
         "declared windows are never rewritten: cancel and declare anew"),
        ("UPDATE windows SET cancelled_at_ms = 1, cancelled_by = 'x'",
         "a window is cancelled only once"),
    ],
    ids=["delete", "delete-services", "move-end", "retitle", "change-service", "cancel-twice"],
)
def test_the_schema_refuses_to_rewrite_history(
    ledger: Ledger, db: Path, statement: str, message: str
) -> None:
    w = add(ledger)
    ledger.cancel_window(w.number, at=T0, by="cli:bob")
    conn = sqlite3.connect(db)
    with pytest.raises(sqlite3.IntegrityError, match=f"^{message}$"):
        conn.execute(statement)
    conn.close()
    assert ledger.window(w.number) == ledger.windows()[0]


def test_an_inverted_window_is_refused_and_nothing_is_stored(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match=r"^storing a maintenance window failed: CHECK"):
        ledger.add_window(kind="maintenance", services=("api",), start=T0, end=T0,
                          title="x", declared_at=T0, declared_by="cli:a")
    with pytest.raises(LedgerError, match=r"^a window needs at least one service$"):
        ledger.add_window(kind="maintenance", services=(), start=T0, end=T0 + H,
                          title="x", declared_at=T0, declared_by="cli:a")
    assert ledger.windows() == []


def test_windows_filter_by_kind_range_and_service(ledger: Ledger) -> None:
    a = add(ledger, T0, 2, services=("api",))                       # 02:00-04:00
    b = add(ledger, T0 + 5 * H, 1, kind="exclusion", services=("web", "api"))  # 07:00-08:00
    c = add(ledger, T0 - 3 * H, 1, services=("web",))                # 23:00-00:00
    assert [w.id for w in ledger.windows()] == [c.id, a.id, b.id]  # by start
    assert ledger.windows(kind="exclusion") == [b]
    assert ledger.windows(service="web") == [c, b]
    assert ledger.windows(service="nope") == []
    # [start, end) overlap: touching at an end is not overlapping
    assert ledger.windows(start=T0 + 4 * H, end=T0 + 5 * H) == []
    assert ledger.windows(start=T0 + 1 * H, end=T0 + 5 * H + timedelta(seconds=1)) == [a, b]
    assert ledger.windows(end=T0) == [c]
    assert ledger.windows(start=T0 - 2 * H, kind="maintenance", service="api") == [a]


def test_a_version_3_database_gains_the_windows_tables(db: Path) -> None:
    conn = sqlite3.connect(db)
    for migration in MIGRATIONS[:3]:
        for statement in migration:
            conn.execute(statement)
    conn.execute("INSERT INTO services (name) VALUES ('api')")
    conn.execute("PRAGMA user_version = 3")
    conn.commit()
    conn.close()
    led = Ledger(db)
    assert query(db, "SELECT name FROM services") == [("api",)]
    assert add(led).id == "1"
    led.close()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone() == (LATEST,)
    conn.close()
