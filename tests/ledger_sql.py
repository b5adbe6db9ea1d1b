"""What a ledger holds, read with plain sqlite3 (or psycopg) beside the ``Ledger`` that writes it.

A second connection sees every commit (the ledger is in WAL mode), so tests can check what is
stored without the ledger having a method that only tests would call. ``db`` is an SQLite file
or a PostgreSQL URL (tests/pg.py); ``?`` placeholders work on both.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row


def query(db: str | Path, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
    """The rows ``sql`` selects, as tuples."""
    if isinstance(db, str):
        with psycopg.connect(db) as pg:
            return [tuple(r) for r in pg.execute(sql.replace("?", "%s"), params).fetchall()]
    with closing(sqlite3.connect(db)) as con:
        return con.execute(sql, params).fetchall()


def rows(db: str | Path, sql: str, params: Sequence[object] = ()) -> list[dict[str, Any]]:
    """The rows ``sql`` selects, as dicts by column name."""
    if isinstance(db, str):
        with psycopg.connect(db, row_factory=dict_row) as pg:
            return pg.execute(sql.replace("?", "%s"), params).fetchall()
    with closing(sqlite3.connect(db)) as con:
        con.row_factory = sqlite3.Row
        return [dict(r) for r in con.execute(sql, params)]


def outbox(db: str | Path) -> list[dict[str, Any]]:
    """Every notification outbox row, oldest first."""
    return rows(db, "SELECT * FROM outbox ORDER BY id")


def checks(db: str | Path, service: str) -> list[tuple[int, str, bool]]:
    """The raw checks kept for ``service``, newest first: ``(ts_ms, location, ok)``."""
    return [(ts, loc, bool(ok)) for ts, loc, ok in query(
        db, "SELECT c.ts_ms, l.name, c.ok FROM checks AS c "
        "JOIN services AS s ON s.id = c.service_id JOIN locations AS l ON l.id = c.location_id "
        "WHERE s.name = ? ORDER BY c.ts_ms DESC, c.location_id DESC", (service,))]


def integrity_ok(db: Path) -> bool:
    return query(db, "PRAGMA integrity_check") == [("ok",)]


def table_names(db: str | Path) -> list[str]:
    if isinstance(db, str):
        return [n for (n,) in query(db, "SELECT table_name FROM information_schema.tables "
                                        "WHERE table_schema = current_schema()")]
    return [n for (n,) in query(db, "SELECT name FROM sqlite_master WHERE type = 'table'")]


def tables(db: str | Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, in a stable order."""
    names = table_names(db)
    return {n: sorted(query(db, f"SELECT * FROM {n}"), key=repr) for n in names}
