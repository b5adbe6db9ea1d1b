"""The aiohttp application of ``upwatch run``: ``/healthz``, ``/metrics`` and the status page.

Handlers only translate HTTP to calls on the :class:`Runtime` and back; no business logic here.
State reaches handlers through :data:`RUNTIME` (an ``web.AppKey``), never through globals.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CollectorRegistry

from monitor.config import Config
from monitor.core.checks import Observation
from monitor.core.clock import Clock
from monitor.incidents.desk import IncidentDesk
from monitor.metrics.chunks import scraping
from monitor.metrics.probes import (
    OPENMETRICS_CONTENT_TYPE,
    accepts_gzip,
    negotiate,
    render_gzip,
)
from monitor.store.writer import LedgerWriter
from monitor.times import iso_utc
from monitor.web.admin import ADMIN_PREFIX, AdminTokens, admin_app
from monitor.web.incidents import add_incident_routes
from monitor.web.pings import PingTaker, add_ping_routes
from monitor.web.results import LocationSeen, add_results_route
from monitor.web.site import site_file
from monitor.web.subscribe import PageFn, Signups, add_subscribe_routes

#: A ledger commit older than this (while results are queued) makes /healthz answer 503.
STALE_COMMIT_S = 30.0


class SchedulerState(Protocol):
    """What /healthz reads of the probe scheduler (``monitor.run.scheduler.ProbeScheduler``)."""

    @property
    def running(self) -> bool: ...

    @property
    def inflight(self) -> int: ...

    def lag_quantile_ms(self, q: float) -> float | None: ...


@dataclass(frozen=True)
class SubscribeSite:
    """Where the subscription routes live (``site.subscribe_url``), the built page they answer
    with, the base its relative links resolve against, and the page's languages."""

    url: str
    page: PageFn
    base_href: str
    languages: tuple[str, ...]


