"""``upwatch run``: probers, scheduler, ledger writer and the HTTP server, wired and supervised.

Signals: SIGTERM/SIGINT stop scheduling, let in-flight checks finish (bounded), flush the ledger
and exit 0. SIGHUP re-reads the config: a valid file is applied without disturbing unchanged
services; an invalid one is refused, its problems logged, and the old config keeps running.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from monitor.config import Config, ConfigError, ServiceConfig, load_config
from monitor.core.clock import Clock, SystemClock
from monitor.incidents.desk import IncidentDesk
from monitor.incidents.detection import policy_from_config
from monitor.ingest import MAX_LINES
from monitor.metrics.probes import ProbeMetrics
from monitor.metrics.push import PushCollector
from monitor.metrics.sla import SlaCollector
from monitor.notify.channels import channels_from_config
from monitor.notify.outbox import Outbox
from monitor.probes.http import make_session
from monitor.probes.kinds import ServiceProbe
from monitor.run.central import Central
from monitor.run.certs import check_certificates
from monitor.run.collector import restore_collector, tune_collector
from monitor.run.leader import POLL_S, Lead, Leadership, SoleLeader
from monitor.run.pages import SitePlan
from monitor.run.pings import PingBook
from monitor.run.rebuild import PageBuilder
from monitor.run.scheduler import ProbeScheduler
from monitor.run.subscriptions import subscription_parts
from monitor.store.ledger import Ledger
from monitor.store.runlock import RunLock
from monitor.store.writer import LedgerWriter
from monitor.web.admin import AdminTokens, load_admin_tokens
from monitor.web.app import Runtime, make_app
from monitor.web.results import load_location_tokens
from monitor.windows.declarations import active_windows, window_summary
from monitor.windows.events import MaintenanceAnnouncer
from monitor.windows.sources import WindowsFn, config_windows, with_declared

log = logging.getLogger("upwatch")


@dataclass(frozen=True)
class RunOptions:
    config_path: Path
    db_path: str | Path  # an SQLite file, or a postgresql:// URL
    host: str = "127.0.0.1"
    port: int = 8080
    max_concurrency: int = 256
    shutdown_grace_s: float = 10.0
    site: SitePlan | None = None  # None: no status page
    sla_refresh_s: float = 30.0
    cert_check_s: float = 3600.0
    page_rebuild_s: float = 60.0
    #: False: checks run only when asked (``monitor.scheduler.run_check``), never on the wall
    #: clock (tests on a fake clock, one-shot tools). The other periodic jobs still run.
    schedule: bool = True


class Monitor:
    """One running upwatch. ``start()`` → running; ``stop()`` → flushed and closed."""

    def __init__(self, opts: RunOptions, clock: Clock | None = None) -> None:
        self.opts = opts
        self.clock: Clock = clock or SystemClock()
        self.config = load_config(opts.config_path)
        admin_tokens = load_admin_tokens(os.environ)  # refused before anything is opened
        self.registry = CollectorRegistry()
        # with locations, probe series are per (service, location); fixed until a restart
        self.metrics = ProbeMetrics(self.registry, locations=bool(self.config.locations))
        # One `upwatch run` per SQLite file; on PostgreSQL, replicas elect one leader.
        self._lock = RunLock(opts.db_path) if isinstance(opts.db_path, Path) else None
        self._health: dict[str, Any] = {}  # the leader election's, for /healthz
        self.lead: Lead = SoleLeader() if self._lock is not None else Leadership(
            str(opts.db_path), report=self._health)
        if self._lock is not None:
            self._lock.acquire()
        try:
            self.ledger = Ledger(opts.db_path, clock=self.clock)
        except BaseException:
            self._release_lock()
            raise
        try:
            self.ledger.ready_to_record()  # damaged or read-only: refuse now, exit 3
        except BaseException:
            self.ledger.close()
            self._release_lock()
            raise
        try:
            self._wire(opts, admin_tokens)
        except BaseException:
            self.ledger.close()
            self._release_lock()
            raise
        self._runner: web.AppRunner | None = None
        self.port: int = opts.port
        self._stopping = asyncio.Event()
        self.pages = PageBuilder(opts.site, opts.config_path, opts.db_path, self.clock,
                                 opts.page_rebuild_s)
        self._reload_lock = asyncio.Lock()  # one reload at a time
        self._gc_threshold: tuple[int, int, int] | None = None  # as it was before start()
        self._outbox_task: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._checking: dict[str, asyncio.Task[None]] = {}  # push services checked after a ping

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.release()

    def leading(self) -> bool:
        """Whether this process does what must happen once (always, on an SQLite ledger)."""
        return self.lead.leading

    def _wire(self, opts: RunOptions, admin_tokens: AdminTokens | None) -> None:
        """The parts around the ledger; a channel that cannot be set up raises here, and the
        probe session made for it is let go without a warning."""
        # a prober's push (up to MAX_LINES results) is committed in one transaction
        self.writer = LedgerWriter(self.ledger, self.clock, max_batch=MAX_LINES,
                                   prune_when=self.leading)
        self.metrics.queued.set_function(lambda: float(self.writer.queued))
        self.sla = SlaCollector(self.registry)
        self._session = make_session()
        self.probe = ServiceProbe(self._session, self.clock, location=self.config.location)
        # Channels and the incident policy are read at start; a reload does not change them.
        try:
            channels = channels_from_config(self.config, self._session, self.clock, os.environ)
        except BaseException:
            self._session.detach()  # nothing was opened through it: closed without a word
            raise
        self.subscriptions = subscription_parts(self.config, self.writer, self.clock, channels)
        subscribers = None if self.subscriptions is None else self.subscriptions.subscribers
        self.outbox = Outbox(self.writer, channels, self.clock, active=self.leading,
                             subscribers=subscribers)
        self.incidents = IncidentDesk(self.writer, self.clock, policy_from_config(self.config),
                                      self.config, self.outbox)
        self.maintenance_events = MaintenanceAnnouncer(
            self.writer, self.outbox, self.clock,
            lambda ledger, lo, hi: self.windows_fn()(ledger, lo, hi))
        self.scheduler = ProbeScheduler(self.probe, self.writer, self.metrics, self.clock,
                                        max_concurrency=opts.max_concurrency,
                                        on_result=lambda *result: self.central.feed.on_result(
                                            *result))
        self.runtime = Runtime(self.config, self.clock, self.registry, self.scheduler,
                               self.writer,
                               site_dir=None if opts.site is None else opts.site.out_dir,
                               admin_tokens=admin_tokens, incidents=self.incidents,
                               location_tokens=load_location_tokens(self.config, os.environ))
        self.runtime.extra_health = self._health  # the leader election reports into it
        if self.subscriptions is not None:
            self.subscriptions.serve(self.runtime, self.outbox)
        # push services: their pings arrive at /ping/<token>; a check reads them (looked up
        # by name for every ping: a dict, not Config.service's pydantic attribute lookup)
        self._push_services = {s.name: s for s in self.config.services if s.kind == "push"}
        self.pings = PingBook(self.writer, self.clock, self._push_service, self._check_soon)
        self.probe.push.states = self.pings.state
        self.runtime.pings = self.pings
        PushCollector(self.registry, self.pings.last_pings)
        # A window declared or cancelled through the API shows in /metrics and /healthz at once.
        self.runtime.on_windows_changed = self.refresh_sla
        self.central = Central(self.config, self.clock, self.registry, self.runtime,
                               self.metrics, self.incidents, self.outbox, self.leading)

    def _push_service(self, name: str) -> ServiceConfig | None:
        return self._push_services.get(name)

    def _check_soon(self, name: str) -> None:
        """A push service's ping changed its verdict: check it now (on the leader)."""
        async def check() -> None:
            await self.scheduler.run_check(name)

        if self.lead.leading and self.scheduler.running and name not in self._checking:
            task = asyncio.create_task(check(), name=f"checking {name} after a ping")
            self._checking[name] = task
            task.add_done_callback(lambda _: self._checking.pop(name, None))

    @property
    def tls_context(self) -> ssl.SSLContext | None:
        """What tls services and certificate expiry are verified against (None: the system's
        trust store)."""
        return self.probe.tls_context

    @tls_context.setter
    def tls_context(self, context: ssl.SSLContext | None) -> None:
        self.probe.tls_context = context

    def windows_fn(self) -> WindowsFn:
        """Where the SLA figures get their windows: probes.yaml's and the declared ones."""
        return with_declared(config_windows(self.config))

    @property
    def page_interval(self) -> float:
        """Seconds between page builds: the plan's, longer while builds take long."""
        return self.pages.interval

    async def rebuild_page(self) -> None:
        """One status page build (:class:`monitor.run.rebuild.PageBuilder`)."""
        await self.pages.rebuild()

    async def announce_maintenance(self) -> None:
        """Queue notifications for maintenance windows that started or ended (exactly once)."""
        await self.maintenance_events.tick()

    async def check_certificates(self) -> None:
        """The hourly certificate check (:func:`monitor.run.certs.check_certificates`)."""
        await check_certificates(self.config.services, self.probe, self.metrics)

    async def refresh_sla(self) -> None:
        """Recompute the month-to-date SLA figures /metrics serves (one ledger read), and the
        maintenance windows in force that /healthz lists."""
        await self.sla.refresh(self.config, self.writer, self.windows_fn(), self.clock)
        now = self.clock.now()
        windows_fn = self.windows_fn()
        windows = await self.writer.read(
            lambda ledger: windows_fn(ledger, now - timedelta(days=8), now + timedelta(days=1)))
        self.runtime.extra_health["maintenance_active"] = [
            window_summary(w) for w in active_windows(windows, now) if w.kind == "maintenance"]

    def _every(self, seconds: float | Callable[[], float], job: Callable[[], Awaitable[None]],
               what: str, *, leader_only: bool = False) -> None:
        """Run ``job`` now and then every ``seconds`` (a number, or asked anew each time);
        ``leader_only``: only while this process leads (replicas: :mod:`monitor.run.leader`)."""

        def pause() -> float:
            return seconds() if callable(seconds) else seconds

        async def loop() -> None:
            while not self._stopping.is_set():
                try:
                    if not leader_only or self.lead.leading:
                        await job()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("%s failed; trying again in %.0fs", what, pause())
                try:
                    await asyncio.wait_for(self._stopping.wait(), pause())
                except TimeoutError:
                    pass

        self._tasks.append(asyncio.create_task(loop(), name=what))

    async def start(self) -> None:
        await self.writer.start()
        await self.pings.track(s.name for s in self.config.services if s.kind == "push")
        await self.incidents.resume()
        self._runner = web.AppRunner(make_app(self.runtime), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.opts.host, self.opts.port)
        await site.start()
        addresses = self._runner.addresses  # the real port when 0 was asked for
        if addresses:
            self.port = int(addresses[0][1])
        self.runtime.started_at = self.clock.now()
        # its full collection takes a second at 20,000 services: before checks start
        self._gc_threshold = tune_collector()
        # the services this instance's own location probes; other locations push theirs.
        # Paused until this process leads (at once on SQLite; replicas: on election).
        self.scheduler.start(self.config.probes_here(self.config.location),
                             schedule=self.opts.schedule, paused=True)
        await self.lead.start(self._take_role)
        self._every(self.opts.sla_refresh_s, self.refresh_sla, "refreshing the SLA figures")
        self._every(lambda: self.pages.interval, self.rebuild_page, "rebuilding the status page")
        self._every(60.0, self.incidents.tick, "resolving recovered incidents",
                    leader_only=True)
        self._every(60.0, self.announce_maintenance, "announcing maintenance start and end",
                    leader_only=True)
        if self.config.locations:
            self._every(15.0, self.central.tick, "watching the locations that push",
                        leader_only=True)
            if isinstance(self.lead, Leadership):  # pushes a standby replica took
                self._every(POLL_S, lambda: self.central.replay_recorded(self.writer),
                            "feeding the detector what other replicas recorded",
                            leader_only=True)
        if isinstance(self.lead, Leadership):  # pings a standby replica took
            self._every(POLL_S, self.pings.refresh, "reading the pings other replicas took",
                        leader_only=True)
        self._every(self.opts.cert_check_s, self.check_certificates,
                    "checking TLS certificates", leader_only=True)
        self._outbox_task = asyncio.create_task(self.outbox.run(), name="notification outbox")
        # The first build has no live check yet; build again once every service has had its
        # first one (first runs are spread over one interval), instead of a minute later.
        first_round = max(s.interval.total_seconds() for s in self.config.services) + 2.0
        if first_round < self.opts.page_rebuild_s:
            self._tasks.append(asyncio.create_task(self._after(first_round, self.rebuild_page),
                                                   name="status page after the first checks"))
        if self.runtime.admin_tokens is None:
            log.info("admin API disabled: set UPWATCH_ADMIN_TOKEN or UPWATCH_ADMIN_TOKEN_FILE "
                     "to declare maintenance over HTTP")
        else:
            log.info("admin API enabled at /api/v1 for %s",
                     ", ".join(self.runtime.admin_tokens.names))
        base = f"http://{self.opts.host}:{self.port}"
        log.info("upwatch is running with %d services from %s, ledger %s",
                 len(self.config.services), self.opts.config_path, self.ledger.name)
        log.info("metrics: %s/metrics   health: %s/healthz   status page: %s/",
                 base, base, base)

    async def _take_role(self, leading: bool) -> None:
        """Lead: continue the ledger's open incident, probe, deliver. Stand by: stop probing
        (checks in flight finish) and store what was detected; the new leader goes on."""
        if leading:
            await self.incidents.resume()
            self.scheduler.resume()
            self.outbox.wake()
        else:
            self.scheduler.pause()
            await self.incidents.drain()

    def request_reload(self) -> None:
        """SIGHUP: reload in a task of its own (the signal handler must not block)."""
        async def reload() -> None:
            await self.reload()

        self._tasks.append(asyncio.create_task(reload(), name="reloading the config"))

    async def reload(self) -> bool:
        """Re-read the config file; apply it if valid. Returns whether it was applied.

        The file is read and validated in a worker thread (a large or hostile file takes time;
        probes go on meanwhile), one reload at a time; applying it is quick, on the loop."""
        async with self._reload_lock:
            try:
                new = await asyncio.to_thread(load_config, self.opts.config_path)
            except ConfigError as err:
                for problem in err.problems:
                    log.error("reload refused: %s", problem)
                log.error("reload refused: still running the previous configuration")
                return False
            self._apply(new)
            return True

    def _apply(self, new: Config) -> None:
        summary = self.scheduler.apply(new.probes_here(new.location))
        self.config = new
        self._push_services = {s.name: s for s in new.services if s.kind == "push"}
        self.runtime.config = new
        self.incidents.reconfigure(new)  # new services may be named and are counted
        self.central.reconfigure(new)
        self._tasks.append(asyncio.create_task(
            self.pings.track(s.name for s in new.services if s.kind == "push"),
            name="ping tokens after reload"))
        log.info("reloaded %s: %s", self.opts.config_path, summary)
        self._tasks.append(asyncio.create_task(self._refresh_once(), name="SLA after reload"))

    async def _after(self, seconds: float, job: Callable[[], Awaitable[None]]) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            try:
                await job()
            except Exception:
                log.exception("an early status page build failed; the next one is in a minute")

    async def _refresh_once(self) -> None:
        try:
            await self.refresh_sla()
        except Exception:
            log.exception("refreshing the SLA figures after the reload failed")

    async def stop(self) -> None:
        log.info("stopping: waiting up to %.0fs for checks in flight", self.opts.shutdown_grace_s)
        self._stopping.set()
        await self.scheduler.stop(grace=self.opts.shutdown_grace_s)
        await self.lead.stop()  # a standby leads within one poll, while this one flushes
        for task in [*self._tasks, *self._checking.values()]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._checking.values(), return_exceptions=True)
        await self.incidents.drain()
        await self.pings.close()
        await self.pages.close()  # the status page's build worker, if any
        self.outbox.close()
        if self._outbox_task is not None:
            await self._outbox_task
        await self.writer.close()
        if self._runner is not None:
            await self._runner.cleanup()
        await self._session.close()
        if self.subscriptions is not None:
            await self.subscriptions.close()
        self._release_lock()
        if self._gc_threshold is not None:
            restore_collector(self._gc_threshold)
            self._gc_threshold = None
        log.info("stopped; ledger flushed")


async def serve(
    opts: RunOptions, on_ready: Callable[[Monitor], None] | None = None,
    clock: Clock | None = None,
) -> int:
    """Run until SIGTERM/SIGINT; SIGHUP reloads. Returns the process exit code.

    A start that fails (the port is taken, say) closes what it opened before raising."""
    monitor = Monitor(opts, clock)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, monitor.request_reload)
    try:
        try:
            await monitor.start()
        except BaseException:
            await monitor.stop()
            raise
        if on_ready is not None:
            on_ready(monitor)
        try:
            await stop.wait()
        finally:
            await monitor.stop()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
    return 0
