"""SLA figures for Prometheus: the pure snapshot, the collector's samples, the refresh path."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics import exposition as openmetrics

from monitor.config import Config, parse_config
from monitor.core.checks import CheckResult, ErrorKind, Observation, State
from monitor.core.clock import FakeClock
from monitor.core.minutes import Run
from monitor.core.windows import Window, windows_from_config
from monitor.metrics.probes import ProbeMetrics, render, render_openmetrics
from monitor.metrics.sla import (
    STATES,
    SlaCollector,
    SlaSnapshot,
    StateMinutes,
    compute_snapshot,
    refresh_snapshot,
)
from monitor.store.ledger import Ledger
from monitor.store.writer import LedgerWriter
from monitor.times import epoch_minute
from monitor.windows.sources import config_windows

CONFIG = parse_config(
    """
services:
  - {name: api, url: "http://127.0.0.1:9/"}
  - name: office
    url: "http://127.0.0.1:9/"
    sla: {target: 99.5, timezone: Europe/Copenhagen,
          coverage: {days: mon-fri, hours: "09:00-17:00", holidays: [DK]}}
  - {name: batch, url: "http://127.0.0.1:9/"}
  - {name: perfect, url: "http://127.0.0.1:9/", sla: {target: 100}}
  - {name: empty, url: "http://127.0.0.1:9/"}
maintenance:
  - {services: [batch], title: Upgrade, start: "2026-10-02T23:00:00Z",
     end: "2026-10-03T01:00:00Z"}