@dataclass
class Runtime:
    """Everything ``upwatch run`` holds while it runs."""

    config: Config
    clock: Clock
    registry: CollectorRegistry
    scheduler: SchedulerState
    writer: LedgerWriter
    site_dir: Path | None = None
    admin_tokens: AdminTokens | None = None
    #: Push tokens of the other locations (:func:`monitor.web.results.load_location_tokens`).
    location_tokens: AdminTokens | None = None
    locations_seen: LocationSeen = field(default_factory=LocationSeen)
    #: Called with the results another location pushed, once committed (their metrics).
    on_pushed: Callable[[Sequence[Observation]], None] | None = None
    incidents: IncidentDesk | None = None
    #: Where push services' pings go (``monitor.run.pings.PingBook``); None: no /ping routes.
    pings: PingTaker | None = None
    #: Status page subscriptions (``monitor.notify.signup.SignupDesk``); None: no routes.
    signups: Signups | None = None
    subscribe_site: SubscribeSite | None = None
    started_at: datetime | None = None
    extra_health: dict[str, Any] = field(default_factory=dict)
    #: Awaited after a window is declared or cancelled through the admin API: ``upwatch run``
    #: refreshes the SLA figures and /healthz's ``maintenance_active`` with it, at once.
    on_windows_changed: Callable[[], Awaitable[None]] | None = None

    async def windows_changed(self) -> None:
        """What the admin API calls after a declared window changed."""
        if self.on_windows_changed is not None:
            await self.on_windows_changed()

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Whether upwatch is healthy, and the facts that say so."""
        mono = self.clock.monotonic()
        last = self.writer.last_commit_monotonic
        commit_age = None if last is None else round(mono - last, 3)
        problems: list[str] = []
        if not self.scheduler.running:
            problems.append("scheduler is not running")
        since = last if last is not None else self.writer.started_monotonic
        stale = None if since is None else mono - since
        if self.writer.queued and stale is not None and stale > STALE_COMMIT_S:
            problems.append(
                f"no ledger commit for {stale:.0f}s with results queued" if last is not None
                else f"no ledger commit since the start {stale:.0f}s ago with results queued")
            if self.writer.last_error:
                problems.append(f"the ledger refuses writes: {self.writer.last_error}")
        lag = self.scheduler.lag_quantile_ms(0.99)
        body: dict[str, Any] = {
            "status": "ok" if not problems else "unhealthy",
            "problems": problems,
            "scheduler_running": self.scheduler.running,
            "services": len(self.config.services),
            "checks_in_flight": self.scheduler.inflight,
            "ledger_queued": self.writer.queued,
            "last_ledger_write_age_s": commit_age,
            "schedule_lag_p99_ms": None if lag is None else round(lag, 1),
            "started_at": None if self.started_at is None else iso_utc(self.started_at),
            **self.extra_health,
        }
        return not problems, body


RUNTIME = web.AppKey("runtime", Runtime)



async def healthz(request: web.Request) -> web.Response:
    healthy, body = request.app[RUNTIME].health()
    return web.json_response(body, status=200 if healthy else 503)


async def metrics(request: web.Request) -> web.StreamResponse:
    """The text format (fast path), or OpenMetrics if the scraper asks (:func:`negotiate`);
    gzipped from the cached gzip members when the scraper accepts gzip (Prometheus does)."""
    registry = request.app[RUNTIME].registry
    render, content_type = negotiate(request.headers.get("Accept", ""))
    headers = {"Content-Type": content_type, "Vary": "Accept-Encoding"}
    loop = asyncio.get_running_loop()
    # background work (the SLA refresh) steps aside until the answer is written
    with scraping():
        # Rendering thousands of series takes a while: keep it off the event loop.
        if accepts_gzip(request.headers.get("Accept-Encoding", "")):
            om = content_type == OPENMETRICS_CONTENT_TYPE
            body = await loop.run_in_executor(None, partial(render_gzip, registry, om=om))
            headers["Content-Encoding"] = "gzip"  # already compressed: aiohttp leaves it as is
        else:
            body = await loop.run_in_executor(None, render, registry)
        response = web.StreamResponse(headers=headers)
        response.content_length = len(body)
        await response.prepare(request)
        await response.write(body)
        await response.write_eof()
    return response


async def site(request: web.Request) -> web.StreamResponse:
    """The status page's files, from whichever version is published right now."""
    site_dir = request.app[RUNTIME].site_dir
    path = request.match_info.get("path", "")
    found = None if site_dir is None else site_file(site_dir, path)
    if found is not None:
        resp = web.FileResponse(found)
        resp.headers["Cache-Control"] = "public, max-age=30"
        return resp
    if site_dir is not None and site_file(site_dir, "") is None:
        return web.json_response(
            {"status": "starting", "message": "the status page is being built; see /healthz"},
            status=503, headers={"Retry-After": "5"},
        )
    raise web.HTTPNotFound(text="no such page\n")


def make_app(runtime: Runtime) -> web.Application:
    # Request bodies are read as sent: pushed results are gunzipped by their handler, within a
    # bound (aiohttp would inflate a gzip bomb whole).
    app = web.Application(client_max_size=64 * 1024, handler_args={"auto_decompress": False})
    app[RUNTIME] = runtime
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    admin = admin_app(runtime, runtime.admin_tokens, on_change=runtime.windows_changed)
    if runtime.incidents is not None:
        add_incident_routes(admin, runtime.incidents)
    add_results_route(admin, runtime)
    app.add_subapp(ADMIN_PREFIX, admin)
    if runtime.pings is not None:
        add_ping_routes(app, runtime.pings)
    if runtime.signups is not None and runtime.subscribe_site is not None:
        where = runtime.subscribe_site
        add_subscribe_routes(app, runtime.signups, where.url, where.page, where.base_href,
                             where.languages)
    app.router.add_get("/", site)
    app.router.add_get("/{path:.+}", site)  # last: every route above takes precedence
    return app
