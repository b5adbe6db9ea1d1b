"""Storage of maintenance windows and exclusions declared at run time (CLI or admin API).

Functions over the ledger's connection, called by the thin :class:`monitor.store.ledger.Ledger`
methods that hold its lock. A window is inserted once and may later be cancelled once; nothing
is rewritten or deleted (the schema's triggers refuse it), so the table is the audit trail.
Times are stored as epoch milliseconds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from monitor.core.windows import Window, WindowKind
from monitor.store.database import Database
from monitor.store.schema import LedgerError, from_ms, to_ms, transaction

__all__ = ["DeclaredWindow", "cancel_window", "find_windows", "get_window", "insert_window"]

_COLUMNS = (
    "id, kind, start_ms, end_ms, title, declared_at_ms, declared_by, cancelled_at_ms, "
    "cancelled_by, warnings"
)


@dataclass(frozen=True)
class DeclaredWindow(Window):
    """A window from the database: ``id`` is its database id as text, ``declared_at`` is set.

    ``warnings`` are those given when it was declared; ``cancelled_by`` says who cancelled it.
    """

    warnings: tuple[str, ...] = ()
    cancelled_by: str | None = None

    @property
    def number(self) -> int:
        """The database id."""
        return int(self.id)


def _opt_dt(ms: int | None) -> datetime | None:
    return None if ms is None else from_ms(ms)


def _read(conn: Database, where: str, params: Sequence[object]) -> list[DeclaredWindow]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM windows AS w {where} ORDER BY start_ms, id", params
    ).fetchall()
    if not rows:
        return []
    services: dict[int, list[str]] = {}
    ids = conn.list_param([row[0] for row in rows])
    for wid, name in conn.execute(
        "SELECT window_id, service FROM window_services "
        f"WHERE {conn.one_of('window_id')} ORDER BY window_id, position",
        (ids,),
    ):
        services.setdefault(wid, []).append(name)
    return [
        DeclaredWindow(
            id=str(wid), kind=kind, services=tuple(services.get(wid, ())),
            start=from_ms(start), end=from_ms(end), title=title,
            declared_at=from_ms(declared), declared_by=declared_by,
            cancelled_at=_opt_dt(cancelled), cancelled_by=cancelled_by,
            warnings=tuple(json.loads(warnings)),
        )
        for wid, kind, start, end, title, declared, declared_by, cancelled, cancelled_by, warnings
        in rows
    ]


def insert_window(
    conn: Database,
    *,
    kind: WindowKind,
    services: Sequence[str],
    start: datetime,
    end: datetime,
    title: str,
    declared_at: datetime,
    declared_by: str,
    warnings: Sequence[str] = (),
) -> DeclaredWindow:
    """Store a new window in one transaction and return it as stored."""
    if not services:
        raise LedgerError("a window needs at least one service")
    with transaction(conn, f"storing a {kind} window"):
        wid = conn.insert_id(
            "INSERT INTO windows (kind, start_ms, end_ms, title, declared_at_ms, declared_by, "
            "warnings) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (kind, to_ms(start), to_ms(end), title, to_ms(declared_at), declared_by,
             json.dumps(list(warnings), ensure_ascii=False)),
        )
        conn.executemany(
            "INSERT INTO window_services (window_id, position, service) VALUES (?, ?, ?)",
            ((wid, i, name) for i, name in enumerate(services)),
        )
    found = get_window(conn, wid)
    assert found is not None
    return found


def get_window(conn: Database, window_id: int) -> DeclaredWindow | None:
    found = _read(conn, "WHERE id = ?", (window_id,))
    return found[0] if found else None


def cancel_window(
    conn: Database, window_id: int, *, at: datetime, by: str
) -> DeclaredWindow | None:
    """Mark a window cancelled at ``at`` by ``by``; None if there is no such window.

    A window already cancelled is returned as it is: the first cancellation stands.
    """
    with transaction(conn, f"cancelling window {window_id}"):
        conn.execute(
            "UPDATE windows SET cancelled_at_ms = ?, cancelled_by = ? "
            "WHERE id = ? AND cancelled_at_ms IS NULL",
            (to_ms(at), by, window_id),
        )
    return get_window(conn, window_id)


def find_windows(
    conn: Database,
    *,
    kind: WindowKind | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    service: str | None = None,
) -> list[DeclaredWindow]:
    """Stored windows (cancelled ones included) ordered by start then id.

    Only those of ``kind``, those whose ``[start, end)`` overlaps the given bounds, and those
    that apply to ``service``, when given.
    """
    clauses: list[str] = []
    params: list[object] = []
    if kind is not None:
        clauses.append("kind = ?")
        params.append(kind)
    if end is not None:
        clauses.append("start_ms < ?")
        params.append(to_ms(end))
    if start is not None:
        clauses.append("end_ms > ?")
        params.append(to_ms(start))
    if service is not None:
        clauses.append(
            "EXISTS (SELECT 1 FROM window_services WHERE window_id = w.id AND service = ?)")
        params.append(service)
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    return _read(conn, where, params)
