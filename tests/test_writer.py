"""The one ledger writer: batching, timer, retries, its thread, and durability under SIGKILL."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ledger_sql import checks, integrity_ok, query

from monitor.core.checks import CheckResult, Observation, State
from monitor.core.clock import FakeClock
from monitor.core.minutes import Run, clip, fold
from monitor.store.ledger import DeclaredWindow, Ledger, LedgerError
from monitor.store.schema import to_ms
from monitor.store.writer import PRUNE_EVERY_S, LedgerWriter

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 10, 1, tzinfo=UTC)
M0 = int(T0.timestamp()) // 60
WINDOW = (M0 - 10, M0 + 10_000)
DEADLINE_S = 5.0


def make(at_s: float, ok: bool = True) -> Observation:
    result = CheckResult("api", T0 + timedelta(seconds=at_s), ok, 20.0 if ok else None)
    return Observation(result, State.UP if ok else State.DOWN, 60_000)


class SignalLedger(Ledger):
    """A real ledger that reports each commit to the test's loop, and can fail on demand."""

    def __init__(self, path: Path, *, fail: int = 0) -> None:
        super().__init__(path)
        self.loop = asyncio.get_running_loop()
        self.committed: asyncio.Queue[int] = asyncio.Queue()
        self.commit_times: list[float] = []  # the event loop's clock at each commit
        self.batches: list[list[Observation]] = []
        self.prunes: list[datetime] = []
        self.threads: set[str] = set()
        self.fail = fail

    def record(self, observations: Sequence[Observation]) -> None:
        self.threads.add(threading.current_thread().name)
        if self.fail:
            self.fail -= 1
            raise LedgerError("disk I/O error (injected)")
        super().record(observations)
        self.commit_times.append(self.loop.time())
        self.batches.append(list(observations))
        self.loop.call_soon_threadsafe(self.committed.put_nowait, len(observations))

    def prune(self, now: datetime) -> None:
        self.prunes.append(now)
        super().prune(now)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0 + timedelta(hours=1))


async def test_submit_then_flush_is_visible_through_read(tmp_path: Path, clock: FakeClock) -> None:
    ledger = SignalLedger(tmp_path / "upwatch.db")
    writer = LedgerWriter(ledger, clock, flush_interval=3600)
    for s in (0, 60, 120):
        writer.submit(make(s))
    assert writer.queued == 3
    assert writer.last_commit_monotonic is None
    await writer.flush()
    assert writer.queued == 0
    assert writer.last_commit_monotonic == clock.monotonic()
    assert await writer.read(lambda led: led.runs("api", *WINDOW)) == [Run(M0, M0 + 4, State.UP)]
    reader = await writer.read(lambda led: threading.current_thread().name)
    assert ledger.threads == {reader}
    assert reader.startswith("upwatch-ledger")
    await writer.close()


async def test_the_timer_commits_what_is_queued_once_the_flush_interval_is_over(
    tmp_path: Path, clock: FakeClock
) -> None:
    # The timer waits on the event loop's clock (asyncio.wait_for), not on the injected Clock,
    # so the loop's clock is what is read here. Asserted: the timer alone commits (no flush,
    # no full batch), and not before the interval is over. That it commits *within* it is not
    # asserted: on a loaded runner it may not, and DEADLINE_S only bounds the wait.
    loop = asyncio.get_running_loop()
    interval = 0.05
    ledger = SignalLedger(tmp_path / "upwatch.db")
    writer = LedgerWriter(ledger, clock, flush_interval=interval, max_batch=1000)
    await writer.start()
    queued_at = loop.time()
    writer.submit(make(0))
    writer.submit(make(60))
    assert await asyncio.wait_for(ledger.committed.get(), DEADLINE_S) == 2
    # asyncio may run a timer up to one resolution of its (monotonic) clock early
    early = time.get_clock_info("monotonic").resolution
    assert ledger.commit_times[0] - queued_at >= interval - early
    await writer.flush()  # waits for the timer's flush to finish
    assert writer.queued == 0
    assert ledger.committed.empty()
    await writer.close()


async def test_a_full_batch_commits_without_waiting_for_the_timer(
    tmp_path: Path, clock: FakeClock
) -> None:
    ledger = SignalLedger(tmp_path / "upwatch.db")
    writer = LedgerWriter(ledger, clock, flush_interval=3600, max_batch=3)
    await writer.start()
    for s in (0, 60, 120):
        writer.submit(make(s))
    assert await asyncio.wait_for(ledger.committed.get(), DEADLINE_S) == 3
    await writer.close()


