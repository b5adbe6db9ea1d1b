"""Which ``upwatch run`` leads: on a PostgreSQL ledger, several replicas run and one leads.

Every replica serves ``/metrics``, ``/healthz``, the page and the APIs, and takes pushed
results. Only the leader does what must happen once: probing this location's services (and so
detecting incidents), delivering the outbox, announcing maintenance, watching silent
locations, checking certificates and pruning old checks. The leader is whoever holds the
ledger's run lock (:class:`monitor.store.pg_runlock.PgRunLock`, a session advisory lock): a
standby tries to take it every :data:`POLL_S` seconds, the leader checks every
:data:`POLL_S` that its session is alive and stands down the moment it is not. When a leader
dies the server drops its session (at once after ``kill -9``, ~15 s after its host vanished)
and a standby leads within one poll after that.

On an SQLite ledger there is one ``upwatch run`` (its file lock) and it always leads
(:class:`SoleLeader`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from monitor.store.errors import LedgerError
from monitor.store.pg_runlock import PgRunLock, process_name

__all__ = ["POLL_S", "Leadership", "Lead", "SoleLeader"]

log = logging.getLogger("upwatch")

#: How often a standby tries to lead and a leader checks that it still does.
POLL_S = 2.0

#: Called with True when this process starts leading, False when it stops.
OnChange = Callable[[bool], Awaitable[None]]


class Lead(Protocol):
    leading: bool

    async def start(self, on_change: OnChange) -> None: ...

    def health(self) -> dict[str, Any]: ...

    async def stop(self) -> None: ...


class SoleLeader:
    """The one ``upwatch run`` of an SQLite ledger: it leads from its start."""

    leading = True

    async def start(self, on_change: OnChange) -> None:
        await on_change(True)

    def health(self) -> dict[str, Any]:
        return {}

    async def stop(self) -> None:
        return None


class Leadership:
    """Leader election among the replicas of one PostgreSQL ledger."""

    def __init__(self, url: str, *, poll_s: float = POLL_S,
                 report: dict[str, Any] | None = None) -> None:
        """``report``: a dict (``/healthz``'s extra facts) kept up to date with :meth:`health`
        after every poll."""
        self._lock = PgRunLock(url)
        self._report = report if report is not None else {}
        self._poll_s = poll_s
        self.leading = False
        self._leader = "unknown"
        self._task: asyncio.Task[None] | None = None
        self._on_change: OnChange | None = None
        self._stopping = asyncio.Event()

    async def start(self, on_change: OnChange) -> None:
        """Try to lead now (a lone replica leads from its start), then keep trying."""
        self._on_change = on_change
        await self._poll()
        self._task = asyncio.create_task(self._loop(), name="leader election")

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                await asyncio.wait_for(self._stopping.wait(), self._poll_s)
            except TimeoutError:
                await self._poll()

    async def _poll(self) -> None:
        try:
            leading = await asyncio.to_thread(self._lock.try_acquire)
        except LedgerError as err:
            if self.leading:
                log.error("%s: standing down", err)
            leading = False
        if not leading:
            self._leader = await asyncio.to_thread(self._lock.holder)
        else:
            self._leader = process_name()
        changed = leading != self.leading
        self.leading = leading
        self._report.update(self.health())
        if changed:
            log.info("this upwatch run %s", "leads: probing, notifying, pruning" if leading
                     else f"stands by; {self._leader} leads")
            assert self._on_change is not None
            try:
                await self._on_change(leading)
            except Exception:
                log.exception("taking up the %s role failed", "leader" if leading else "standby")

    def health(self) -> dict[str, Any]:
        """For /healthz: this replica's role and who leads."""
        return {"role": "leader" if self.leading else "standby", "leader": self._leader}

    async def stop(self) -> None:
        """Stop electing and let go of the lead (another replica takes it within a poll).
        What this process led is stopped by its owner (``Monitor.stop``)."""
        self._stopping.set()
        if self._task is not None:
            await self._task
        self.leading = False
        await asyncio.to_thread(self._lock.release)
