"""The pings of push services that ``upwatch run`` takes: kept in memory, stored in the ledger.

:class:`PingBook` knows every push service's token (made in the ledger the first time the
service is seen, :mod:`monitor.store.pings`) and its :class:`~monitor.core.pings.PingState`.
A ping (``/ping/<token>``, :mod:`monitor.web.pings`) changes the state in memory at once and is
answered once the ledger has it: pings that arrive while a save is being committed are saved
together in the next one (a group commit), so a burst of pings costs a few commits, not one
each, and a ping that was answered is never lost.

A ping that changes the service's verdict (its first ping, a failure, a recovery) asks for a
check at once through ``on_changed``, so the page, ``/metrics`` and incidents follow within a
second instead of at the next interval. With replicas on PostgreSQL, pings taken by another
replica reach the leader's book through :meth:`PingBook.refresh`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Iterable
from datetime import datetime

from monitor.core.clock import Clock
from monitor.core.pings import PingKind, PingSpec, PingState, after_ping, judge
from monitor.store.ledger import Ledger
from monitor.store.writer import LedgerWriter

__all__ = ["GATHER_S", "PingBook"]

#: How long a save waits for more pings before it commits: a ping is answered that much later,
#: and a burst is saved in far fewer commits (bench/ping.py: 9 pings a commit without it;
#: 2 ms and 5 ms measured alike within the noise).
GATHER_S = 0.005

log = logging.getLogger(__name__)

_NEVER = PingState()


class PingBook:
    """Push services' tokens and ping states; ``specs(name)`` is a push service's config (None
    when it is no longer configured), ``on_changed(name)`` asks for a check of it now."""

    def __init__(self, writer: LedgerWriter, clock: Clock,
                 specs: Callable[[str], PingSpec | None],
                 on_changed: Callable[[str], None] | None = None) -> None:
        self._writer = writer
        self._clock = clock
        self._specs = specs
        self.on_changed = on_changed
        self._states: dict[str, PingState] = {}
        self._service_of: dict[str, str] = {}  # token → service
        self._token_of: dict[str, str] = {}  # service → token
        self._dirty: dict[str, None] = {}  # services whose state the ledger has not yet
        #: The answers of the pings that the next save stores: one future each, so a handler
        #: cancelled while it waits cancels only its own (no shield on a shared one).
        self._waiting: list[asyncio.Future[None]] = []
        self._saving: asyncio.Task[None] | None = None

    async def track(self, services: Iterable[str]) -> None:
        """Load the tokens and states of ``services`` (push services), making missing tokens."""
        names = list(services)
        now = self._clock.now()
        found = await self._writer.write(lambda ledger: ledger.push_states(names, now))
        self._take(found, names)

    async def refresh(self) -> None:
        """Take what other replicas stored (merged: the later of each field)."""
        found = await self._writer.read(lambda ledger: ledger.push_states())
        changed = self._take(found, list(self._token_of))
        for name in changed:
            self._notify(name)

    def _take(self, found: dict[str, tuple[str, PingState]], names: list[str]) -> list[str]:
        changed = []
        for name in names:
            if name not in found:
                continue
            token, stored = found[name]
            old_token = self._token_of.get(name)
            if old_token is not None and old_token != token:
                self._service_of.pop(old_token, None)
            self._token_of[name] = token
            self._service_of[token] = name
            mine = self._states.get(name, PingState())
            merged = mine.newer(stored)
            if merged != mine:
                self._states[name] = merged
                changed.append(name)
        return changed

    def state(self, service: str) -> PingState | None:
        return self._states.get(service)

    def token(self, service: str) -> str | None:
        return self._token_of.get(service)

    def last_pings(self) -> dict[str, datetime]:
        """When each push service that pinged last did (``/metrics``)."""
        return {name: s.last_ping for name, s in self._states.items()
                if s.last_ping is not None and self._specs(name) is not None}

    async def ping(self, token: str, kind: PingKind, exit_status: int | None = None) -> bool:
        """Take a ping; False for a token no push service has. Returns once it is stored
        (raises :class:`~monitor.store.schema.LedgerError` when it could not be)."""
        name = self._service_of.get(token)
        spec = None if name is None else self._specs(name)
        if name is None or spec is None:
            return False
        old = self._states.get(name, _NEVER)
        now = self._clock.now()
        new = self._states[name] = after_ping(old, kind, now, exit_status)
        if kind is not PingKind.START and _verdict_changed(spec, old, new, now):
            self._notify(name)  # a start never changes it: its run has grace to end in
        # stored by the next save (only the latest state of a service is written)
        self._dirty[name] = None
        stored = asyncio.get_running_loop().create_future()
        self._waiting.append(stored)
        if self._saving is None:
            self._saving = asyncio.create_task(self._save_all(), name="saving pings")
        await stored
        return True

    def _notify(self, name: str) -> None:
        if self.on_changed is not None:
            self.on_changed(name)

    async def _save_all(self) -> None:
        """Save what is dirty, again while more came during the save; one commit each time.
        Each save first waits :data:`GATHER_S` for the pings arriving with this one."""
        try:
            while self._waiting:
                await asyncio.sleep(GATHER_S)
                names, self._dirty = list(self._dirty), {}
                waiting, self._waiting = self._waiting, []
                rows = [(n, self._token_of[n], self._states[n]) for n in names]
                now = self._clock.now()
                try:
                    await self._writer.write(functools.partial(_save, rows=rows, now=now))
                except Exception as exc:
                    log.error("storing %d pings failed: %s", len(rows), exc)
                    for n in names:  # the next ping's save tries them again
                        self._dirty.setdefault(n, None)
                    # those waiting for this save and the next one: their handlers answer 503
                    waiting += self._waiting
                    self._waiting = []
                    for stored in waiting:
                        if not stored.done():  # not cancelled (a client gone)
                            stored.set_exception(exc)
                            stored.exception()  # retrieved: no warning if its client goes now
                    return
                for stored in waiting:
                    if not stored.done():
                        stored.set_result(None)
        finally:
            self._saving = None

    async def close(self) -> None:
        """Wait for a save in progress."""
        if self._saving is not None:
            await asyncio.gather(self._saving, return_exceptions=True)


def _verdict_changed(spec: PingSpec, old: PingState, new: PingState, now: datetime) -> bool:
    """Whether a ping (``old`` → ``new``) changes the service's verdict at ``now``; a success
    after an up verdict never does, and is not judged again (the common ping)."""
    before = judge(spec, old, now, words=False)
    if before is not None and before.error is None and new.last_success == now:
        return False
    after = judge(spec, new, now, words=False)
    return (before is None) != (after is None) or (
        before is not None and after is not None and before.error != after.error)


def _save(ledger: Ledger, *, rows: list[tuple[str, str, PingState]], now: datetime) -> None:
    ledger.save_pings(rows, now)
