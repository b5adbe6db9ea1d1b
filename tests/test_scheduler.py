"""The scheduler: spread, crash isolation, reload, graceful stop, lag."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from monitor.config import ServiceConfig, parse_config
from monitor.core.checks import CheckResult, ErrorKind, Observation, State
from monitor.core.clock import FakeClock
from monitor.metrics.probes import ProbeMetrics
from monitor.run.scheduler import ProbeScheduler, phase_of

T0 = datetime(2026, 10, 1, 10, 0, tzinfo=UTC)


def services(yaml_services: str) -> tuple[ServiceConfig, ...]:
    return parse_config(f"site: {{title: t}}\nservices:\n{yaml_services}").services


TWO = services(
    "  - {name: a, url: 'http://127.0.0.1:1/a', interval: 1s, timeout: 1s}\n"
    "  - {name: b, url: 'http://127.0.0.1:1/b', interval: 1s, timeout: 1s}\n"
)


class Sink:
    def __init__(self) -> None:
        self.observations: list[Observation] = []

    def submit(self, obs: Observation) -> None:
        self.observations.append(obs)


class ScriptedChecker:
    """Answers per service: 'up', 'down', 'crash', or 'block' (waits for ``release``)."""

    def __init__(self, clock: FakeClock, plan: dict[str, str]) -> None:
        self.clock = clock
        self.plan = plan
        self.release = asyncio.Event()
        self.seen: dict[str, asyncio.Event] = {}
        self.checked: list[ServiceConfig] = []

    def seen_event(self, name: str) -> asyncio.Event:
        return self.seen.setdefault(name, asyncio.Event())

    async def check(self, service: ServiceConfig) -> CheckResult:
        self.checked.append(service)
        self.seen_event(service.name).set()
        how = self.plan.get(service.name, "up")
        if how == "crash":
            raise RuntimeError("bug in a probe")
        if how == "block":
            await self.release.wait()
        ok = how != "down"
        return CheckResult(
            service=service.name, time=self.clock.now(), ok=ok, latency_ms=5.0,
            status=200 if ok else None, error=None if ok else ErrorKind.CONNECT,
            detail="" if ok else "connection refused",
        )


def make(plan: dict[str, str]) -> tuple[ProbeScheduler, ScriptedChecker, Sink, ProbeMetrics]:
    clock = FakeClock(T0)
    registry = CollectorRegistry()
    metrics = ProbeMetrics(registry)
    checker = ScriptedChecker(clock, plan)
    sink = Sink()
    return ProbeScheduler(checker, sink, metrics, clock), checker, sink, metrics


def test_phase_spreads_first_runs_over_the_interval() -> None:
    interval = timedelta(seconds=60)
    phases = [phase_of(f"svc-{i}", interval) for i in range(600)]
    assert all(timedelta(0) <= p < interval for p in phases)
    # on 100 ms slots, so one event-loop wake-up starts every check of a slot
    assert all(p.microseconds % 100_000 == 0 for p in phases)
    assert len(set(phases)) > 250  # yet spread over many of the interval's 600 slots
    # no thundering herd: no single second holds more than a few percent of first runs
    per_second: dict[int, int] = {}
    for p in phases:
        per_second[int(p.total_seconds())] = per_second.get(int(p.total_seconds()), 0) + 1
    assert max(per_second.values()) <= 30
    assert phase_of("svc-1", interval) == phase_of("svc-1", interval)  # stable over restarts


async def test_a_crashing_probe_never_stops_the_others() -> None:
    sched, _checker, sink, metrics = make({"a": "crash", "b": "down"})
    sched.start(TWO, schedule=False)  # checks run by hand only: the counts below are exact
    try:
        assert await sched.run_check("a") is None
        result = await sched.run_check("b")
    finally:
        await sched.stop(grace=1)
    assert result is not None and not result.ok
    assert [o.result.service for o in sink.observations] == ["b"]
    assert sink.observations[0].state == State.DOWN
    assert sink.observations[0].interval_ms == 1000
    assert metrics.registry.get_sample_value("upwatch_probe_crashes_total", {"service": "a"}) == 1
    assert metrics.registry.get_sample_value("probe_success", {"service": "b"}) == 0
    assert metrics.registry.get_sample_value(
        "upwatch_checks_total", {"service": "b", "result": "connect"}) == 1


async def test_jobs_fire_on_their_own() -> None:
    sched, checker, sink, _ = make({})
    sched.start(TWO)
    try:
        await asyncio.wait_for(
            asyncio.gather(checker.seen_event("a").wait(), checker.seen_event("b").wait()),
            timeout=5,
        )
    finally:
        await sched.stop(grace=1)
    assert {o.result.service for o in sink.observations} >= {"a", "b"}
    assert sched.lag_quantile_ms(0.99) is not None


async def test_schedule_lag_does_not_mix_the_wall_clock_with_the_injected_one() -> None:
    # APScheduler fires on the wall clock; the injected clock here is a month ahead of it.
    # Subtracting the wall-clock plan from the injected clock's start gave a month of "lag".
    sched, checker, _, metrics = make({})
    checker.clock.set(datetime.now(UTC) + timedelta(days=30))
    sched.start(TWO)
    try:
        await asyncio.wait_for(checker.seen_event("a").wait(), timeout=5)
    finally:
        await sched.stop(grace=1)
    lag_ms = sched.lag_quantile_ms(1.0)
    assert lag_ms is not None and 0 <= lag_ms < 5_000
    assert metrics.registry.get_sample_value("upwatch_schedule_lag_seconds_sum") < 5 * 2


async def test_one_job_per_slot_and_a_running_check_skips_its_next_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sched, _, _, _ = make({})
    many = services("".join(
        f"  - {{name: s{i}, url: 'http://127.0.0.1:1/{i}', interval: 1s, timeout: 1s}}\n"
        for i in range(200)))
    sched.start(many, schedule=False)
    try:
        # one job per (interval, phase slot): a 1 s interval has ten 100 ms slots
        assert len(sched._scheduler.get_jobs()) == len({phase_of(s.name, s.interval)
                                                         for s in many}) == 10
    finally:
        await sched.stop(grace=1)
    sched, checker, _, _ = make({"a": "block"})
    (a,) = services("  - {name: a, url: 'http://127.0.0.1:1/a', interval: 1s, timeout: 1s}\n")
    sched.start([a], schedule=False)
    key = (a.interval_ms, int(phase_of("a", a.interval).total_seconds() * 1000))
    try:
        await sched._run_slot(key)
        await asyncio.wait_for(checker.seen_event("a").wait(), timeout=5)
        await sched._run_slot(key)  # the first check is still blocked: this run is skipped
        assert len(checker.checked) == 1 and sched.inflight == 1
        assert "service a: the previous check is still running; this run is skipped" in [
            r.getMessage() for r in caplog.records]
    finally:
        checker.release.set()
        await sched.stop(grace=1)
    assert len(checker.checked) == 1


async def test_stop_waits_for_checks_in_flight_then_gives_up_at_the_grace() -> None:
    sched, checker, sink, _ = make({"a": "block"})
    sched.start(TWO, schedule=False)  # only the check started here is in flight
    task = asyncio.create_task(sched.run_check("a"))
    await checker.seen_event("a").wait()
    assert sched.inflight == 1
    stopper = asyncio.create_task(sched.stop(grace=5))
    await asyncio.sleep(0)
    assert not sched.running  # scheduling stopped at once
    checker.release.set()
    assert await stopper is True
    assert (await task) is not None
    assert [o.result.service for o in sink.observations] == ["a"]

    sched2, _checker2, _, _ = make({"a": "block"})
    sched2.start(TWO, schedule=False)
    blocked = asyncio.create_task(sched2.run_check("a"))
    await _checker2.seen_event("a").wait()
    assert await sched2.stop(grace=0.05) is False
    blocked.cancel()
    with pytest.raises(asyncio.CancelledError):
        await blocked


async def test_apply_touches_only_what_changed() -> None:
    # The real scheduler (its job store is what apply() edits), on hourly intervals: no job
    # comes due during the test, and a due one would keep its job and trigger objects anyway.
    sched, checker, _, metrics = make({})
    sched.start(services(
        "  - {name: a, url: 'http://127.0.0.1:1/a', interval: 1h, timeout: 1s}\n"
        "  - {name: b, url: 'http://127.0.0.1:1/b', interval: 1h, timeout: 1s}\n"
        "  - {name: d, url: 'http://127.0.0.1:1/d', interval: 1h, timeout: 1s}\n"
        "  - {name: e, url: 'http://127.0.0.1:1/e', interval: 1h, timeout: 1s}\n"
    ))

    def job(name: str, hours: int = 1) -> Any:
        """APScheduler's job of the slot a service with this interval would run in, or None."""
        interval = timedelta(hours=hours)
        key = (int(interval.total_seconds() * 1000),
               int(phase_of(name, interval).total_seconds() * 1000))
        return sched._scheduler.get_job(f"slot:{key[0]}:{key[1]}")

    before = {name: (job(name), job(name).trigger) for name in "abde"}
    try:
        summary = sched.apply(services(
            "  - {name: a, url: 'http://127.0.0.1:1/a', interval: 1h, timeout: 1s}\n"
            "  - {name: c, url: 'http://127.0.0.1:1/c', interval: 2h, timeout: 1s}\n"
            "  - {name: b, url: 'http://127.0.0.1:1/b2', interval: 1h, timeout: 1s}\n"
            "  - {name: d, url: 'http://127.0.0.1:1/d', interval: 2h, timeout: 1s}\n"
        ))
        after = {name: job(name, hours) for name, hours in
                 [("a", 1), ("b", 1), ("c", 2), ("d", 2), ("e", 1)]}
        old_d = job("d")
        await sched.run_check("b")
    finally:
        await sched.stop(grace=1)
    assert (summary.added, summary.removed, summary.changed, summary.unchanged) == (
        ("c",), ("e",), ("b", "d"), ("a",))
    assert str(summary) == "1 added, 1 removed, 2 changed, 1 unchanged"
    # unchanged, or changed but not in its timing: its slot's very same job and trigger
    for name in "ab":
        assert after[name] is before[name][0] and after[name].trigger is before[name][1], name
    assert checker.checked[-1].url == "http://127.0.0.1:1/b2"  # yet b probes its new URL
    # a new interval: a slot job of that interval; the old slot's job went with its last service
    assert after["d"].trigger.interval == timedelta(hours=2) and old_d is None
    assert after["c"].trigger.interval == timedelta(hours=2)
    assert after["e"] is None
    assert metrics.registry.get_sample_value("upwatch_services") == 4
