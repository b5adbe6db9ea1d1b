"""The durable delivery loop: events go to the ledger's outbox first, then to their channels.

:meth:`Outbox.publish` writes one outbox row per channel subscribed to the event's kind (the
row's key is event id + channel, so publishing again changes nothing) and wakes the loop.
:meth:`Outbox.deliver_due` sends what is due, concurrently, and records each outcome: sent;
failed and retried after ``first_retry`` × 2ⁿ (at most ``max_retry``); dropped after a
permanent failure or once ``give_up_after`` has passed. Each pass claims its items first
(their due time moves a lease ahead, :data:`CLAIM_LEASE`), so another replica sending at the
same time skips them; a row is marked sent only after its channel took it, so a sender that
died resends, after the lease, at most what was in flight, with the same ``Idempotency-Key``.
Only the leader delivers (``active``, see :mod:`monitor.run.leader`). Rows live in the
ledger, so they survive restarts. Every ledger call goes
through a :class:`LedgerAccess` (``LedgerWriter`` in ``upwatch run``): nothing here blocks the
event loop or the probers.

Status page subscribers (:mod:`monitor.notify.subscribers`) are channels too, one per
subscriber (``subscriber:<ref>``): :meth:`Outbox.rows_in` adds a row for each one following an
event, and :meth:`Outbox.publish_to` queues a subscriber's confirmation request.

A ``state`` or ``incident`` event at a time when every one of its services is inside a
maintenance window (counted as :func:`monitor.core.windows.effective_range` counts it) is
stored as dropped with the window named, and never sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from monitor.core.clock import Clock
from monitor.core.windows import Window, effective_range
from monitor.notify import Channel, DeliveryError, Event, event_from_json
from monitor.notify.subscribers import Subscribers
from monitor.store.incidents import OutboxItem, OutboxRow
from monitor.store.ledger import Ledger

__all__ = ["DirectLedger", "LedgerAccess", "Outbox", "Pass", "backoff", "maintenance_window_for"]

log = logging.getLogger("upwatch.notify")
#: How long a delivery's claim holds off other senders: longer than any channel's timeout.
CLAIM_LEASE = timedelta(minutes=2)
T = TypeVar("T")


class LedgerAccess(Protocol):
    """Runs ``fn(ledger)`` off the event loop (``monitor.store.writer.LedgerWriter`` has it):
    ``read`` for a function that only reads, ``write`` for one that changes the ledger."""

    async def read(self, fn: Callable[[Ledger], T]) -> T: ...

    async def write(self, fn: Callable[[Ledger], T]) -> T: ...


class DirectLedger:
    """:class:`LedgerAccess` calling the ledger in place: for the CLI and tests."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def read(self, fn: Callable[[Ledger], T]) -> T:
        return self.ledger.read_only(fn)

    async def write(self, fn: Callable[[Ledger], T]) -> T:
        return fn(self.ledger)


@dataclass(frozen=True)
class Pass:
    """What one :meth:`Outbox.deliver_due` did."""

    sent: int = 0
    retried: int = 0
    dropped: int = 0


def backoff(failures: int, first: timedelta, cap: timedelta) -> timedelta:
    """The wait after the ``failures``-th failed attempt: ``first`` × 2^(failures-1), capped."""
    if failures < 1:
        return timedelta(0)
    wait: timedelta = first * (2 ** min(failures - 1, 40))
    return min(cap, wait)


