"""What keeps the ledger writer busy while results keep coming: a flush answers as soon as ITS
results are committed, and pruning waits for a moment when no results do."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.core.checks import CheckResult, Observation, State
from monitor.core.clock import FakeClock
from monitor.store.ledger import Ledger
from monitor.store.writer import PRUNE_EVERY_S, LedgerWriter

T0 = datetime(2026, 10, 1, tzinfo=UTC)
DEADLINE_S = 5.0


def make(at_s: float) -> Observation:
    return Observation(CheckResult("api", T0 + timedelta(seconds=at_s), True, 20.0),
                       State.UP, 60_000)


class GatedLedger(Ledger):
    """A real ledger whose commit of a batch holding a result at ``gate_s`` waits for
    :attr:`release`; it tells the test's loop of each commit."""

    def __init__(self, path: Path, gate_s: float | None = None) -> None:
        super().__init__(path)
        self.loop = asyncio.get_running_loop()
        self.gate_s = gate_s
        self.release = threading.Event()
        self.gated = threading.Event()
        self.batches: list[list[float]] = []
        self.prunes = 0

    def record(self, observations: Sequence[Observation]) -> None:
        times = [(o.result.time - T0).total_seconds() for o in observations]
        if self.gate_s in times:
            self.gated.set()
            assert self.release.wait(DEADLINE_S), "the test never released the gated commit"
        super().record(observations)
        self.batches.append(times)

    def prune(self, now: datetime) -> None:
        self.prunes += 1
        super().prune(now)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0 + timedelta(hours=1))


async def test_a_flush_answers_once_its_own_results_are_committed(
    tmp_path: Path, clock: FakeClock
) -> None:
    """Three pushes, one batch each: the second push's answer does not wait for the third's
    commit (before, one flush committed everything queued before it answered)."""
    ledger = GatedLedger(tmp_path / "upwatch.db", gate_s=120)
    writer = LedgerWriter(ledger, clock, flush_interval=3600, max_batch=1)
    writer.submit(make(0))
    first = asyncio.create_task(writer.flush())
    await asyncio.sleep(0)
    writer.submit(make(60))
    second = asyncio.create_task(writer.flush())
    await asyncio.sleep(0)
    writer.submit(make(120))  # its commit waits for release
    third = asyncio.create_task(writer.flush())
    await asyncio.wait_for(asyncio.gather(first, second), DEADLINE_S)
    assert not third.done()
    assert writer.queued == 1
    ledger.release.set()
    await asyncio.wait_for(third, DEADLINE_S)
    assert ledger.batches == [[0.0], [60.0], [120.0]]
    assert writer.queued == 0
    await writer.close()


async def test_a_flush_after_a_cancelled_one_waits_for_its_batch(
    tmp_path: Path, clock: FakeClock
) -> None:
    ledger = GatedLedger(tmp_path / "upwatch.db", gate_s=0)
    writer = LedgerWriter(ledger, clock, flush_interval=3600)
    writer.submit(make(0))
    cancelled = asyncio.create_task(writer.flush())
    await asyncio.to_thread(ledger.gated.wait, DEADLINE_S)
    cancelled.cancel()
    writer.submit(make(60))
    later = asyncio.create_task(writer.flush())
    await asyncio.sleep(0.01)
    assert not later.done()  # the first batch is still being committed
    ledger.release.set()
    await asyncio.wait_for(later, DEADLINE_S)
    with contextlib.suppress(asyncio.CancelledError):
        await cancelled
    assert ledger.batches == [[0.0], [60.0]]
    await writer.close()


async def test_pruning_waits_until_no_results_are_queued(tmp_path: Path, clock: FakeClock) -> None:
    ledger = GatedLedger(tmp_path / "upwatch.db")
    writer = LedgerWriter(ledger, clock, flush_interval=3600, max_batch=1)
    writer.submit(make(0))
    first = asyncio.create_task(writer.flush())
    await asyncio.sleep(0)
    writer.submit(make(60))  # queued when the first flush ends
    await asyncio.wait_for(first, DEADLINE_S)
    assert ledger.prunes == 0
    await writer.flush()  # nothing queued after it
    assert ledger.prunes == 1
    await writer.close()


async def test_pruning_waits_one_interval_at_most(tmp_path: Path, clock: FakeClock) -> None:
    ledger = GatedLedger(tmp_path / "upwatch.db")
    writer = LedgerWriter(ledger, clock, flush_interval=3600, max_batch=1)

    async def busy_flush(at_s: float) -> None:
        """A flush that ends with results still queued."""
        writer.submit(make(at_s))
        task = asyncio.create_task(writer.flush())
        await asyncio.sleep(0)
        writer.submit(make(at_s + 30))
        await asyncio.wait_for(task, DEADLINE_S)

    await busy_flush(0)
    clock.advance(PRUNE_EVERY_S - 1)
    await busy_flush(60)
    assert ledger.prunes == 0
    clock.advance(1)
    await busy_flush(120)
    assert ledger.prunes == 1
    await writer.close()