""",
    "test.yaml",
)


def m(text: str) -> int:
    """Epoch minute of an ISO UTC time."""
    return epoch_minute(datetime.fromisoformat(text))


def t(text: str) -> datetime:
    return datetime.fromisoformat(text)


UP, DOWN, DEGRADED = State.UP, State.DOWN, State.DEGRADED
OCT1 = "2026-10-01T00:00:00+00:00"
NOW_OCT3 = t("2026-10-03T00:00:30+00:00")  # two whole days in, the 00:00 minute not over yet


@dataclass(frozen=True)
class Case:
    id: str
    service: str
    runs: list[Run]
    now: datetime
    month: str
    minutes: StateMinutes
    uptime: float | None
    budget: float | None
    maintenance_active: bool = False
    covered_now: bool = True


def mins(**kw: int) -> StateMinutes:
    return StateMinutes(**{s: kw.get(s, 0) for s in STATES})


CASES = [
    Case(
        "outage_and_degraded",
        "api",
        [
            Run(m(OCT1), m("2026-10-02T12:00:00+00:00"), UP),
            Run(m("2026-10-02T12:00:00+00:00"), m("2026-10-02T12:30:00+00:00"), DOWN),
            Run(m("2026-10-02T12:30:00+00:00"), m("2026-10-02T12:40:00+00:00"), DEGRADED),
            Run(m("2026-10-02T12:40:00+00:00"), m("2026-10-03T00:05:00+00:00"), UP),
        ],
        NOW_OCT3,
        "2026-10",
        mins(up=2840, degraded=10, down=30),
        2850 / 2880,
        (2.88 - 30) / 2.88,  # budget 2880 x 0.1 % = 2.88 minutes, 30 down: overspent
    ),
    Case(
        "maintenance_active_now",
        "batch",
        [
            Run(m(OCT1), m("2026-10-02T23:00:00+00:00"), UP),
            Run(m("2026-10-02T23:00:00+00:00"), m("2026-10-03T00:01:00+00:00"), DOWN),
        ],
        NOW_OCT3,
        "2026-10",
        mins(up=2820, maintenance=60),  # down only inside the window: not counted
        1.0,
        1.0,
        maintenance_active=True,
    ),
    Case(
        "outside_coverage_now",  # Tue 6 Oct 17:30 Copenhagen: Oct 1, 2, 5, 6 covered 09-17
        "office",
        [Run(m("2026-09-30T22:00:00+00:00"), m("2026-10-06T15:30:00+00:00"), UP)],
        t("2026-10-06T15:30:00+00:00"),
        "2026-10",
        mins(up=4 * 480, uncovered=5 * 1440 + 17 * 60 + 30 - 4 * 480),
        1.0,
        1.0,
        covered_now=False,
    ),
    Case(
        "inside_coverage_now",  # Tue 6 Oct 10:00 Copenhagen, an hour into the day
        "office",
        [Run(m("2026-09-30T22:00:00+00:00"), m("2026-10-06T08:00:00+00:00"), UP)],
        t("2026-10-06T08:00:00+00:00"),
        "2026-10",
        mins(up=3 * 480 + 60, uncovered=5 * 1440 + 10 * 60 - 3 * 480 - 60),
        1.0,
        1.0,
    ),
    Case(
        "new_local_month_before_utc",  # 00:30 on 1 Nov in Copenhagen is still 31 Oct in UTC
        "office",
        [Run(m("2026-10-31T22:00:00+00:00"), m("2026-10-31T23:30:00+00:00"), DOWN)],
        t("2026-10-31T23:30:00+00:00"),
        "2026-11",
        mins(uncovered=30),  # Sunday 00:00-00:30 local: not covered, the outage does not count
        None,
        None,
        covered_now=False,
    ),
    Case(
        "empty_service",
        "empty",
        [],
        NOW_OCT3,
        "2026-10",
        mins(nodata=2880),
        None,
        None,
    ),
    Case(
        "target_100_has_no_budget",
        "perfect",
        [Run(m(OCT1), m("2026-10-03T00:00:00+00:00"), UP)],
        NOW_OCT3,
        "2026-10",
        mins(up=2880),
        1.0,
        None,
    ),
]


def windows(config: Config = CONFIG) -> list[Window]:
    return windows_from_config(config, t("2026-09-01T00:00:00+00:00"),
                               t("2026-12-01T00:00:00+00:00"))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_compute_snapshot(case: Case) -> None:
    snap = compute_snapshot(CONFIG, {case.service: case.runs}, windows(), case.now)
    s = snap.service(case.service)
    assert snap.taken_at == case.now
    assert s.month == case.month
    assert s.minutes == case.minutes
    assert sum(n for _, n in s.minutes.items()) == epoch_minute(case.now) - _month_start(case)
    if case.uptime is None:
        assert s.uptime_ratio is None
    else:
        assert s.uptime_ratio == pytest.approx(case.uptime)
    if case.budget is None:
        assert s.budget_remaining_ratio is None
    else:
        assert s.budget_remaining_ratio == pytest.approx(case.budget)
    assert s.maintenance_active is case.maintenance_active
    assert s.covered_now is case.covered_now


def _month_start(case: Case) -> int:
    # every case's month starts at local midnight: 00:00 UTC, or 22:00/23:00 UTC in Copenhagen
    return {
        ("2026-10", "api"): m(OCT1), ("2026-10", "batch"): m(OCT1),
        ("2026-10", "empty"): m(OCT1), ("2026-10", "perfect"): m(OCT1),
        ("2026-10", "office"): m("2026-09-30T22:00:00+00:00"),
        ("2026-11", "office"): m("2026-10-31T23:00:00+00:00"),
    }[(case.month, case.service)]


def test_snapshot_lists_every_service_in_config_order() -> None:
    snap = compute_snapshot(CONFIG, {}, [], NOW_OCT3)
    assert [s.service for s in snap.services] == ["api", "office", "batch", "perfect", "empty"]
    assert snap.service("office").target_ratio == pytest.approx(0.995)
    with pytest.raises(KeyError):
        snap.service("nope")


def test_maintenance_starts_and_ends_on_the_minute() -> None:
    def active(now: str) -> bool:
        return compute_snapshot(CONFIG, {}, windows(), t(now)).service("batch").maintenance_active

    assert not active("2026-10-02T22:59:59+00:00")
    assert active("2026-10-02T23:00:00+00:00")
    assert active("2026-10-03T00:59:59+00:00")
    assert not active("2026-10-03T01:00:00+00:00")


def test_a_cancelled_window_is_not_active() -> None:
    (w,) = [w for w in windows() if w.kind == "maintenance"]
    cancelled = replace(w, cancelled_at=t("2026-10-02T23:30:00+00:00"))
    snap = compute_snapshot(CONFIG, {}, [cancelled], NOW_OCT3)
    assert not snap.service("batch").maintenance_active
    assert snap.service("batch").minutes.maintenance == 30


# -- the collector ---------------------------------------------------------------------------


def snapshot_for(cases: Sequence[Case]) -> SlaSnapshot:
    """One snapshot with each case's service as of that case's own ``now``."""
    services = []
    for case in cases:
        snap = compute_snapshot(CONFIG, {case.service: case.runs}, windows(), case.now)
        services.append(snap.service(case.service))
    return SlaSnapshot(taken_at=NOW_OCT3, services=tuple(services))


def by_id(*ids: str) -> list[Case]:
    return [c for c in CASES if c.id in ids]


def test_collector_exposes_the_snapshot() -> None:
    registry = CollectorRegistry()
    collector = SlaCollector(registry)
    collector.update(snapshot_for(by_id("outage_and_degraded", "maintenance_active_now",
                                        "outside_coverage_now", "empty_service")))
    v = registry.get_sample_value
    assert v("upwatch_sla_target_ratio", {"service": "api"}) == pytest.approx(0.999)
    assert v("upwatch_sla_target_ratio", {"service": "office"}) == pytest.approx(0.995)
    assert v("upwatch_sla_uptime_ratio", {"service": "api"}) == pytest.approx(2850 / 2880)
    assert v("upwatch_sla_error_budget_remaining_ratio", {"service": "api"}) == pytest.approx(
        (2.88 - 30) / 2.88)
    assert v("upwatch_sla_state_seconds", {"service": "api", "state": "down"}) == 30 * 60
    assert v("upwatch_sla_state_seconds", {"service": "api", "state": "degraded"}) == 10 * 60
    assert v("upwatch_sla_state_seconds", {"service": "api", "state": "up"}) == 2840 * 60
    assert v("upwatch_sla_state_seconds", {"service": "batch", "state": "maintenance"}) == 3600
    assert v("upwatch_maintenance_active", {"service": "batch"}) == 1
    assert v("upwatch_maintenance_active", {"service": "api"}) == 0
    assert v("upwatch_service_covered", {"service": "office"}) == 0
    assert v("upwatch_service_covered", {"service": "api"}) == 1
    assert v("upwatch_sla_snapshot_timestamp_seconds") == NOW_OCT3.timestamp()
    # nothing eligible yet: no uptime and no budget sample, but the minutes are there
    assert v("upwatch_sla_uptime_ratio", {"service": "empty"}) is None
    assert v("upwatch_sla_error_budget_remaining_ratio", {"service": "empty"}) is None
    assert v("upwatch_sla_state_seconds", {"service": "empty", "state": "nodata"}) == 2880 * 60


def test_every_state_is_exposed_for_every_service() -> None:
    registry = CollectorRegistry()
    SlaCollector(registry).update(snapshot_for(CASES))
    samples = {
        (s.labels["service"], s.labels["state"])
        for metric in registry.collect() if metric.name == "upwatch_sla_state_seconds"
        for s in metric.samples
    }
    services = {c.service for c in CASES}
    assert samples == {(svc, state) for svc in services for state in STATES}


def test_no_budget_sample_when_the_budget_is_zero() -> None:
    registry = CollectorRegistry()
    SlaCollector(registry).update(snapshot_for(by_id("target_100_has_no_budget")))
    assert registry.get_sample_value("upwatch_sla_uptime_ratio", {"service": "perfect"}) == 1
    assert registry.get_sample_value(
        "upwatch_sla_error_budget_remaining_ratio", {"service": "perfect"}) is None


def test_before_the_first_update_only_empty_families() -> None:
    registry = CollectorRegistry()
    collector = SlaCollector(registry)
    assert collector.snapshot is None
    assert [len(metric.samples) for metric in registry.collect()] == [0] * 7
    assert b"upwatch_sla_target_ratio gauge" in generate_latest(registry)


def test_update_replaces_the_samples() -> None:
    registry = CollectorRegistry()
    collector = SlaCollector(registry)
    collector.update(snapshot_for(by_id("outage_and_degraded")))
    first = render(registry)
    collector.update(snapshot_for(by_id("empty_service")))
    assert registry.get_sample_value("upwatch_sla_target_ratio", {"service": "api"}) is None
    assert registry.get_sample_value("upwatch_sla_target_ratio", {"service": "empty"}) == 0.999
    assert render(registry) == generate_latest(registry) != first


def test_the_collector_cannot_be_registered_twice() -> None:
    registry = CollectorRegistry()
    SlaCollector(registry)
    with pytest.raises(ValueError, match="upwatch_sla_target_ratio"):
        SlaCollector(registry)


# -- render ----------------------------------------------------------------------------------


def test_render_is_generate_latest_byte_for_byte() -> None:
    registry = CollectorRegistry()
    metrics = ProbeMetrics(registry)
    odd = 'quote"back\\slash\nnewline'
    for name, ok in [("api", True), (odd, False), ("web", False)]:
        metrics.observe(CheckResult(name, NOW_OCT3, ok, 12.5, 200 if ok else 503,
                                    None if ok else ErrorKind.HTTP_STATUS))
    metrics.observe_cert_expiry("api", 1_800_000_000.0)
    metrics.lag.observe(0.03)
    SlaCollector(registry).update(snapshot_for(CASES))
    assert render(registry) == generate_latest(registry)
    assert render_openmetrics(registry) == openmetrics.generate_latest(registry)
    assert render(registry) == render(registry)  # the cached SLA text changes nothing


# -- refresh from a real ledger ---------------------------------------------------------------


def obs(service: str, when: str, ok: bool) -> Observation:
    result = CheckResult(service, t(when), ok, 20.0 if ok else None, 200 if ok else None,
                         None if ok else ErrorKind.CONNECT)
    return Observation(result, UP if ok else DOWN, 60_000)


async def test_refresh_reads_all_services_in_one_call(tmp_path: Path) -> None:
    clock = FakeClock(t("2026-10-01T00:10:20+00:00"))
    ledger = Ledger(tmp_path / "upwatch.db", clock=clock)
    calls: list[tuple[tuple[str, ...], int, int]] = []
    runs_many = ledger.runs_many

    def spy(services: Sequence[str], start: int, end: int, *, location: str = "local"
            ) -> dict[str, list[Run]]:
        calls.append((tuple(services), start, end))
        return runs_many(services, start, end, location=location)

    ledger.runs_many = spy  # type: ignore[method-assign]
    writer = LedgerWriter(ledger, clock)
    await writer.start()
    try:
        for i in range(10):  # api: 00:00 .. 00:09, down at 00:03 and 00:04
            writer.submit(obs("api", f"2026-10-01T00:{i:02d}:00+00:00", i not in (3, 4)))
        writer.submit(obs("batch", "2026-10-01T00:05:00+00:00", True))
        await writer.flush()
        registry = CollectorRegistry()
        collector = SlaCollector(registry)
        snap = await collector.refresh(CONFIG, writer, config_windows(CONFIG), clock)
        direct = await refresh_snapshot(CONFIG, writer, config_windows(CONFIG), clock)
    finally:
        await writer.close()

    # office's month began at 22:00 UTC the day before: that is where the one read starts
    assert calls == [(CONFIG.service_names, m("2026-09-30T22:00:00+00:00"),
                      m("2026-10-01T00:10:00+00:00"))] * 2
    assert snap == direct
    assert collector.snapshot == snap
    api = snap.service("api")
    # 00:00-00:09 checked, 00:10 carried over from 00:09 but not over yet: 10 minutes counted
    assert api.minutes == mins(up=8, down=2)
    assert registry.get_sample_value("upwatch_sla_uptime_ratio", {"service": "api"}) == 0.8
    batch = snap.service("batch")  # one check at 00:05 carries into 00:06 only
    assert batch.minutes == mins(up=2, nodata=8)


def test_config_windows_reads_probes_yaml_only(tmp_path: Path) -> None:
    fn = config_windows(CONFIG)
    ledger = Ledger(tmp_path / "upwatch.db")
    try:
        found = fn(ledger, t("2026-10-01T00:00:00+00:00"), t("2026-10-04T00:00:00+00:00"))
        outside = fn(ledger, t("2026-11-01T00:00:00+00:00"), t("2026-11-02T00:00:00+00:00"))
    finally:
        ledger.close()
    assert [(w.id, w.services) for w in found] == [("cfg-m0", ("batch",))]
    assert list(outside) == []


def test_state_minutes_items_follow_states() -> None:
    assert mins(up=1, down=2).items() == (
        ("up", 1), ("degraded", 0), ("down", 2), ("maintenance", 0), ("excluded", 0),
        ("nodata", 0), ("uncovered", 0),
    )


# -- ProbeMetrics ----------------------------------------------------------------------------


def result(service: str, ok: bool, latency_ms: float | None = 20.0, status: int | None = 200,
           error: ErrorKind | None = None) -> CheckResult:
    return CheckResult(service, NOW_OCT3, ok, latency_ms, status, error)


def test_probe_metrics_follow_the_last_check() -> None:
    registry = CollectorRegistry()
    metrics = ProbeMetrics(registry)
    v = registry.get_sample_value
    metrics.observe(result("api", True, 250.0))
    assert v("probe_success", {"service": "api"}) == 1
    assert v("probe_duration_seconds", {"service": "api"}) == 0.25
    assert v("probe_http_status_code", {"service": "api"}) == 200
    metrics.observe(result("api", False, None, None, ErrorKind.CONNECT))
    assert v("probe_success", {"service": "api"}) == 0
    assert v("probe_duration_seconds", {"service": "api"}) is None  # nothing was sent
    assert v("probe_http_status_code", {"service": "api"}) == 0
    metrics.observe(result("api", False, 1000.0, 503, ErrorKind.HTTP_STATUS))
    assert v("probe_duration_seconds", {"service": "api"}) == 1.0
    assert v("upwatch_checks_total", {"service": "api", "result": "ok"}) == 1
    assert v("upwatch_checks_total", {"service": "api", "result": "connect"}) == 1
    assert v("upwatch_checks_total", {"service": "api", "result": "http_status"}) == 1
    assert v("upwatch_build_info", {"version": "0.1.0"}) == 1


def test_cert_expiry_and_forget() -> None:
    registry = CollectorRegistry()
    metrics = ProbeMetrics(registry)
    for name in ("api", "web"):
        metrics.observe(result(name, False, 5.0, 500, ErrorKind.HTTP_STATUS))
        metrics.observe(result(name, True))
        metrics.observe_cert_expiry(name, 1_800_000_000)
        metrics.probe_errors.labels(name).inc()
    assert registry.get_sample_value("probe_ssl_earliest_cert_expiry",
                                     {"service": "api"}) == 1_800_000_000
    metrics.observe_cert_expiry("web", None)
    assert registry.get_sample_value("probe_ssl_earliest_cert_expiry", {"service": "web"}) is None
    metrics.forget("api")
    services = {s.labels.get("service") for metric in registry.collect()
                for s in metric.samples}
    assert "api" not in services and "web" in services
    metrics.forget("api")  # forgetting twice is harmless
    metrics.observe(result("api", True))  # and a forgotten service can come back
    assert registry.get_sample_value("upwatch_checks_total",
                                     {"service": "api", "result": "ok"}) == 1


def test_service_family_rejects_misuse() -> None:
    registry = CollectorRegistry()
    metrics = ProbeMetrics(registry)
    with pytest.raises(ValueError, match="expected labels"):
        metrics.checks.inc(("api",))
    with pytest.raises(ValueError, match="only go up"):
        metrics.checks.inc(("api", "ok"), -1)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        ProbeMetrics(registry)  # one registry, one ProbeMetrics
