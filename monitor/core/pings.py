"""Push (heartbeat) services: what their pings say, and whether they came in time.

A push service is not probed: it pings ``upwatch run`` (``/ping/<token>``, as healthchecks.io
does). :class:`PingState` is all that is kept of its pings: the last success, start and
failure. :func:`after_ping` is how one ping changes it; :func:`judge` says, at a moment, what
the service's check is:

- before its first success or failure: nothing (the minute stays *nodata*);
- a failure (``/fail``, or a non-zero exit status) after the last success: down,
  ``job_failed``, until the next success;
- with ``period``: down, ``missed_ping``, from ``last success + period + grace`` on;
- with ``schedule`` (cron, in the service's time zone): down, ``missed_ping``, once a run was
  due more than ``grace`` ago and no success came since it was due;
- a run started (``/start``) and not finished within ``grace``: down, ``missed_ping``;
- else up. A success after a start carries the run's time (start to success) as its latency,
  once: the check that first sees it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol
from zoneinfo import ZoneInfo

from cronsim import CronSim

from monitor.core.checks import ErrorKind
from monitor.times import iso_utc

__all__ = ["PingKind", "PingSpec", "PingState", "Verdict", "after_ping", "due_run", "judge"]


class PingKind(StrEnum):
    SUCCESS = "success"  # /ping/<token>, or /ping/<token>/0
    START = "start"  # /ping/<token>/start: a run began
    FAIL = "fail"  # /ping/<token>/fail, or a non-zero exit status


@dataclass(frozen=True, slots=True)
class PingState:
    """What is kept of a push service's pings (UTC times; None: never)."""

    last_ping: datetime | None = None
    last_success: datetime | None = None
    last_start: datetime | None = None
    last_fail: datetime | None = None
    exit_status: int | None = None  # of the last failure, when it said one
    run_ms: float | None = None  # start → success of the last run that sent both

    def newer(self, other: PingState) -> PingState:
        """This state and ``other`` merged: the latest of each (two replicas took pings)."""
        def latest(a: datetime | None, b: datetime | None) -> datetime | None:
            return b if a is None or (b is not None and b > a) else a
        success = latest(self.last_success, other.last_success)
        fail = latest(self.last_fail, other.last_fail)
        return PingState(
            last_ping=latest(self.last_ping, other.last_ping), last_success=success,
            last_start=latest(self.last_start, other.last_start), last_fail=fail,
            exit_status=self.exit_status if fail == self.last_fail else other.exit_status,
            run_ms=self.run_ms if success == self.last_success else other.run_ms)


def after_ping(state: PingState, kind: PingKind, at: datetime,
               exit_status: int | None = None) -> PingState:
    """``state`` after a ping of ``kind`` at ``at``. (Made field by field rather than with
    ``dataclasses.replace``, a third of the cost: a busy monitor takes thousands a second.)"""
    if kind is PingKind.START:
        return PingState(last_ping=at, last_success=state.last_success, last_start=at,
                         last_fail=state.last_fail, exit_status=state.exit_status,
                         run_ms=state.run_ms)
    if kind is PingKind.FAIL:
        return PingState(last_ping=at, last_success=state.last_success,
                         last_start=state.last_start, last_fail=at, exit_status=exit_status,
                         run_ms=state.run_ms)
    started = state.last_start
    run_ms = None
    if started is not None and (state.last_success is None or started > state.last_success):
        run_ms = max((at - started).total_seconds() * 1000.0, 0.0)
    return PingState(last_ping=at, last_success=at, last_start=started,
                     last_fail=state.last_fail, exit_status=state.exit_status, run_ms=run_ms)


class PingSpec(Protocol):
    """What judging reads of a push service (``monitor.config.ServiceConfig``)."""

    @property
    def period(self) -> timedelta | None: ...

    @property
    def grace(self) -> timedelta: ...

    @property
    def schedule(self) -> str | None: ...

    @property
    def timezone(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Verdict:
    """A push service's check at a moment: ``error`` None is up."""

    error: ErrorKind | None
    detail: str
    run_ms: float | None = None


def due_run(schedule: str, timezone: str, before: datetime) -> datetime:
    """The last run ``schedule`` (cron, in ``timezone``) expected at or before ``before``."""
    local = before.astimezone(ZoneInfo(timezone)).replace(microsecond=0)
    runs = CronSim(schedule, local + timedelta(seconds=1), reverse=True)
    return next(runs).astimezone(before.tzinfo)


def judge(spec: PingSpec, state: PingState, now: datetime, *,
          words: bool = True) -> Verdict | None:
    """The check of a push service with ``state`` at ``now``; None before its first verdict.
    ``words=False`` leaves the detail empty (comparing verdicts, a ping at a time)."""
    success, fail = state.last_success, state.last_fail
    if success is None and fail is None:
        return None

    def verdict(error: ErrorKind | None, detail: Callable[[], str],
                run_ms: float | None = None) -> Verdict:
        return Verdict(error, detail() if words else "", run_ms)

    if fail is not None and (success is None or fail >= success):
        status = "" if state.exit_status is None else f" (exit status {state.exit_status})"
        return verdict(ErrorKind.JOB_FAILED, lambda: f"failure reported at {iso_utc(fail)}{status}")
    assert success is not None
    grace = spec.grace
    if spec.schedule is not None:
        due = due_run(spec.schedule, spec.timezone, now - grace)
        if success < due:
            return verdict(ErrorKind.MISSED_PING, lambda: (
                f"the run due at {iso_utc(due)} did not check in (last ping {iso_utc(success)})"))
    else:
        assert spec.period is not None
        deadline = success + spec.period + grace
        if now > deadline:
            return verdict(ErrorKind.MISSED_PING, lambda: (
                f"no ping since {iso_utc(success)} (due by {iso_utc(deadline)})"))
    started = state.last_start
    if started is not None and started > success and now > started + grace:
        return verdict(ErrorKind.MISSED_PING,
                       lambda: f"started at {iso_utc(started)}, no success ping since")
    return verdict(None, lambda: f"last ping {iso_utc(success)}", state.run_ms)
