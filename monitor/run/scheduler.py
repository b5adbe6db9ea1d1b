"""APScheduler 3.x wiring: one interval job per phase slot, spread, bounded, never fatal.

- First runs are spread over each service's interval by a stable hash of its name, so 1,000
  services do not all fire in the same second, and a restart keeps each service's phase. The
  phases fall on 100 ms slots, and APScheduler holds one job per (interval, slot): its run
  starts every check of the slot. With 20,000 services that is ~300 jobs instead of 20,000,
  so APScheduler's per-job bookkeeping (next fire time, the job store's sorted list, events)
  is paid once per slot, not once per check.
- Coalescing: missed runs of a slot collapse into one; a service whose previous check is still
  running skips the run (logged), so a slow check never overlaps itself.
- A global :class:`asyncio.Semaphore` bounds concurrent checks.
- Planned vs actual start (schedule lag): APScheduler's lateness in submitting a run (its
  scheduled run time against its own wall clock), plus the wait for a concurrency slot on the
  injected clock.
- A probe that raises is logged with its service name and counted; the others go on.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from apscheduler.events import EVENT_JOB_SUBMITTED, JobSubmissionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.config import ServiceConfig
from monitor.core.checks import CheckResult, NoResultYet, Observation, State
from monitor.core.clock import Clock
from monitor.metrics.probes import ProbeMetrics

log = logging.getLogger("upwatch.scheduler")

#: Interval jobs count their runs from here, plus each service's phase, so a restart keeps
#: a service's checks on the same seconds.
PHASE_ANCHOR = datetime(2020, 1, 1, tzinfo=UTC)


class Checker(Protocol):
    async def check(self, service: ServiceConfig) -> CheckResult: ...


class ResultSink(Protocol):
    def submit(self, obs: Observation) -> None: ...


@dataclass(frozen=True)
class ReloadSummary:
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]
    unchanged: tuple[str, ...]

    def __str__(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.removed)} removed, "
            f"{len(self.changed)} changed, {len(self.unchanged)} unchanged"
        )


PHASE_SLOT_MS = 100


def phase_of(name: str, interval: timedelta) -> timedelta:
    """A stable offset in ``[0, interval)``, on a PHASE_SLOT_MS slot, for a service's first run."""
    slots = max(int(interval.total_seconds() * 1000) // PHASE_SLOT_MS, 1)
    return timedelta(milliseconds=(zlib.crc32(name.encode()) % slots) * PHASE_SLOT_MS)


class ProbeScheduler:
    def __init__(
        self,
        checker: Checker,
        sink: ResultSink,
        metrics: ProbeMetrics,
        clock: Clock,
        *,
        max_concurrency: int = 256,
        on_result: Callable[[ServiceConfig, CheckResult, State], None] | None = None,
    ) -> None:
        self._checker = checker
        self._sink = sink
        self._metrics = metrics
        self._clock = clock
        self._on_result = on_result
        self._sem = asyncio.Semaphore(max_concurrency)
        self._services: dict[str, ServiceConfig] = {}
        self._planned: dict[str, datetime] = {}
        self._slots: dict[SlotKey, set[str]] = {}  # the services each slot job starts
        self._busy: set[str] = set()  # services with a check in flight
        self._tasks: set[asyncio.Task[CheckResult | None]] = set()
        self._last_state: dict[str, State] = {}
        self._lags: deque[float] = deque(maxlen=2000)
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopping = False
        self._started = False
        self._scheduled = True
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._scheduler.add_listener(self._on_submitted, EVENT_JOB_SUBMITTED)
        logging.getLogger("apscheduler").setLevel(logging.WARNING)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, services: Sequence[ServiceConfig], *, schedule: bool = True,
              paused: bool = False) -> None:
        """Take on ``services`` and start the wall-clock scheduler that runs their checks
        (``paused``: none run until :meth:`resume`, a standby replica's state).

        ``schedule=False``: take them on but start no timer; checks run only when asked, through
        :meth:`run_check` (tests on a fake clock, one-shot tools). Reloads work the same.
        """
        for svc in services:
            self._add(svc)
        self._scheduled = schedule
        if schedule:
            self._scheduler.start(paused=paused)
        self._started = True
        self._metrics.services.set(len(self._services))

    @property
    def running(self) -> bool:
        """Started and not stopping (and, when scheduling, the wall-clock scheduler is up)."""
        if not self._started or self._stopping:
            return False
        return bool(self._scheduler.running) or not self._scheduled

    def pause(self) -> None:
        """Run no more checks until :meth:`resume` (those in flight finish)."""
        if self._scheduler.running:
            self._scheduler.pause()

    def resume(self) -> None:
        if self._scheduler.running and not self._stopping:
            self._scheduler.resume()

    async def stop(self, grace: float = 10.0) -> bool:
        """Stop scheduling, let in-flight checks finish (at most ``grace`` s). True if all did."""
        self._stopping = True
        if self._scheduler.running:
            self._scheduler.pause()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout=grace)
            finished = True
        except TimeoutError:
            log.warning("stopping with %d checks still in flight", self._inflight)
            finished = False
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        return finished

    def apply(self, services: Sequence[ServiceConfig]) -> ReloadSummary:
        """Bring the jobs in line with a new service list; unchanged services are not touched."""
        new = {s.name: s for s in services}
        added = [n for n in new if n not in self._services]
        removed = [n for n in self._services if n not in new]
        changed = [n for n in new if n in self._services and new[n] != self._services[n]]
        unchanged = [n for n in new if n in self._services and new[n] == self._services[n]]
        for name in removed:
            self._leave_slot(self._services.pop(name))
            self._last_state.pop(name, None)
            self._metrics.forget(name)
        for name in changed:
            old = self._services[name]
            self._services[name] = new[name]
            if old.interval != new[name].interval:
                self._leave_slot(old)
                self._join_slot(new[name])
        for name in added:
            self._add(new[name])
        self._metrics.services.set(len(self._services))
        return ReloadSummary(tuple(added), tuple(removed), tuple(changed), tuple(unchanged))

    # -- measurements ----------------------------------------------------------------------
    def lag_quantile_ms(self, q: float) -> float | None:
        if not self._lags:
            return None
        ordered = sorted(self._lags)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000.0

    @property
    def inflight(self) -> int:
        return self._inflight

    # -- checks ----------------------------------------------------------------------------
    async def run_check(self, name: str) -> CheckResult | None:
        """Run one check of ``name`` now, record it, and return it (None if the probe crashed)."""
        svc = self._services.get(name)
        if svc is None:
            return None
        self._busy.add(name)
        self._inflight += 1
        self._idle.clear()
        try:
            async with self._sem:
                started = self._clock.now()
                planned = self._planned.pop(name, None)
                if planned is not None:
                    lag = max(0.0, (started - planned).total_seconds())
                    self._lags.append(lag)
                    self._metrics.lag.observe(lag)
                try:
                    result = await self._checker.check(svc)
                except asyncio.CancelledError:
                    raise
                except NoResultYet:  # a push service before its first ping
                    return None
                except Exception:
                    log.exception("service %s: the probe itself crashed; check skipped", name)
                    self._metrics.probe_errors.labels(name).inc()
                    return None
                self._record(svc, result)
                return result
        finally:
            self._busy.discard(name)
            self._inflight -= 1
            if self._inflight == 0:
                self._idle.set()

    def _record(self, svc: ServiceConfig, result: CheckResult) -> None:
        state = result.state(svc.expect.max_latency_ms)
        self._sink.submit(Observation(result, state, svc.interval_ms))
        self._metrics.observe(result, svc.kind)
        previous = self._last_state.get(svc.name)
        self._last_state[svc.name] = state
        if previous != state:
            how = f" ({result.error}: {result.detail})" if result.error else ""
            level = logging.WARNING if state == State.DOWN else logging.INFO
            log.log(level, "service %s is %s%s", svc.name, state.label, how)
        if self._on_result is not None:
            self._on_result(svc, result, state)

    # -- APScheduler plumbing ----------------------------------------------------------------
    def _join_slot(self, svc: ServiceConfig) -> None:
        key = slot_of(svc)
        names = self._slots.get(key)
        if names is None:
            names = self._slots[key] = set()
            interval_ms, phase_ms = key
            self._scheduler.add_job(
                self._run_slot,
                trigger=IntervalTrigger(
                    seconds=interval_ms / 1000,
                    start_date=PHASE_ANCHOR + timedelta(milliseconds=phase_ms), timezone=UTC),
                args=[key],
                id=_job_id(key),
                name=_job_id(key),
                coalesce=True,
                misfire_grace_time=max(1, interval_ms // 1000),
                replace_existing=True,
            )
        names.add(svc.name)

    def _leave_slot(self, svc: ServiceConfig) -> None:
        key = slot_of(svc)
        names = self._slots.get(key)
        if names is None:
            return
        names.discard(svc.name)
        if not names:
            del self._slots[key]
            self._scheduler.remove_job(_job_id(key))

    def _add(self, svc: ServiceConfig) -> None:
        self._services[svc.name] = svc
        self._join_slot(svc)

    async def _run_slot(self, key: SlotKey) -> None:
        """One run of a slot job: start a check of each of its services, unless one of theirs
        is still running (that service skips this run)."""
        for name in sorted(self._slots.get(key, ())):
            if name in self._busy:
                self._planned.pop(name, None)
                log.warning("service %s: the previous check is still running; this run is "
                            "skipped", name)
                continue
            task = asyncio.create_task(self.run_check(name), name=f"check {name}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _on_submitted(self, event: Any) -> None:
        if isinstance(event, JobSubmissionEvent) and event.scheduled_run_times:
            # APScheduler plans on the wall clock: how late it submits is measured on that
            # clock, then carried over to the injected one, which times the rest (the wait for
            # a slot). Subtracting a wall-clock plan from the injected clock's start measured
            # the distance between the two clocks instead.
            late = datetime.now(UTC) - event.scheduled_run_times[-1]
            planned = self._clock.now() - max(late, timedelta(0))
            for name in self._slots.get(_key_of_job(event.job_id), ()):
                self._planned[name] = planned


#: A slot job's key: (interval in ms, phase in ms).
SlotKey = tuple[int, int]


def slot_of(svc: ServiceConfig) -> SlotKey:
    """The phase slot a service's checks run in."""
    return svc.interval_ms, int(phase_of(svc.name, svc.interval).total_seconds() * 1000)


def _job_id(key: SlotKey) -> str:
    return f"slot:{key[0]}:{key[1]}"


def _key_of_job(job_id: str) -> SlotKey:
    _, interval_ms, phase_ms = job_id.split(":")
    return int(interval_ms), int(phase_ms)
