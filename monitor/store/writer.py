"""The one ledger writer: check results are queued by the event loop and committed in batches.

Every ledger call (check results, :meth:`LedgerWriter.read`, :meth:`LedgerWriter.write`,
pruning, closing) runs in one dedicated thread, in the order asked, so the loop never blocks on
SQLite and the ledger sees one caller. A commit of check results happens at the latest
``flush_interval`` seconds after something was queued, sooner when ``max_batch`` results are
waiting. Batches commit one at a time, in the order submitted; :meth:`LedgerWriter.flush`
returns once what was submitted before it is committed, so that a push is answered after its
own batch, not after the batches of the pushes that came in while it waited (which kept
probers waiting in step, and the writer idle while they all sent and were parsed again). A
failed commit is logged and its batch goes back to the front of the queue, to be retried by the
next flush: nothing is dropped. Old raw checks are pruned after a commit at most every
:data:`PRUNE_EVERY_S` seconds of monotonic time, when no results are queued (a central catching
up after an outage does not make them wait for it), or once it has waited another interval.

Reads and writes are apart, as datasette's ``execute_fn`` and ``execute_write_fn``:

- ``read(fn)`` runs ``fn(ledger)`` through :meth:`Ledger.read_only`: on one snapshot, and any
  statement that would change the ledger fails with ``LedgerError``, changing nothing.
- ``write(fn)`` runs ``fn(ledger)`` as it is, for functions that change the ledger (declare or
  cancel a window, store an incident, queue or settle notifications). Each ledger method
  commits on its own; ``fn`` uses ``Ledger.atomically`` to commit several together.

A write is neither a commit of check results nor ordered after the queued ones: it does not
move :attr:`LedgerWriter.last_commit_monotonic`, which ``/healthz`` ages, so an admin or
incident write cannot hide a queue that stopped committing; and it does not wait for a flush,
as no write depends on check results not yet committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from monitor.core.checks import Observation
from monitor.core.clock import Clock
from monitor.store.ledger import Ledger

__all__ = ["PRUNE_EVERY_S", "LedgerWriter"]

log = logging.getLogger(__name__)
T = TypeVar("T")
PRUNE_EVERY_S = 600.0


class LedgerWriter:
    """Queues observations without blocking and commits them from one thread."""

    def __init__(
        self, ledger: Ledger, clock: Clock, *, flush_interval: float = 1.0, max_batch: int = 5000,
        prune_when: Callable[[], bool] = lambda: True,
    ) -> None:
        if flush_interval <= 0 or max_batch < 1:
            raise ValueError("flush_interval must be > 0 and max_batch >= 1")
        self._ledger = ledger
        self._clock = clock
        self._prune_when = prune_when  # on replicas, the leader prunes
        self._flush_interval = flush_interval
        self._max_batch = max_batch
        self._queue: deque[Observation] = deque()
        # Batches commit one at a time, in the order submitted (a failed one goes back to the
        # front of the queue): the first ``_committed`` of the ``_submitted`` are committed.
        self._submitted = 0
        self._committed = 0
        self._running: asyncio.Future[None] | None = None  # the batch being committed
        self._inflight = 0  # its size
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="upwatch-ledger")
        self._pending = asyncio.Event()  # something is queued
        self._urgent = asyncio.Event()  # a full batch is queued, or closing
        self._stopping = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._last_commit: float | None = None
        self._started: float | None = None
        self._last_error: str | None = None
        self._last_prune: float | None = None
        self._prune_due: float | None = None

    @property
    def queued(self) -> int:
        """Observations submitted and not committed yet (those being committed included)."""
        return len(self._queue) + self._inflight

    @property
    def last_commit_monotonic(self) -> float | None:
        """``clock.monotonic()`` at the last successful commit."""
        return self._last_commit

    @property
    def started_monotonic(self) -> float | None:
        """``clock.monotonic()`` when :meth:`start` ran: the age of "no commit yet"."""
        return self._started

    @property
    def last_error(self) -> str | None:
        """Why the latest commit of check results failed; None once one succeeds."""
        return self._last_error

    async def start(self) -> None:
        """Start the flush timer."""
        if self._started is None:
            self._started = self._clock.monotonic()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="upwatch-ledger-writer")

    def submit(self, obs: Observation) -> None:
        """Queue one observation; never blocks, never drops."""
        if self._closed:
            raise RuntimeError("the ledger writer is closed")
        self._queue.append(obs)
        self._submitted += 1
        self._pending.set()
        if len(self._queue) >= self._max_batch:
            self._urgent.set()

    async def flush(self) -> None:
        """Commit everything submitted so far, in batches of at most ``max_batch``; return
        once that is committed (what is submitted meanwhile may still be, by the flush that
        its submitter awaits: one caller's answer does not wait for another's commit).

        Raises the ledger's error when a commit fails; that batch stays queued.
        """
        loop = asyncio.get_running_loop()
        target = self._submitted
        async with self._flush_lock:
            while self._committed < target:
                if self._running is not None:  # the batch of a flush whose caller was cancelled
                    await asyncio.shield(self._running)
                    continue
                take = min(len(self._queue), self._max_batch)
                if take == 0:  # cannot happen: what is not committed is queued or running
                    break
                batch = [self._queue.popleft() for _ in range(take)]
                fut = loop.run_in_executor(self._executor, self._ledger.record, batch)
                self._running, self._inflight = fut, len(batch)
                fut.add_done_callback(functools.partial(self._settle, batch))
                await asyncio.shield(fut)  # a cancelled caller leaves the outcome to _settle
            if not self._queue:
                self._pending.clear()
            if len(self._queue) < self._max_batch and not self._closed:
                self._urgent.clear()
            await self._maybe_prune(loop)

    def _settle(self, batch: list[Observation], fut: asyncio.Future[None]) -> None:
        self._running, self._inflight = None, 0
        exc = asyncio.CancelledError() if fut.cancelled() else fut.exception()
        if exc is None:
            self._committed += len(batch)
            self._last_commit = self._clock.monotonic()
            self._last_error = None
            return
        self._last_error = str(exc)
        self._queue.extendleft(reversed(batch))
        self._pending.set()
        log.error("ledger commit of %d check results failed, will retry: %s", len(batch), exc)

    async def _maybe_prune(self, loop: asyncio.AbstractEventLoop) -> None:
        now = self._clock.monotonic()
        if self._last_prune is not None and now - self._last_prune < PRUNE_EVERY_S:
            return
        if self._prune_due is None:
            self._prune_due = now
        if self._queue and now - self._prune_due < PRUNE_EVERY_S:
            return  # results wait: prune once none do, or once it has waited an interval
        if not self._prune_when():
            return
        self._last_prune = now
        self._prune_due = None
        try:
            await loop.run_in_executor(self._executor, self._ledger.prune, self._clock.now())
        except Exception:
            log.exception("pruning old checks from the ledger failed")

    async def read(self, fn: Callable[[Ledger], T]) -> T:
        """Run ``fn(ledger)`` in the writer thread on one read-only snapshot (see above)."""
        if self._closed:
            raise RuntimeError("the ledger writer is closed")
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, self._ledger.read_only, fn)

    async def write(self, fn: Callable[[Ledger], T]) -> T:
        """Run ``fn(ledger)``, which may change the ledger, in the writer thread (see above)."""
        if self._closed:
            raise RuntimeError("the ledger writer is closed")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, self._ledger)

    async def close(self) -> None:
        """Stop the timer, commit what is queued, close the ledger and the thread."""
        if self._closed:
            return
        self._closed = True
        for event in (self._pending, self._urgent, self._stopping):
            event.set()
        if self._task is not None:
            await self._task
        try:
            await self.flush()
        except Exception:
            log.error("ledger closed with %d check results not committed", self.queued)
            raise
        finally:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._ledger.close)
            self._executor.shutdown(wait=False)

    async def _run(self) -> None:
        while not self._closed:
            await self._pending.wait()
            await self._wait(self._urgent)
            if self._closed:
                return
            try:
                await self.flush()
            except Exception:  # logged by _settle; retry after one interval
                await self._wait(self._stopping)

    async def _wait(self, event: asyncio.Event) -> None:
        """Until ``event`` is set or ``flush_interval`` has passed."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), self._flush_interval)
