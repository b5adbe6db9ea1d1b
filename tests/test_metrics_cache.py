"""/metrics re-encodes only what changed: the cached text is always the library's own text."""

from __future__ import annotations

import gzip
import random
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fakes import Scheduler, Writer
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics import exposition as openmetrics
from tools import require_tool

from monitor.config import Config, parse_config
from monitor.core.checks import CheckResult, ErrorKind, State
from monitor.core.clock import FakeClock
from monitor.core.minutes import Run
from monitor.core.windows import windows_from_config
from monitor.metrics import chunks, exposition
from monitor.metrics import sla as sla_module
from monitor.metrics.exposition import _quick_prefix_matches
from monitor.metrics.probes import (
    ProbeMetrics,
    accepts_gzip,
    render,
    render_gzip,
    render_openmetrics,
)
from monitor.metrics.sla import SlaCollector, compute_snapshot
from monitor.times import epoch_minute
from monitor.web.app import Runtime, make_app

NOW = datetime(2026, 10, 20, 12, 30, 15, tzinfo=UTC)
ODD = 'quote"back\\slash\nnew line é€'  # not a valid service name, but label values may be
PROMETHEUS_2 = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")


def config_of(names: list[str]) -> Config:
    lines = ["services:"]
    for i, name in enumerate(names):
        sla = ("{target: 99.95, timezone: Europe/Copenhagen, coverage: {days: mon-fri, "
               "hours: '09:00-17:00'}}" if i % 3 == 0 else "{target: 99.9}")
        lines.append(f'  - {{name: "{name}", url: "https://svc-{i}.example.test/", sla: {sla}}}')
    return parse_config("\n".join(lines) + "\n", "test.yaml")


def runs_of(config: Config, seed: int) -> dict[str, list[Run]]:
    start = epoch_minute(datetime(2026, 10, 1, tzinfo=UTC)) - 120
    now = epoch_minute(NOW)
    out = {}
    for i, svc in enumerate(config.services):
        outage = start + 3000 + (37 * i + seed) % 9000
        out[svc.name] = [Run(start, outage, State.UP),
                         Run(outage, outage + 1 + (i + seed) % 5, State.DOWN),
                         Run(outage + 1 + (i + seed) % 5, now, State.UP)]
    return out


def snapshot(config: Config, seed: int = 0, at: datetime = NOW) -> Any:
    windows = windows_from_config(config, at - timedelta(days=40), at + timedelta(days=1))
    return compute_snapshot(config, runs_of(config, seed), windows, at)


def check(service: str, i: int) -> CheckResult:
    ok = i % 3 != 0
    return CheckResult(service, NOW, ok, None if i % 5 == 0 else 10.0 + i,
                       200 if ok else 503, None if ok else ErrorKind.HTTP_STATUS)


def assert_library_bytes(registry: CollectorRegistry) -> bytes:
    """Both formats equal the library's, plain and gzipped; returns the text format."""
    text = render(registry)
    assert text == generate_latest(registry)
    assert gzip.decompress(render_gzip(registry, om=False)) == text
    om = render_openmetrics(registry)
    assert om == openmetrics.generate_latest(registry)
    assert gzip.decompress(render_gzip(registry, om=True)) == om
    return text


@pytest.fixture
def filled() -> tuple[CollectorRegistry, ProbeMetrics, SlaCollector, Config]:
    config = config_of(["api", "web", "x-1.y_z", "batch"])
    registry = CollectorRegistry()
    metrics = ProbeMetrics(registry)
    for i, svc in enumerate(config.services):
        metrics.observe(check(svc.name, i + 1))
        metrics.observe_cert_expiry(svc.name, 1_800_000_000.0 + i)
    metrics.observe(check(ODD, 2))
    sla = SlaCollector(registry)
    sla.update(snapshot(config))
    render(registry), render_openmetrics(registry)  # both caches warm
    return registry, metrics, sla, config


def test_the_quick_prefix_is_the_librarys() -> None:
    assert _quick_prefix_matches(om=False)
    assert _quick_prefix_matches(om=True)


