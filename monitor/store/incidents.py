"""Storage of incidents, their updates and the notification outbox: functions over a connection.

Called by thin :class:`monitor.store.ledger.Ledger` methods that hold the ledger's lock. Every
function that writes runs in its own transaction, or inside the caller's when one is open
(:meth:`Ledger.atomically`), so an incident update and its outbox rows commit together.
Updates are never deleted; an incident's status, impact and services follow its updates.
The outbox holds one row per (event id, channel), its idempotency key: enqueueing the same
event again changes nothing. Times are stored as epoch milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.core.incidents import Impact, Incident, IncidentStatus, IncidentUpdate
from monitor.store.database import Database
from monitor.store.schema import LedgerError, from_ms, to_ms, transaction

__all__ = [
    "OutboxItem",
    "OutboxRow",
    "due_items",
    "enqueue",
    "find_incidents",
    "get_incident",
    "incident_by_key",
    "mark_dropped",
    "mark_retry",
    "mark_sent",
    "next_due",
    "open_incident",
    "post_update",
    "transaction",
]

_INCIDENT_COLUMNS = (
    "id, title, impact, severity, status, detected_at_ms, created_by, resolved_at_ms, "
    "detection_key")
_OUTBOX_COLUMNS = (
    "id, event_id, channel, kind, payload, created_at_ms, attempts, next_at_ms, last_error, "
    "sent_at_ms, dropped")


@dataclass(frozen=True)
class OutboxRow:
    """A delivery to enqueue; ``dropped`` (a reason) stores it as never to be sent."""

    event_id: str
    channel: str
    kind: str
    payload: str  # the event as JSON (monitor.notify.Event.dumps)
    dropped: str | None = None

    @property
    def idempotency_key(self) -> str:
        return f"{self.event_id}/{self.channel}"


@dataclass(frozen=True)
class OutboxItem:
    id: int
    event_id: str
    channel: str
    kind: str
    payload: str
    created_at: datetime
    attempts: int
    next_at: datetime
    last_error: str | None
    sent_at: datetime | None
    dropped: str | None

    @property
    def idempotency_key(self) -> str:
        return f"{self.event_id}/{self.channel}"


# ---- incidents ---------------------------------------------------------------------------

def _read(conn: Database, where: str, params: Sequence[object],
          tail: str = "ORDER BY detected_at_ms DESC, id DESC") -> list[Incident]:
    rows = conn.execute(f"SELECT {_INCIDENT_COLUMNS} FROM incidents {where} {tail}",
                        params).fetchall()
    if not rows:
        return []
    ids = conn.list_param([row[0] for row in rows])
    services: dict[int, list[str]] = {}
    for iid, name in conn.execute(
            "SELECT incident_id, service FROM incident_services WHERE "
            f"{conn.one_of('incident_id')} ORDER BY incident_id, service", (ids,)):
        services.setdefault(iid, []).append(name)
    updates: dict[int, list[IncidentUpdate]] = {}
    for uid, iid, at, status, body, author, human in conn.execute(
            "SELECT id, incident_id, at_ms, status, body, author, human FROM incident_updates "
            f"WHERE {conn.one_of('incident_id')} ORDER BY at_ms, id", (ids,)):
        updates.setdefault(iid, []).append(IncidentUpdate(
            uid, iid, from_ms(at), IncidentStatus(status), body, author, bool(human)))
    return [
        Incident(iid, title, Impact(impact), severity, IncidentStatus(status),
                 tuple(services.get(iid, ())), from_ms(detected), created_by,
                 None if resolved is None else from_ms(resolved), key,
                 tuple(updates.get(iid, ())))
        for iid, title, impact, severity, status, detected, created_by, resolved, key in rows
    ]


def get_incident(conn: Database, incident_id: int) -> Incident | None:
    found = _read(conn, "WHERE id = ?", (incident_id,))
    return found[0] if found else None


def incident_by_key(conn: Database, key: str) -> Incident | None:
    """The incident the detector opened under ``key``."""
    found = _read(conn, "WHERE detection_key = ?", (key,))
    return found[0] if found else None


def find_incidents(conn: Database, *, since: datetime | None = None,
                   open_only: bool = False, detected_only: bool = False,
                   limit: int | None = None) -> list[Incident]:
    """Incidents newest first: still open, or (with ``since``) detected or resolved since."""
    clauses: list[str] = []
    params: list[object] = []
    if open_only:
        clauses.append("resolved_at_ms IS NULL")
    if detected_only:
        clauses.append("detection_key IS NOT NULL")
    if since is not None:
        clauses.append("(resolved_at_ms IS NULL OR resolved_at_ms >= ? OR detected_at_ms >= ?)")
        params += [to_ms(since), to_ms(since)]
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    tail = "ORDER BY detected_at_ms DESC, id DESC"
    if limit is not None:
        tail += " LIMIT ?"
        params.append(limit)
    return _read(conn, where, params, tail)


def open_incident(
    conn: Database, *, title: str, impact: Impact, severity: str,
    services: Sequence[str], detected_at: datetime, at: datetime, author: str, human: bool,
    status: IncidentStatus = IncidentStatus.INVESTIGATING, body: str = "",
    detection_key: str | None = None,
) -> tuple[Incident, bool]:
    """Store a new incident with its first update; ``(incident, created)``.

    With a ``detection_key`` already stored, the incident stored under it is returned and
    nothing changes (``created`` is False).
    """
    if status == IncidentStatus.RESOLVED:
        raise LedgerError("an incident cannot be opened as resolved")
    with transaction(conn, "storing an incident"):
        if detection_key is not None:
            found = incident_by_key(conn, detection_key)
            if found is not None:
                return found, False
        iid = conn.insert_id(
            "INSERT INTO incidents (title, impact, severity, status, detected_at_ms, "
            "created_by, detection_key) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (title, impact.value, severity, status.value, to_ms(detected_at), author,
             detection_key))
        conn.executemany("INSERT INTO incident_services (incident_id, service) VALUES (?, ?)",
                         ((iid, name) for name in sorted(set(services))))
        _insert_update(conn, iid, at, status, body, author, human)
    found = get_incident(conn, iid)
    assert found is not None
    return found, True


def _insert_update(conn: Database, iid: int, at: datetime, status: IncidentStatus,
                   body: str, author: str, human: bool) -> int:
    return conn.insert_id(
        "INSERT INTO incident_updates (incident_id, at_ms, status, body, author, human) "
        "VALUES (?, ?, ?, ?, ?, ?)", (iid, to_ms(at), status.value, body, author, int(human)))


def post_update(
    conn: Database, incident_id: int, *, at: datetime, status: IncidentStatus,
    body: str, author: str, human: bool, impact: Impact | None = None,
    severity: str | None = None, services: Sequence[str] = (),
) -> tuple[Incident, IncidentUpdate] | None:
    """Add an update; the incident takes its status (resolved sets ``resolved_at``, a later
    update reopens it), a higher ``impact`` with its ``severity``, and more ``services``.
    None if there is no such incident."""
    with transaction(conn, f"updating incident {incident_id}"):
        current = get_incident(conn, incident_id)
        if current is None:
            return None
        uid = _insert_update(conn, incident_id, at, status, body, author, human)
        resolved = to_ms(at) if status == IncidentStatus.RESOLVED else None
        conn.execute("UPDATE incidents SET status = ?, resolved_at_ms = ? WHERE id = ?",
                      (status.value, resolved, incident_id))
        if impact is not None and impact.rank > current.impact.rank:
            conn.execute("UPDATE incidents SET impact = ?, severity = ? WHERE id = ?",
                         (impact.value, severity or current.severity, incident_id))
        conn.executemany(
            "INSERT INTO incident_services (incident_id, service) VALUES (?, ?) "
            "ON CONFLICT DO NOTHING",
            ((incident_id, name) for name in services))
    found = get_incident(conn, incident_id)
    assert found is not None
    update = next(u for u in found.updates if u.id == uid)
    return found, update


# ---- outbox ------------------------------------------------------------------------------

def enqueue(conn: Database, rows: Sequence[OutboxRow], now: datetime) -> int:
    """Add deliveries due at ``now``; rows already there (same event and channel) are left
    alone. Returns how many were new."""
    with transaction(conn, "queueing notifications"):
        added = 0
        for r in rows:
            added += conn.execute(
                "INSERT INTO outbox (event_id, channel, kind, payload, created_at_ms, "
                "next_at_ms, dropped) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (r.event_id, r.channel, r.kind, r.payload, to_ms(now), to_ms(now), r.dropped),
            ).rowcount
        return added


def _items(rows: Sequence[tuple[object, ...]]) -> list[OutboxItem]:
    out = []
    for iid, event_id, channel, kind, payload, created, attempts, nxt, err, sent, drop in rows:
        assert isinstance(created, int) and isinstance(nxt, int)
        out.append(OutboxItem(
            int(str(iid)), str(event_id), str(channel), str(kind), str(payload),
            from_ms(created), int(str(attempts)), from_ms(nxt),
            None if err is None else str(err),
            None if sent is None else from_ms(int(str(sent))),
            None if drop is None else str(drop)))
    return out


def due_items(conn: Database, now: datetime, limit: int = 100) -> list[OutboxItem]:
    """Undelivered, not dropped items due at ``now``, oldest first."""
    return _items(conn.execute(
        f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE sent_at_ms IS NULL AND dropped IS NULL "
        "AND next_at_ms <= ? ORDER BY next_at_ms, id LIMIT ?", (to_ms(now), limit)).fetchall())


def claim_due(conn: Database, now: datetime, limit: int, lease: timedelta) -> list[OutboxItem]:
    """:func:`due_items`, claimed for ``lease``: their due time moves to ``now + lease``, so
    that no other process (a second replica, a leader taking over) sends them meanwhile; the
    outcome recorded after the attempt replaces the lease. On PostgreSQL rows another
    transaction is claiming are skipped (``FOR UPDATE SKIP LOCKED``). A claimer that dies
    leaves its items to be sent once the lease ends: late, never lost."""
    with transaction(conn, "claiming notifications"):
        items = _items(conn.execute(
            f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE sent_at_ms IS NULL AND dropped IS NULL "
            f"AND next_at_ms <= ? ORDER BY next_at_ms, id LIMIT ?{conn.skip_locked()}",
            (to_ms(now), limit)).fetchall())
        until = to_ms(now + lease)
        conn.executemany("UPDATE outbox SET next_at_ms = ? WHERE id = ?",
                         [(until, item.id) for item in items])
    return items


def next_due(conn: Database) -> datetime | None:
    """When the earliest pending item is due; None when nothing is pending."""
    row = conn.execute("SELECT min(next_at_ms) FROM outbox "
                       "WHERE sent_at_ms IS NULL AND dropped IS NULL").fetchone()
    return None if row[0] is None else from_ms(int(row[0]))


def mark_sent(conn: Database, item_id: int, at: datetime) -> None:
    with transaction(conn, "recording a delivery"):
        conn.execute("UPDATE outbox SET sent_at_ms = ?, attempts = attempts + 1 WHERE id = ?",
                     (to_ms(at), item_id))


def mark_retry(conn: Database, item_id: int, *, next_at: datetime,
               error: str) -> None:
    with transaction(conn, "recording a failed delivery"):
        conn.execute("UPDATE outbox SET attempts = attempts + 1, next_at_ms = ?, "
                     "last_error = ? WHERE id = ?", (to_ms(next_at), error, item_id))


def mark_dropped(conn: Database, item_id: int, *, reason: str,
                 error: str | None = None) -> None:
    with transaction(conn, "giving up a delivery"):
        conn.execute("UPDATE outbox SET attempts = attempts + ?, dropped = ?, "
                     "last_error = coalesce(?, last_error) WHERE id = ?",
                     (0 if error is None else 1, reason, error, item_id))
