"""What ``upwatch run`` adds as the central of several locations: the results other locations
push become probe metrics and feed the incident detector by quorum (:mod:`monitor.incidents.
quorum`), and the locations that push are watched for silence (:mod:`monitor.run.locations`).
With no ``locations:`` in probes.yaml every part is there but idle: one location, no pushes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from prometheus_client import CollectorRegistry

from monitor.config import Config, ServiceConfig, UnknownService
from monitor.core.checks import CheckResult, Observation, State
from monitor.core.clock import Clock
from monitor.core.minutes import MINUTE_MS
from monitor.incidents.desk import IncidentDesk
from monitor.incidents.quorum import QuorumFeed
from monitor.metrics.probes import ProbeMetrics
from monitor.notify.outbox import LedgerAccess, Outbox
from monitor.run.locations import LocationWatch
from monitor.store.schema import from_ms, to_ms
from monitor.web.app import Runtime

__all__ = ["Central"]

log = logging.getLogger("upwatch")


class Central:
    """The central's location parts, wired to ``runtime`` (its ``on_pushed``)."""

    def __init__(self, config: Config, clock: Clock, registry: CollectorRegistry,
                 runtime: Runtime, metrics: ProbeMetrics, incidents: IncidentDesk,
                 outbox: Outbox, leading: Callable[[], bool] = lambda: True) -> None:
        self._config, self._runtime, self._metrics = config, runtime, metrics
        self._leading = leading  # replicas: only the leader detects incidents
        # the latest check time fed to the detector per (service, location)
        self._replayed: dict[tuple[str, str], int] = {}
        #: incidents open on the quorum's state of a service, fed by every location's results
        self.feed = QuorumFeed(incidents, config, clock)
        self.watch = LocationWatch(config, runtime.locations_seen, clock, outbox)
        registry.register(self.watch)
        runtime.on_pushed = self.observe_pushed

    def observe_pushed(self, observations: Sequence[Observation]) -> None:
        """Results another location pushed (committed): their metrics, and the detector."""
        for obs in observations:
            try:
                service: ServiceConfig | None = self._config.service(obs.result.service)
            except UnknownService:  # removed by a reload since the request was checked
                service = None
            self._metrics.observe(obs.result, None if service is None else service.kind)
            key = (obs.result.service, obs.result.location)
            self._replayed[key] = max(self._replayed.get(key, 0), to_ms(obs.result.time))
            if service is None:
                continue
            if self._leading():
                self.feed.on_result(service, obs.result, obs.state)

    async def replay_recorded(self, ledger: LedgerAccess) -> None:
        """On the leader of several replicas: feed the detector what probers pushed to the
        other replicas. Those results are in the ledger, not seen here; each (service,
        location)'s latest check and the worst of its minute so far are read back from the
        last commit (the folds' pending minutes) and fed as one result. Run it every few
        seconds: the detector takes a result only while it is fresh (two intervals)."""
        found = await ledger.read(lambda led: led.pending_minutes())
        for name, location, st in found:
            key = (name, location)
            if location == self._config.location or st.last_ms <= self._replayed.get(key, 0):
                continue
            self._replayed[key] = st.last_ms
            try:
                service = self._config.service(name)
            except UnknownService:
                continue
            state = st.worst if st.minute == st.last_ms // MINUTE_MS else st.last_state
            self.feed.on_result(service, CheckResult(name, from_ms(st.last_ms),
                                                     state != State.DOWN, location=location),
                                state)

    async def tick(self) -> None:
        """Announce locations that fell silent or send again; keep /healthz's view current."""
        await self.watch.tick()
        self._runtime.extra_health.update(self.watch.health())

    def reconfigure(self, config: Config) -> None:
        self._config = config
        self.feed.reconfigure(config)
        self.watch.reconfigure(config)
