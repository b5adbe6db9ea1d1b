"""Storage of status page subscribers: one row per address, asked for, then confirmed.

A visitor's request (:func:`ask`) makes an unconfirmed row, or updates the services an existing
one waits to confirm; :func:`confirm` takes the selection the confirmation link was sent for.
:func:`remove` (unsubscribing) deletes the row: nothing of it stays. Requests not confirmed
within :data:`EXPIRES` are deleted too, at the next request. The token is the secret of the
row's confirm and unsubscribe links and stays the row's for good, so every link a subscriber
was ever sent keeps working until they leave. Called by :class:`monitor.store.ledger
.Subscribers`, which holds the ledger's lock.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from monitor.store.database import Database
from monitor.store.schema import to_ms, transaction

__all__ = ["EXPIRES", "Asked", "Subscriber", "SubscriberKind", "ask", "by_ref", "by_token",
           "confirm", "count", "following", "remove", "Subscribers"]

SubscriberKind = Literal["email", "webhook"]
#: How long a request waits for its confirmation before it is deleted.
EXPIRES = timedelta(hours=48)
#: Random bytes in a token (URL-safe base64: 32 characters) and in a ref (16 characters).
TOKEN_BYTES, REF_BYTES = 24, 12

_COLUMNS = "ref, kind, address, services, token, confirmed_ms"


@dataclass(frozen=True)
class Subscriber:
    """A subscriber as stored; ``services`` empty: every service."""

    ref: str
    kind: SubscriberKind
    address: str
    services: tuple[str, ...]
    token: str
    confirmed: bool

    def follows(self, services: Iterable[str]) -> bool:
        """Whether an event about ``services`` (none: the whole site) is for this subscriber."""
        wanted = set(services)
        return not self.services or not wanted or not wanted.isdisjoint(self.services)


@dataclass(frozen=True)
class Asked:
    """What :func:`ask` did: the row's ``ref`` and ``token``; ``mail`` when a confirmation is
    to be sent (not when one went out less than ``again_after`` ago)."""

    ref: str
    token: str
    mail: bool
    new: bool


def _row(row: Sequence[object]) -> Subscriber:
    ref, kind, address, services, token, confirmed = row
    kind_: SubscriberKind = "webhook" if kind == "webhook" else "email"
    return Subscriber(str(ref), kind_, str(address), tuple(json.loads(str(services))),
                      str(token), confirmed is not None)


def ask(db: Database, kind: SubscriberKind, address: str, services: Sequence[str],
        now: datetime, again_after: timedelta) -> Asked:
    """Record a request to follow ``services`` (empty: all) at ``address``."""
    chosen = json.dumps(sorted(set(services)))
    now_ms = to_ms(now)
    with transaction(db, "recording a subscription request"):
        db.execute("DELETE FROM subscribers WHERE confirmed_ms IS NULL AND asked_ms < ?",
                   (to_ms(now - EXPIRES),))
        found = db.execute("SELECT ref, token, asked_ms FROM subscribers "
                           "WHERE kind = ? AND address = ?", (kind, address)).fetchone()
        if found is None:
            ref, token = secrets.token_urlsafe(REF_BYTES), secrets.token_urlsafe(TOKEN_BYTES)
            db.execute(
                "INSERT INTO subscribers (ref, kind, address, services, pending_services, "
                "token, created_ms, asked_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (ref, kind, address, chosen, chosen, token, now_ms, now_ms))
            return Asked(ref, token, mail=True, new=True)
        ref, token, asked_ms = str(found[0]), str(found[1]), int(found[2])
        mail = now_ms - asked_ms >= again_after // timedelta(milliseconds=1)
        db.execute("UPDATE subscribers SET pending_services = ?, asked_ms = ? WHERE ref = ?",
                   (chosen, now_ms if mail else asked_ms, ref))
        return Asked(ref, token, mail=mail, new=False)


def confirm(db: Database, token: str, now: datetime) -> Subscriber | None:
    """Take the selection waiting for confirmation; None when no row has ``token``."""
    with transaction(db, "confirming a subscription"):
        db.execute(
            "UPDATE subscribers SET services = COALESCE(pending_services, services), "
            "pending_services = NULL, confirmed_ms = COALESCE(confirmed_ms, ?) WHERE token = ?",
            (to_ms(now), token))
        return by_token(db, token)


def remove(db: Database, token: str) -> Subscriber | None:
    """Delete the subscriber with ``token``; the row it was, or None when there was none."""
    with transaction(db, "removing a subscriber"):
        found = by_token(db, token)
        if found is not None:
            db.execute("DELETE FROM subscribers WHERE token = ?", (token,))
        return found


def by_token(db: Database, token: str) -> Subscriber | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM subscribers WHERE token = ?", (token,)).fetchone()
    return None if row is None else _row(row)


def by_ref(db: Database, ref: str) -> Subscriber | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM subscribers WHERE ref = ?", (ref,)).fetchone()
    return None if row is None else _row(row)


def following(db: Database, services: Iterable[str]) -> list[Subscriber]:
    """The confirmed subscribers an event about ``services`` goes to, oldest first."""
    wanted = tuple(services)
    rows = db.execute(f"SELECT {_COLUMNS} FROM subscribers WHERE confirmed_ms IS NOT NULL "
                      "ORDER BY id")
    return [s for s in map(_row, rows) if s.follows(wanted)]


def count(db: Database) -> tuple[int, int]:
    """How many subscribers are confirmed, and how many wait for their confirmation."""
    row = db.execute("SELECT COUNT(confirmed_ms), COUNT(*) - COUNT(confirmed_ms) "
                     "FROM subscribers").fetchone()
    return int(row[0]), int(row[1])


class Subscribers:
    """The subscriber functions above on one ledger's connection, under its lock
    (``Ledger.subscribers``)."""

    def __init__(self, db: Database, lock: AbstractContextManager[object]) -> None:
        self._db, self._lock = db, lock

    def ask(self, kind: SubscriberKind, address: str, services: Sequence[str], now: datetime,
            again_after: timedelta) -> Asked:
        with self._lock:
            return ask(self._db, kind, address, services, now, again_after)

    def confirm(self, token: str, now: datetime) -> Subscriber | None:
        with self._lock:
            return confirm(self._db, token, now)

    def remove(self, token: str) -> Subscriber | None:
        with self._lock:
            return remove(self._db, token)

    def by_ref(self, ref: str) -> Subscriber | None:
        with self._lock:
            return by_ref(self._db, ref)

    def by_token(self, token: str) -> Subscriber | None:
        with self._lock:
            return by_token(self._db, token)

    def following(self, services: Iterable[str]) -> list[Subscriber]:
        with self._lock:
            return following(self._db, services)

    def count(self) -> tuple[int, int]:
        with self._lock:
            return count(self._db)