async def test_a_backlog_is_committed_in_batches_of_max_batch(
    tmp_path: Path, clock: FakeClock
) -> None:
    ledger = SignalLedger(tmp_path / "upwatch.db")
    writer = LedgerWriter(ledger, clock, max_batch=2)
    for s in range(5):
        writer.submit(make(s * 60))
    await writer.flush()
    assert [len(b) for b in ledger.batches] == [2, 2, 1]
    assert [o.result.time for b in ledger.batches for o in b] == [
        T0 + timedelta(minutes=s) for s in range(5)]
    await writer.close()


async def test_a_failed_commit_is_logged_and_retried_by_the_timer(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = SignalLedger(tmp_path / "upwatch.db", fail=1)
    writer = LedgerWriter(ledger, clock, flush_interval=0.02)
    await writer.start()
    writer.submit(make(0))
    writer.submit(make(60, ok=False))
    with caplog.at_level(logging.ERROR, logger="monitor.store.writer"):
        assert await asyncio.wait_for(ledger.committed.get(), DEADLINE_S) == 2
    assert "ledger commit of 2 check results failed, will retry: disk I/O error (injected)" in (
        caplog.messages)
    assert len(checks(tmp_path / "upwatch.db", "api")) == 2
    await writer.close()


async def test_a_failed_flush_raises_and_keeps_the_batch_first_in_line(
    tmp_path: Path, clock: FakeClock
) -> None:
    ledger = SignalLedger(tmp_path / "upwatch.db", fail=1)
    writer = LedgerWriter(ledger, clock)
    writer.submit(make(0))
    with pytest.raises(LedgerError, match="injected"):
        await writer.flush()
    assert writer.queued == 1
    assert writer.last_commit_monotonic is None
    writer.submit(make(60, ok=False))
    await writer.flush()
    assert writer.queued == 0
    assert [[o.result.time for o in b] for b in ledger.batches] == [
        [T0, T0 + timedelta(seconds=60)]]
    await writer.close()


async def test_old_checks_are_pruned_every_ten_minutes_of_monotonic_time(
    tmp_path: Path, clock: FakeClock
) -> None:
    ledger = SignalLedger(tmp_path / "upwatch.db")
    writer = LedgerWriter(ledger, clock)
    writer.submit(make(0))
    await writer.flush()
    first = clock.now()
    clock.advance(PRUNE_EVERY_S - 1)
    writer.submit(make(60))
    await writer.flush()
    assert ledger.prunes == [first]
    clock.advance(1)
    await writer.flush()
    assert ledger.prunes == [first, clock.now()]
    await writer.close()


async def test_close_reports_what_it_could_not_commit(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = SignalLedger(tmp_path / "upwatch.db", fail=1)
    writer = LedgerWriter(ledger, clock)
    writer.submit(make(0))
    with caplog.at_level(logging.ERROR, logger="monitor.store.writer"), pytest.raises(LedgerError):
        await writer.close()
    assert "ledger closed with 1 check results not committed" in caplog.messages
    assert writer.queued == 1


async def test_close_flushes_and_closes_the_ledger(tmp_path: Path, clock: FakeClock) -> None:
    db = tmp_path / "upwatch.db"
    writer = LedgerWriter(Ledger(db), clock, flush_interval=3600)
    await writer.start()
    writer.submit(make(0))
    await writer.close()
    await writer.close()
    with pytest.raises(RuntimeError, match="closed"):
        writer.submit(make(60))
    with pytest.raises(RuntimeError, match="closed"):
        await writer.read(lambda led: led.runs("api", *WINDOW))
    reopened = Ledger(db)
    assert reopened.runs("api", *WINDOW) == [Run(M0, M0 + 2, State.UP)]
    reopened.close()


# ---- read and write -------------------------------------------------------------------------


def declare(led: Ledger) -> DeclaredWindow:
    return led.add_window(kind="maintenance", services=["api"], start=T0,
                          end=T0 + timedelta(hours=1), title="db upgrade", declared_at=T0,
                          declared_by="test")


async def test_read_refuses_changes_and_write_makes_them(tmp_path: Path, clock: FakeClock) -> None:
    writer = LedgerWriter(SignalLedger(tmp_path / "upwatch.db"), clock)
    with pytest.raises(LedgerError, match=r"readonly database \(changes go through Ledger"):
        await writer.read(declare)
    with pytest.raises(LedgerError, match="cannot join another transaction"):
        await writer.read(lambda led: led.record([make(0)]))
    assert await writer.read(lambda led: led.windows()) == []
    window = await writer.write(declare)
    assert await writer.read(lambda led: led.windows()) == [window]
    name = await writer.write(lambda led: threading.current_thread().name)
    assert name == await writer.read(lambda led: threading.current_thread().name)
    assert writer.last_commit_monotonic is None, "a write is not a commit of check results"
    writer.submit(make(0))
    await writer.flush()  # the refused reads left the ledger writable
    assert writer.last_commit_monotonic == clock.monotonic()
    await writer.close()
    with pytest.raises(RuntimeError, match="closed"):
        await writer.write(declare)


async def test_a_read_sees_one_snapshot(tmp_path: Path, clock: FakeClock) -> None:
    db = tmp_path / "upwatch.db"
    writer = LedgerWriter(Ledger(db), clock)

    def twice(led: Ledger) -> tuple[int, int]:
        before = len(led.windows())
        other = Ledger(db)  # another process (the CLI, say) commits meanwhile
        declare(other)
        other.close()
        return before, len(led.windows())

    assert await writer.read(twice) == (0, 0)
    assert len(await writer.read(lambda led: led.windows())) == 1
    await writer.close()


# ---- durability: SIGKILL while writing ------------------------------------------------------

BATCH = 1000


def _stream(i: int) -> Observation:
    ok = i % 7 != 3
    at = T0 + timedelta(seconds=20 * i)
    result = CheckResult("api", at, ok, 5.0 + i % 50 if ok else None)
    return Observation(result, State.UP if ok else State.DOWN, 60_000)


CHILD = textwrap.dedent("""
    import asyncio
    import sys
    from datetime import UTC, datetime, timedelta

    from monitor.core.checks import CheckResult, State
    from monitor.core.clock import FakeClock
    from monitor.store.ledger import Ledger
    from monitor.core.checks import Observation
    from monitor.store.writer import LedgerWriter

    T0 = datetime(2026, 10, 1, tzinfo=UTC)
    BATCH = int(sys.argv[2])
""") + textwrap.dedent(inspect.getsource(_stream)) + textwrap.dedent("""
    async def main() -> None:
        clock = FakeClock(T0)
        writer = LedgerWriter(Ledger(sys.argv[1], clock=clock), clock, flush_interval=60,
                              max_batch=10 * BATCH)
        i = 0
        while True:
            for _ in range(BATCH):
                writer.submit(_stream(i))
                i += 1
            await writer.flush()
            print(i - 1, flush=True)

    asyncio.run(main())
""")


def expected_runs(observations: Sequence[Observation]) -> list[Run]:
    checks = [(to_ms(o.result.time), o.state, o.interval_ms) for o in observations]
    return list(clip(fold(checks), *WINDOW))


def test_sigkill_while_writing_loses_no_committed_batch(tmp_path: Path) -> None:
    db = tmp_path / "upwatch.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db), str(BATCH)], cwd=ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    watchdog = threading.Timer(20, proc.kill)
    watchdog.start()
    reported: list[int] = []
    try:
        assert proc.stdout is not None and proc.stderr is not None
        for line in proc.stdout:
            reported.append(int(line))
            if len(reported) == 4:
                proc.send_signal(signal.SIGKILL)  # the child is busy with its next batch
                break
        proc.wait()
        stderr = proc.stderr.read()
    finally:
        watchdog.cancel()
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
    assert len(reported) == 4, stderr
    assert proc.returncode == -signal.SIGKILL

    ledger = Ledger(db)
    assert integrity_ok(db)
    last = ledger.last_check("api")
    assert last is not None
    committed = (last.time - T0) // timedelta(seconds=20) + 1
    assert committed > reported[-1], "a batch reported as committed is missing"
    assert committed % BATCH == 0, "a batch was committed in part"
    done = [_stream(i) for i in range(committed)]
    assert ledger.runs("api", *WINDOW) == expected_runs(done)
    assert query(db, "SELECT count(*) FROM checks WHERE ok = 0") == [
        (sum(not o.result.ok for o in done),)]
    more = [_stream(i) for i in range(committed, committed + 10)]
    ledger.record(more)
    assert ledger.runs("api", *WINDOW) == expected_runs(done + more)
    ledger.close()