def test_a_changed_value_shows_at_the_next_scrape(filled: Any) -> None:
    registry, metrics, sla, config = filled
    line = b'probe_success{service="api"} 1.0\n'
    assert line in render(registry)
    metrics.observe(check("api", 3))  # fails
    text = assert_library_bytes(registry)
    assert line not in text and b'probe_success{service="api"} 0.0\n' in text
    assert b'upwatch_checks_total{result="http_status",service="api"} 1.0\n' in text

    before = render(registry)
    sla.update(snapshot(config, at=NOW + timedelta(minutes=1)))
    after = assert_library_bytes(registry)
    assert after != before
    assert registry.get_sample_value("upwatch_sla_snapshot_timestamp_seconds") == (
        (NOW + timedelta(minutes=1)).timestamp())


def test_nothing_changed_is_the_same_text(filled: Any) -> None:
    registry, *_ = filled
    assert render(registry) is not None and render(registry) == render(registry)
    assert render_openmetrics(registry) == render_openmetrics(registry)


def test_a_removed_service_disappears(filled: Any) -> None:
    registry, metrics, sla, config = filled
    assert b'service="web"' in render(registry)
    reloaded = config_of(["api", "x-1.y_z", "batch"])  # config reload: web removed
    metrics.forget("web")
    sla.update(snapshot(reloaded))
    text = assert_library_bytes(registry)
    assert b'service="web"' not in text
    assert b'service="api"' in text
    # and it comes back, at the end of each family as the library puts it
    metrics.observe(check("web", 7))
    sla.update(snapshot(config))
    assert b'service="web"' in assert_library_bytes(registry)


def test_a_dropped_series_disappears(filled: Any) -> None:
    registry, metrics, *_ = filled
    metrics.observe(check("api", 5))  # latency None: probe_duration_seconds dropped
    metrics.observe_cert_expiry("web", None)
    text = assert_library_bytes(registry)
    assert b'probe_duration_seconds{service="api"}' not in text
    assert b'probe_ssl_earliest_cert_expiry{service="web"}' not in text


@pytest.mark.parametrize("seed", range(5))
def test_cached_output_equals_an_uncached_render(seed: int) -> None:
    """Random sets, drops, forgets and SLA updates: after each step, the library's bytes."""
    rnd = random.Random(seed)
    names = ["api", "web", ODD, "b", "", "c\\", "é", "x-1.y_z"]
    valid = ["api", "web", "b", "x-1.y_z"]
    registry = CollectorRegistry()
    metrics = ProbeMetrics(registry)
    sla = SlaCollector(registry)
    values = [0.0, -0.0, 1.0, 0.1 + 0.2, 1e21, 12345678.9, float("inf"), float("-inf"),
              float("nan"), 1_800_000_000.5]
    assert_library_bytes(registry)
    for step in range(60):
        name = rnd.choice(names)
        op = rnd.randrange(6)
        if op == 0:
            metrics.observe(check(name, rnd.randrange(10)))
        elif op == 1:
            metrics.success.set((name,), rnd.choice(values))
        elif op == 2:
            metrics.observe_cert_expiry(name, rnd.choice([None, *values]))
        elif op == 3:
            metrics.forget(name)
        elif op == 4:
            metrics.checks.inc((name, rnd.choice(["ok", "dns", "tls"])), rnd.choice([0.0, 1.0]))
        else:
            chosen = [n for n in valid if rnd.random() < 0.7]
            sla.update(snapshot(config_of(chosen), seed=step,
                                at=NOW + timedelta(minutes=rnd.randrange(3))))
        if rnd.random() < 0.6:  # not every change is scraped before the next one
            assert_library_bytes(registry)
    assert_library_bytes(registry)


def test_a_snapshot_with_a_service_twice_is_still_the_librarys(filled: Any) -> None:
    registry, _, sla, config = filled
    snap = snapshot(config)
    sla.update(type(snap)(taken_at=snap.taken_at, services=snap.services + snap.services[:1]))
    assert_library_bytes(registry)
    sla.update(snapshot(config))
    assert_library_bytes(registry)




