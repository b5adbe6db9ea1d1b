"""``upwatch_push_last_ping_timestamp_seconds``: when each push service last pinged.

A gauge per push service that has pinged (any ping: success, start or failure), read from the
ping book at scrape time; a push service that never pinged has no series. Alert on it with
``time() - upwatch_push_last_ping_timestamp_seconds > …``, or on ``probe_success`` as for any
other kind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

__all__ = ["PushCollector"]


class PushCollector:
    """Registers itself on ``registry``; ``last_pings()`` gives each service's last ping."""

    def __init__(self, registry: CollectorRegistry,
                 last_pings: Callable[[], Mapping[str, datetime]]) -> None:
        self._last_pings = last_pings
        registry.register(self)

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "upwatch_push_last_ping_timestamp_seconds",
            "When the push service last pinged (any ping: success, start or failure)",
            labels=["service"])
        for name, at in sorted(self._last_pings().items()):
            family.add_metric([name], at.timestamp())
        yield family
