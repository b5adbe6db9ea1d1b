"""What a ledger file holds, read with plain sqlite3 beside the ``Ledger`` that writes it.

A second connection sees every commit (the ledger is in WAL mode), so tests can check what is
stored without the ledger having a method that only tests would call.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any


def query(db: Path, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
    """The rows ``sql`` selects, as tuples."""
    with closing(sqlite3.connect(db)) as con:
        return con.execute(sql, params).fetchall()


def rows(db: Path, sql: str, params: Sequence[object] = ()) -> list[dict[str, Any]]:
    """The rows ``sql`` selects, as dicts by column name."""
    with closing(sqlite3.connect(db)) as con:
        con.row_factory = sqlite3.Row
        return [dict(r) for r in con.execute(sql, params)]


def outbox(db: Path) -> list[dict[str, Any]]:
    """Every notification outbox row, oldest first."""
    return rows(db, "SELECT * FROM outbox ORDER BY id")


def checks(db: Path, service: str) -> list[tuple[int, str, bool]]:
    """The raw checks kept for ``service``, newest first: ``(ts_ms, location, ok)``."""
    return [(ts, loc, bool(ok)) for ts, loc, ok in query(
        db, "SELECT c.ts_ms, l.name, c.ok FROM checks AS c "
        "JOIN services AS s ON s.id = c.service_id JOIN locations AS l ON l.id = c.location_id "
        "WHERE s.name = ? ORDER BY c.ts_ms DESC, c.location_id DESC", (service,))]


def integrity_ok(db: Path) -> bool:
    return query(db, "PRAGMA integrity_check") == [("ok",)]


def tables(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, in a stable order."""
    names = [n for (n,) in query(db, "SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {n: sorted(query(db, f"SELECT * FROM {n}"), key=repr) for n in names}
