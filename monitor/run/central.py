"""What ``upwatch run`` adds as the central of several locations: the results other locations
push become probe metrics and feed the incident detector by quorum (:mod:`monitor.incidents.
quorum`), and the locations that push are watched for silence (:mod:`monitor.run.locations`).
With no ``locations:`` in probes.yaml every part is there but idle: one location, no pushes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from prometheus_client import CollectorRegistry

from monitor.config import Config, UnknownService
from monitor.core.checks import Observation
from monitor.core.clock import Clock
from monitor.incidents.desk import IncidentDesk
from monitor.incidents.quorum import QuorumFeed
from monitor.metrics.probes import ProbeMetrics
from monitor.notify.outbox import Outbox
from monitor.run.locations import LocationWatch
from monitor.web.app import Runtime

__all__ = ["Central"]

log = logging.getLogger("upwatch")


class Central:
    """The central's location parts, wired to ``runtime`` (its ``on_pushed``)."""

    def __init__(self, config: Config, clock: Clock, registry: CollectorRegistry,
                 runtime: Runtime, metrics: ProbeMetrics, incidents: IncidentDesk,
                 outbox: Outbox) -> None:
        self._config, self._runtime, self._metrics = config, runtime, metrics
        #: incidents open on the quorum's state of a service, fed by every location's results
        self.feed = QuorumFeed(incidents, config, clock)
        self.watch = LocationWatch(config, runtime.locations_seen, clock, outbox)
        registry.register(self.watch)
        runtime.on_pushed = self.observe_pushed

    def observe_pushed(self, observations: Sequence[Observation]) -> None:
        """Results another location pushed (committed): their metrics, and the detector."""
        for obs in observations:
            self._metrics.observe(obs.result)
            try:
                service = self._config.service(obs.result.service)
            except UnknownService:  # removed by a reload since the request was checked
                continue
            self.feed.on_result(service, obs.result, obs.state)

    async def tick(self) -> None:
        """Announce locations that fell silent or send again; keep /healthz's view current."""
        await self.watch.tick()
        self._runtime.extra_health.update(self.watch.health())

    def reconfigure(self, config: Config) -> None:
        self._config = config
        self.feed.reconfigure(config)
        self.watch.reconfigure(config)
