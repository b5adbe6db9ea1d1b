"""``upwatch run --location NAME``: a prober in another location. It probes the services its
location probes (``services[].locations`` in probes.yaml) and sends every result to the central
``upwatch run``, which keeps the ledger, folds the locations by quorum and serves the page.

Results go first into a local durable spool (:mod:`monitor.store.spool`), then to the central
(:mod:`monitor.run.pusher`): a central that is down or restarting loses nothing, the prober
probes on, and the spool drains in order once the central answers again. The prober serves
``/healthz`` (unhealthy when the central has taken nothing for :data:`STALE_PUSH_S` while
results wait, or when the spool is full) and ``/metrics`` (the probe series, labelled with
nothing more than the central's, and the spool's figures).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from monitor.config import load_config
from monitor.config.locations import unknown_location_problem
from monitor.core.checks import Observation
from monitor.core.clock import Clock, SystemClock
from monitor.errors import UpwatchError
from monitor.metrics.probes import ProbeMetrics, negotiate
from monitor.probes.http import make_session
from monitor.probes.kinds import ServiceProbe
from monitor.run.pusher import Pusher
from monitor.run.scheduler import ProbeScheduler
from monitor.store.runlock import RunLock
from monitor.store.spool import DEFAULT_MAX_RESULTS, AsyncSpool, result_line

__all__ = ["MAX_BACKOFF_S", "STALE_PUSH_S", "Prober", "ProberError", "ProberOptions", "SpoolSink",
           "serve_prober"]

log = logging.getLogger("upwatch.prober")

#: Results waiting this long without the central taking any make the prober unhealthy.
STALE_PUSH_S = 600.0
#: The longest wait between two pushes to a central that does not answer: once it is back, the
#: backlog starts to drain within this (a minute's cap made a 60 s goal impossible).
MAX_BACKOFF_S = 15.0


class ProberError(UpwatchError):
    """The prober cannot start as asked; the message names the setting and the fix."""


@dataclass(frozen=True)
class ProberOptions:
    config_path: Path
    location: str
    spool_path: Path
    central_url: str | None = None  # None: probes.yaml's central_url
    host: str = "127.0.0.1"
    port: int = 8081
    max_concurrency: int = 256
    max_spool: int = DEFAULT_MAX_RESULTS
    shutdown_grace_s: float = 10.0
    #: The local address probes connect from (None: the system's choice).
    source_address: str | None = None
    #: The pusher's first wait after a failed push, doubling to a minute.
    first_backoff_s: float = 1.0
    #: False: checks run only when asked (tests on a fake clock).
    schedule: bool = True


class SpoolSink:
    """Where the scheduler's results go: buffered for at most ``flush_interval`` seconds (or
    ``max_batch`` results), then appended to the spool in one transaction, so that an fsync
    per check does not become the prober's limit."""

    def __init__(self, pusher: Pusher, *, flush_interval: float = 1.0,
                 max_batch: int = 1000) -> None:
        self._pusher = pusher
        self._flush_interval = flush_interval
        self._max_batch = max_batch
        self._lines: list[str] = []
        self._pending = asyncio.Event()
        self._urgent = asyncio.Event()
        self._lock = asyncio.Lock()

    @property
    def buffered(self) -> int:
        return len(self._lines)

    def submit(self, obs: Observation) -> None:
        self._lines.append(result_line(obs.result))
        self._pending.set()
        if len(self._lines) >= self._max_batch:
            self._urgent.set()

    async def flush(self) -> None:
        async with self._lock:
            lines, self._lines = self._lines, []
            self._pending.clear()
            self._urgent.clear()
            if lines:
                await self._pusher.submit(lines)

    async def run(self) -> None:
        while True:
            await self._pending.wait()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._urgent.wait(), self._flush_interval)
            try:
                await self.flush()
            except Exception:  # the spool's file failed: the lines are lost, say so loudly
                log.exception("results could not be written to the spool")


class _SpoolMetrics:
    """The spool's and the pusher's figures, read at scrape time."""

    def __init__(self, prober: Prober) -> None:
        self._prober = prober

    def collect(self) -> Iterator[Metric]:
        p = self._prober.pusher
        labels = ["location"]
        location = [self._prober.location]
        gauge = GaugeMetricFamily("upwatch_spool_results",
                                  "Results in the prober's spool, not yet taken by the central.",
                                  labels=labels)
        gauge.add_metric(location, float(p.backlog))
        yield gauge
        age = GaugeMetricFamily("upwatch_spool_oldest_age_seconds",
                                "Age of the oldest result not yet taken by the central.",
                                labels=labels)
        age.add_metric(location, self._prober.oldest_unsent_age() or 0.0)
        yield age
        for name, doc, value in (
            ("upwatch_push_recorded", "Results the central recorded.", p.recorded),
            ("upwatch_push_invalid", "Results the central refused as invalid.", p.invalid),
            ("upwatch_push_failures", "Pushes that failed and were retried.", p.failures),
            ("upwatch_spool_refused", "Results refused by a full spool (lost).",
             self._prober.spool.refused),
        ):
            counter = CounterMetricFamily(name, doc, labels=labels)
            counter.add_metric(location, float(value))
            yield counter