def test_gzip_is_the_plain_render_in_several_members(filled: Any) -> None:
    registry, metrics, sla, config = filled
    for om in (False, True):
        body = render_gzip(registry, om=om)
        plain = render_openmetrics(registry) if om else render(registry)
        assert gzip.decompress(body) == plain
        assert body.count(b"\x1f\x8b\x08") > 10  # a member per family header and chunk at least
    metrics.observe(check("web", 3))
    sla.update(snapshot(config, at=NOW + timedelta(minutes=1)))
    assert_library_bytes(registry)


class Compressions:
    """Counts what :func:`chunks.gzip_member` is asked to compress (chunks' members, and the
    library-encoded families :mod:`~monitor.metrics.exposition` compresses)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.inputs: list[bytes] = []
        real = chunks.gzip_member

        def counted(data: bytes) -> bytes:
            self.inputs.append(data)
            return real(data)

        monkeypatch.setattr(chunks, "gzip_member", counted)
        monkeypatch.setattr(exposition, "gzip_member", counted)

    def take(self) -> list[bytes]:
        out, self.inputs = self.inputs, []
        return out


@pytest.fixture
def large() -> tuple[CollectorRegistry, ProbeMetrics, SlaCollector, Config]:
    config = config_of([f"svc-{i}" for i in range(6 * chunks.CHUNK)])
    registry = CollectorRegistry()
    metrics = ProbeMetrics(registry)
    for i, svc in enumerate(config.services):
        metrics.observe(check(svc.name, i + 1))
    sla = SlaCollector(registry)
    sla.update(snapshot(config))
    for om in (False, True):
        render_gzip(registry, om=om)
    return registry, metrics, sla, config


def test_only_the_chunks_that_changed_are_compressed_again(
    large: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry, metrics, sla, config = large
    compressed = Compressions(monkeypatch)
    render_gzip(registry, om=True)
    assert len(compressed.take()) == 1  # only the library-encoded families in between

    metrics.success.set(("svc-2500",), 0.0)
    body = render_gzip(registry, om=True)
    changed = compressed.take()
    assert len(changed) == 2  # the chunk holding svc-2500, and the families in between
    assert b'probe_success{service="svc-2500"} 0.0\n' in changed[0]
    assert len(changed[0].splitlines()) < 4 * chunks.CHUNK
    assert gzip.decompress(body) == openmetrics.generate_latest(registry)
    # the lines are shared between the formats: the text format compresses nothing more
    render_gzip(registry, om=False)
    assert len(compressed.take()) == 1

    metrics.success.set(("svc-2500",), 0.0)  # the same value again changes nothing
    render_gzip(registry, om=True)
    assert len(compressed.take()) == 1

    # an SLA refresh compresses its changed chunks itself, the scrape none of them
    snap = snapshot(config)
    sla.update(type(snap)(taken_at=snap.taken_at + timedelta(seconds=30),
                          services=snap.services))
    assert [c.count(b"\n") for c in compressed.take()] == [1]  # only the timestamp
    render_gzip(registry, om=True)
    assert len(compressed.take()) == 1


def test_a_series_gone_from_the_middle_changes_one_chunk(
    large: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry, metrics, *_ = large
    compressed = Compressions(monkeypatch)
    metrics.forget("svc-3000")
    metrics.observe(check("svc-10", 5))  # no latency: its duration series goes, then comes back
    metrics.observe(check("svc-10", 1))
    text = assert_library_bytes(registry)
    assert b'probe_success{service="svc-3000"}' not in text
    changed = compressed.take()
    # the chunk that held svc-3000 in each of the 4 probe families it was in; for svc-10 the
    # duration chunk it left and the last one it came back to, and its checks counter's
    # chunk; the library-encoded families in between, once per format. Every other chunk
    # (~30 of them) kept its member.
    assert len(changed) == 4 + 3 + 2
    assert all(len(c.splitlines()) < 4 * chunks.CHUNK for c in changed)


@pytest.mark.parametrize(("header", "accepted"), [
    ("gzip", True), ("GZIP", True), ("gzip, deflate, br", True), ("br;q=1.0, gzip;q=0.8", True),
    ("*", True), ("x-gzip", True), ("", False), ("identity", False), ("deflate, br", False),
    ("gzip;q=0", False), ("gzip;q=0.0, *", False), ("*;q=0", False), ("gzip;q=oops", False),
], ids=lambda v: repr(v))
def test_accept_encoding(header: str, accepted: bool) -> None:
    assert accepts_gzip(header) is accepted


@pytest.mark.parametrize("accept", ["", PROMETHEUS_2], ids=["text", "prometheus-2"])
async def test_the_endpoint_sends_the_cached_gzip_members(
    aiohttp_client: Callable[..., Any], filled: Any, accept: str
) -> None:
    registry, metrics, sla, config = filled
    runtime = Runtime(config, FakeClock(NOW), registry, Scheduler(), Writer())  # type: ignore[arg-type]
    client = await aiohttp_client(make_app(runtime), auto_decompress=False)
    library = openmetrics.generate_latest if accept else generate_latest
    headers = {"Accept": accept, "Accept-Encoding": "gzip"}
    async with client.get("/metrics", headers=headers) as resp:
        assert resp.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(await resp.read()) == library(registry)  # compressed once
    async with client.get("/metrics", headers={"Accept": accept,
                                               "Accept-Encoding": "identity"}) as resp:
        assert "Content-Encoding" not in resp.headers
        assert await resp.read() == library(registry)


@pytest.mark.parametrize("accept", ["", PROMETHEUS_2], ids=["text", "prometheus-2"])
async def test_the_endpoint_serves_each_change(
    aiohttp_client: Callable[..., Any], filled: Any, accept: str
) -> None:
    registry, metrics, sla, config = filled
    runtime = Runtime(config, FakeClock(NOW), registry, Scheduler(), Writer())  # type: ignore[arg-type]
    client = await aiohttp_client(make_app(runtime))
    library = openmetrics.generate_latest if accept else generate_latest
    for step in range(3):
        metrics.observe(check("api", step))
        sla.update(snapshot(config, at=NOW + timedelta(minutes=step)))
        headers = {"Accept": accept, "Accept-Encoding": "gzip"} if accept else {}
        async with client.get("/metrics", headers=headers) as resp:
            assert resp.status == 200
            assert await resp.read() == library(registry)


def test_promtool_passes_a_large_cached_exposition() -> None:
    promtool = require_tool("promtool", "prometheus")
    config = config_of([f"svc-{i}" for i in range(2000)])
    registry = CollectorRegistry()
    metrics = ProbeMetrics(registry)
    for i, svc in enumerate(config.services):
        metrics.observe(check(svc.name, i))
        metrics.observe_cert_expiry(svc.name, 1_800_000_000.0 + i)
    metrics.observe(check(ODD, 1))
    metrics.services.set(len(config.services))
    sla = SlaCollector(registry)
    sla.update(snapshot(config))
    render(registry)
    for i, svc in enumerate(config.services[::7]):  # a second scrape, after some changes
        metrics.observe(check(svc.name, i + 1))
    sla.update(snapshot(config, at=NOW + timedelta(minutes=1)))
    body = assert_library_bytes(registry)
    assert body.count(b"\n") > 30_000
    proc = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout + proc.stderr == b""


def test_the_sla_arithmetic_pauses_between_services_and_computes_the_same() -> None:
    """In its worker thread the arithmetic hands the GIL to the event loop every few services
    (1-3 s of Python at 20,000 services held it); the figures are the same either way."""
    config = config_of([f"svc-{i}" for i in range(60)])
    windows = windows_from_config(config, NOW - timedelta(days=40), NOW + timedelta(days=1))
    runs = runs_of(config, 0)
    calls: list[int] = []
    paused = compute_snapshot(config, runs, windows, NOW, between=lambda: calls.append(1))
    assert len(calls) == 60 // sla_module.PAUSE_EVERY_SERVICES
    assert paused == compute_snapshot(config, runs, windows, NOW)
