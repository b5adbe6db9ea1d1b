"""Storage of push services: their ping tokens and the state of their pings.

One row per push service in ``push_services``: its secret token (made once, when the service
is first seen, and kept for good: the URL a job pings never changes by itself) and its
:class:`~monitor.core.pings.PingState`. Saving a state keeps, field by field, the later of what
is stored and what is saved, so two replicas that took pings never step back each other's.
Called by thin :class:`monitor.store.ledger.Ledger` methods that hold the ledger's lock.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime

from monitor.core.pings import PingState
from monitor.store.database import Database
from monitor.store.schema import from_ms, to_ms, transaction

__all__ = ["TOKEN_BYTES", "ensure_tokens", "push_states", "save_states", "set_token"]

#: Random bytes in a token (URL-safe base64: 22 characters).
TOKEN_BYTES = 16

_COLUMNS = ("last_ping_ms", "last_success_ms", "last_start_ms", "last_fail_ms", "exit_status",
            "run_ms")


def _later(column: str) -> str:
    return (f"CASE WHEN push_services.{column} IS NULL OR excluded.{column} > "
            f"push_services.{column} THEN excluded.{column} ELSE push_services.{column} END")


def _with(column: str, moment: str) -> str:
    """``column`` follows ``moment``: taken when the saved ``moment`` is the later one."""
    return (f"CASE WHEN push_services.{moment} IS NULL OR excluded.{moment} > "
            f"push_services.{moment} THEN excluded.{column} ELSE push_services.{column} END")


_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, ?)"
#: Rows per statement: one statement for many rows keeps the writer thread from taking the GIL
#: back from the event loop once per row (9 parameters a row, far below SQLite's limit).
_ROWS_PER_STATEMENT = 500


def _save_sql(rows: int) -> str:
    return (
        "INSERT INTO push_services (service, token, created_ms, last_ping_ms, last_success_ms, "
        f"last_start_ms, last_fail_ms, exit_status, run_ms) VALUES {', '.join([_ROW] * rows)} "
        "ON CONFLICT (service) DO UPDATE SET "
        f"exit_status = {_with('exit_status', 'last_fail_ms')}, "
        f"run_ms = {_with('run_ms', 'last_success_ms')}, "
        + ", ".join(f"{c} = {_later(c)}" for c in _COLUMNS[:4]))


def _ms(when: datetime | None) -> int | None:
    return None if when is None else to_ms(when)


def _at(ms: int | None) -> datetime | None:
    return None if ms is None else from_ms(int(ms))


def ensure_tokens(db: Database, services: Iterable[str], now: datetime) -> int:
    """Give every service in ``services`` that has no token one; how many were made."""
    have = {row[0] for row in db.execute("SELECT service FROM push_services")}
    missing = [name for name in dict.fromkeys(services) if name not in have]
    if missing:
        with transaction(db, "making ping tokens"):
            db.executemany(
                "INSERT INTO push_services (service, token, created_ms) VALUES (?, ?, ?) "
                "ON CONFLICT (service) DO NOTHING",
                [(name, secrets.token_urlsafe(TOKEN_BYTES), to_ms(now)) for name in missing])
    return len(missing)


def set_token(db: Database, service: str, now: datetime) -> str:
    """A new token for ``service`` (its old URL stops working); made if it had none."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    with transaction(db, f"renewing the ping token of {service}"):
        db.execute("INSERT INTO push_services (service, token, created_ms) VALUES (?, ?, ?) "
                   "ON CONFLICT (service) DO UPDATE SET token = excluded.token",
                   (service, token, to_ms(now)))
    return token


def push_states(db: Database) -> dict[str, tuple[str, PingState]]:
    """Every push service's token and ping state, by service name."""
    rows = db.execute(f"SELECT service, token, {', '.join(_COLUMNS)} FROM push_services")
    return {
        service: (token, PingState(
            last_ping=_at(ping), last_success=_at(success), last_start=_at(start),
            last_fail=_at(fail), exit_status=None if status is None else int(status),
            run_ms=None if run is None else float(run)))
        for service, token, ping, success, start, fail, status, run in rows}


def save_states(db: Database, states: Sequence[tuple[str, str, PingState]],
                now: datetime) -> None:
    """Store ``(service, token, state)`` rows in one transaction, keeping the later of each
    field where the stored one is later (another replica's ping)."""
    created_ms = to_ms(now)
    rows = [(service, token, created_ms, _ms(s.last_ping), _ms(s.last_success),
             _ms(s.last_start), _ms(s.last_fail), s.exit_status, s.run_ms)
            for service, token, s in dict((row[0], row) for row in states).values()]
    with transaction(db, "saving pings"):
        for at in range(0, len(rows), _ROWS_PER_STATEMENT):
            chunk = rows[at:at + _ROWS_PER_STATEMENT]
            db.execute(_save_sql(len(chunk)), [v for row in chunk for v in row])