class Prober:
    """One prober. ``await start()`` → probing and pushing; ``await stop()`` → spooled."""

    def __init__(self, opts: ProberOptions, clock: Clock | None = None,
                 environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.opts = opts
        self.clock: Clock = clock or SystemClock()
        self.config = load_config(opts.config_path)
        self.location = opts.location
        if not self.config.locations or opts.location not in self.config.location_names:
            problem = unknown_location_problem(opts.location, self.config.location_names,
                                               implicit=not self.config.locations)
            raise ProberError(f"--location: {problem}")
        loc = self.config.location_config(opts.location)
        self.token_env = loc.token_env
        self._token = env.get(loc.token_env, "").strip()
        if not self._token:
            raise ProberError(f'set {loc.token_env} to location "{loc.name}"\'s push token (the '
                              "same value the central has in its environment)")
        central = opts.central_url or self.config.central_url
        if not central:
            raise ProberError("no central to push to: pass --central URL or set central_url in "
                              "probes.yaml")
        self.central_url = str(central)
        self.services = self.config.probes_here(opts.location)
        if not self.services:
            raise ProberError(f'location "{opts.location}" probes no service: list it in some '
                              "service's locations, or leave those out (all locations)")
        self._lock = RunLock(opts.spool_path, option="--spool")
        self.registry = CollectorRegistry()
        self.metrics = ProbeMetrics(self.registry, locations=True)
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.port = opts.port

    async def start(self) -> None:
        """Open the spool, serve /healthz and /metrics, start pushing and probing."""
        self._lock.acquire()
        try:
            self.spool = await AsyncSpool.open(
                self.opts.spool_path, self.opts.max_spool, clock=self.clock,
                raise_hint="raise --max-spool")
        except BaseException:
            self._lock.release()
            raise
        try:
            await self._start_rest()
        except BaseException:
            await self._close()
            raise

    async def _start_rest(self) -> None:
        self._push_session = aiohttp.ClientSession()
        self._probe_session = make_session(source_address=self.opts.source_address)
        self.pusher = Pusher(self.spool, self._push_session, self.central_url, self._token,
                             self.token_env, self.clock,
                             first_backoff=self.opts.first_backoff_s,
                             max_backoff=max(MAX_BACKOFF_S, self.opts.first_backoff_s))
        self.sink = SpoolSink(self.pusher)
        self.scheduler = ProbeScheduler(
            ServiceProbe(self._probe_session, self.clock, location=self.location,
                         source_address=self.opts.source_address), self.sink,
            self.metrics, self.clock, max_concurrency=self.opts.max_concurrency)
        self.registry.register(_SpoolMetrics(self))
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.opts.host, self.opts.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._tasks = [asyncio.create_task(self.pusher.run(), name="pushing results"),
                       asyncio.create_task(self.sink.run(), name="spooling results")]
        self.scheduler.start(self.services, schedule=self.opts.schedule)
        log.info('prober for location "%s": %d services, pushing to %s, spool %s (%d waiting)',
                 self.location, len(self.services), self.central_url, self.opts.spool_path,
                 len(self.spool))

    def oldest_unsent_age(self) -> float | None:
        oldest = self.spool.oldest_at
        return None if oldest is None else max(0.0, (self.clock.now() - oldest).total_seconds())

    def health(self) -> tuple[bool, dict[str, Any]]:
        problems: list[str] = []
        if not self.scheduler.running:
            problems.append("scheduler is not running")
        age = self.oldest_unsent_age()
        if self.pusher.token_refused:  # nothing will get through until someone fixes it
            problems.append(f"the central refuses this location's token: "
                            f"{self.pusher.last_error}")
        elif age is not None and age > STALE_PUSH_S:
            problems.append(f"the central has taken no result for {age:.0f}s: "
                            f"{self.pusher.last_error or 'no answer yet'}")
        if self.spool.refused:
            problems.append(f"the spool is full: {self.spool.refused} results lost")
        last = self.pusher.last_success
        return not problems, {
            "status": "ok" if not problems else "unhealthy", "problems": problems,
            "location": self.location, "central": self.central_url,
            "services": len(self.services), "scheduler_running": self.scheduler.running,
            "spool_backlog": self.pusher.backlog,
            "oldest_unsent_age_s": None if age is None else round(age, 3),
            "last_push_success": None if last is None else last.isoformat(),
            "last_push_error": self.pusher.last_error,
        }

    async def _healthz(self, request: web.Request) -> web.Response:
        healthy, body = self.health()
        return web.json_response(body, status=200 if healthy else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        render, content_type = negotiate(request.headers.get("Accept", ""))
        body = await asyncio.to_thread(render, self.registry)
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def stop(self) -> None:
        """Stop probing; every result taken so far is in the spool when this returns."""
        await self.scheduler.stop(grace=self.opts.shutdown_grace_s)
        await self.sink.flush()
        self.pusher.stop()
        await self._close()
        log.info("prober stopped; %d results wait in the spool", len(self.spool))

    async def _close(self) -> None:
        """Close whatever :meth:`start` opened (all of it, or as far as it got)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
        for session in (getattr(self, "_push_session", None),
                        getattr(self, "_probe_session", None)):
            if session is not None:
                await session.close()
        await self.spool.close()
        self._lock.release()


async def serve_prober(opts: ProberOptions, clock: Clock | None = None) -> int:
    """Run a prober until SIGTERM/SIGINT. Returns the process exit code."""
    import signal

    prober = Prober(opts, clock)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await prober.start()
        try:
            await stop.wait()
        finally:
            await prober.stop()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    return 0