def _minute(at: datetime) -> int:
    return int(at.timestamp() // 60)


def maintenance_window_for(event: Event, windows: Sequence[Window]) -> Window | None:
    """The maintenance window that silences ``event``, if one covers all its services."""
    if event.kind not in ("state", "incident") or not event.services:
        return None
    minute = _minute(event.at)
    found: Window | None = None
    for service in event.services:
        covering = None
        for w in windows:
            span = effective_range(w) if w.kind == "maintenance" else None
            if span is not None and span[0] <= minute < span[1] and w.applies_to(service):
                covering = w
                break
        if covering is None:
            return None
        found = found or covering
    return found


def _sent(item_id: int, at: datetime, ledger: Ledger) -> None:
    ledger.notification_sent(item_id, at)


def _dropped(item_id: int, reason: str, error: str, ledger: Ledger) -> None:
    ledger.notification_dropped(item_id, reason=reason, error=error)


def _failed(item_id: int, next_at: datetime, error: str, ledger: Ledger) -> None:
    ledger.notification_failed(item_id, next_at=next_at, error=error)


def _silenced(event: Event, windows: Sequence[Window]) -> str | None:
    """Why ``event`` is stored as never to be sent (a maintenance window), if it is."""
    silenced = maintenance_window_for(event, windows)
    return None if silenced is None else (
        f'during maintenance "{silenced.title}" ({silenced.id})')


class Outbox:
    """Publishes events to the outbox and delivers them to their channels."""

    def __init__(self, ledger: LedgerAccess, channels: Sequence[Channel], clock: Clock, *,
                 first_retry: timedelta = timedelta(seconds=30),
                 max_retry: timedelta = timedelta(hours=1),
                 give_up_after: timedelta = timedelta(days=1),
                 batch: int = 50, idle_poll: float = 60.0,
                 lease: timedelta = CLAIM_LEASE,
                 active: Callable[[], bool] = lambda: True,
                 subscribers: Subscribers | None = None) -> None:
        self._ledger, self._clock = ledger, clock
        self._subscribers = subscribers
        self._lease, self._active = lease, active
        self._channels = {c.name: c for c in channels}
        self._first, self._cap, self._give_up = first_retry, max_retry, give_up_after
        self._batch, self._idle_poll = batch, idle_poll
        self._wake = asyncio.Event()
        self._pass_lock = asyncio.Lock()
        self._closing = False

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(self._channels)

    def rows_for(self, event: Event, windows: Sequence[Window] = ()) -> list[OutboxRow]:
        """The outbox rows ``event`` makes: one per channel that takes its kind."""
        dropped = _silenced(event, windows)
        payload = event.dumps()
        return [OutboxRow(event.id, c.name, event.kind, payload, dropped)
                for c in self._channels.values() if event.kind in c.events]

    @property
    def delivers(self) -> bool:
        """Whether any event can make a row: a channel is configured, or subscribers are."""
        return bool(self._channels) or self._subscribers is not None

    def rows_in(self, led: Ledger, event: Event, windows: Sequence[Window] = ()
                ) -> list[OutboxRow]:
        """:meth:`rows_for`, and a row per status page subscriber following ``event`` (read in
        the ledger's thread, in the transaction that stores the rows)."""
        rows = self.rows_for(event, windows)
        if self._subscribers is not None:
            rows += Subscribers.rows_for(led, event, _silenced(event, windows))
        return rows

    async def publish(self, event: Event, windows: Sequence[Window] = ()) -> int:
        """Store ``event`` for each subscribed channel, and for each status page subscriber
        following it; returns how many rows were new."""
        if not self.delivers:
            return 0
        now = self._clock.now()

        def enqueue(led: Ledger) -> int:
            rows = self.rows_in(led, event, windows)
            return led.enqueue_notifications(rows, now) if rows else 0

        return await self._store(enqueue)

    async def publish_to(self, event: Event, channel: str) -> int:
        """Store ``event`` for ``channel`` alone (a subscriber's confirmation request)."""
        row = OutboxRow(event.id, channel, event.kind, event.dumps())
        now = self._clock.now()
        return await self._store(lambda led: led.enqueue_notifications([row], now))

    async def _store(self, enqueue: Callable[[Ledger], int]) -> int:
        """Run ``enqueue`` in the ledger's thread; wake the loop when it added rows."""
        added = await self._ledger.write(enqueue)
        if added:
            self._wake.set()
        return added

    def wake(self) -> None:
        """Look for due deliveries now (after rows were enqueued by someone else)."""
        self._wake.set()

    async def deliver_due(self) -> Pass:
        """Send every item due now (by the clock); record each outcome in the ledger.

        Passes of one outbox never overlap; an item claimed by another (replica) is skipped.
        """
        async with self._pass_lock:
            return await self._deliver_due()

    async def _deliver_due(self) -> Pass:
        now = self._clock.now()
        items = await self._ledger.write(
            lambda led: led.claim_notifications(now, self._batch, self._lease))
        outcomes = await asyncio.gather(*(self._attempt(item) for item in items))
        sent = retried = dropped = 0
        for item, error in zip(items, outcomes, strict=True):
            at = self._clock.now()
            if error is None:
                sent += 1
                await self._ledger.write(functools.partial(_sent, item.id, at))
                continue
            failures = item.attempts + 1
            too_old = at - item.created_at >= self._give_up
            if error.permanent or too_old:
                dropped += 1
                reason = (f"permanent failure after {failures} attempts" if error.permanent
                          else f"gave up after {failures} attempts")
                log.error("notification %s to %s dropped: %s: %s", item.event_id,
                          item.channel, reason, error)
                await self._ledger.write(functools.partial(_dropped, item.id, reason, str(error)))
            else:
                retried += 1
                nxt = at + backoff(failures, self._first, self._cap)
                log.warning("notification %s to %s failed (attempt %d), retry at %s: %s",
                            item.event_id, item.channel, failures, nxt.isoformat(), error)
                await self._ledger.write(functools.partial(_failed, item.id, nxt, str(error)))
        return Pass(sent, retried, dropped)

    async def _attempt(self, item: OutboxItem) -> DeliveryError | None:
        channel: Channel | None = self._channels.get(item.channel)
        if channel is None and self._subscribers is not None:
            channel = self._subscribers.channel(item.channel)
        if channel is None:
            return DeliveryError(f'no channel named "{item.channel}" is configured any more',
                                 permanent=True)
        try:
            await channel.send(event_from_json(item.payload), item.idempotency_key)
        except DeliveryError as err:
            return err
        except Exception as exc:  # a channel bug must not stop the loop
            log.exception("channel %s crashed sending %s", item.channel, item.event_id)
            return DeliveryError(f"{type(exc).__name__}: {exc}")
        return None

    async def run(self) -> None:
        """Deliver until :meth:`close`: at each due time, and whenever woken."""
        while not self._closing:
            self._wake.clear()
            try:
                nxt = None
                if self._active():  # a standby replica leaves delivering to the leader
                    await self.deliver_due()
                    nxt = await self._ledger.read(lambda led: led.next_notification_due())
            except Exception:
                log.exception("notification delivery pass failed")
                nxt = None
            wait = self._idle_poll if nxt is None else (nxt - self._clock.now()).total_seconds()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, min(wait, self._idle_poll)))

    def close(self) -> None:
        """Make :meth:`run` return after its current pass."""
        self._closing = True
        self._wake.set()
