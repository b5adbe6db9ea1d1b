"""The central's watch on the locations that push to it: a location that stops sending is an
event of its own, not an outage.

A location is **silent** once nothing it pushed was recorded for :func:`silent_after` (five
minutes, or two of the longest interval among the services it probes if that is longer),
counted from the central's start for a location not heard from since. Silence makes that
location's minutes nodata (the quorum rule decides what that does to each service), never
downtime; what it does here: ``upwatch_location_last_result_age_seconds{location}`` on
/metrics, a warning in /healthz (whose status stays ok: the central itself is fine), and one
``location`` notification when a location falls silent and one when it is heard again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Protocol

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from monitor.config import Config
from monitor.core.clock import Clock
from monitor.notify import Event
from monitor.times import iso_utc
from monitor.web.results import LocationSeen

__all__ = ["MIN_SILENT_AFTER_S", "LocationWatch", "silent_after"]

log = logging.getLogger("upwatch.locations")

#: The shortest silence that counts: probers push within seconds, a restart takes a minute.
MIN_SILENT_AFTER_S = 300.0


class Publisher(Protocol):
    async def publish(self, event: Event) -> int: ...


def silent_after(config: Config, location: str) -> float:
    """Seconds without a recorded result after which ``location`` is silent."""
    longest = max((s.interval.total_seconds() for s in config.probes_here(location)),
                  default=0.0)
    return max(MIN_SILENT_AFTER_S, 2 * longest)


class LocationWatch:
    """Which pushing locations are silent; publishes the changes (see the module doc)."""

    def __init__(self, config: Config, seen: LocationSeen, clock: Clock,
                 outbox: Publisher | None = None) -> None:
        self._seen, self._clock, self._outbox = seen, clock, outbox
        self._started = clock.monotonic()
        self._silent: dict[str, datetime] = {}  # location -> when it was found silent
        self.reconfigure(config)

    def reconfigure(self, config: Config) -> None:
        """The locations that push: every declared one but this instance's own."""
        self._config = config
        self._pushing = [loc for loc in config.locations if loc.name != config.location]

    def ages(self) -> dict[str, float]:
        """Seconds since each pushing location's last recorded result (since the start, for
        one not heard from yet)."""
        now = self._clock.monotonic()
        return {loc.name: round(now - self._seen.last.get(loc.name, self._started), 3)
                for loc in self._pushing}

    def silent(self) -> list[str]:
        ages = self.ages()
        return [name for name, age in ages.items() if age > silent_after(self._config, name)]

    def health(self) -> dict[str, Any]:
        """What /healthz adds: each location's age and silence, and a warning per silent one."""
        ages = self.ages()
        silent = set(self.silent())
        return {
            "locations": {name: {"last_result_age_s": age, "silent": name in silent}
                          for name, age in ages.items()},
            "warnings": [f'location "{name}" has sent no result for {ages[name]:.0f}s: its '
                         "minutes are nodata (check its prober's /healthz)"
                         for name in sorted(silent)],
        }

    async def tick(self) -> int:
        """Note silences begun and ended since the last call; returns the events published."""
        published = 0
        now = self._clock.now()
        silent = set(self.silent())
        titles = {loc.name: loc.title for loc in self._pushing}
        for name in sorted(silent - self._silent.keys()):
            self._silent[name] = now
            log.warning('location "%s" is silent: no result recorded for %.0fs', name,
                        self.ages()[name])
            published += await self._publish(Event(
                f"location:{name}:{int(now.timestamp())}:silent", "location", now,
                f"Location {titles[name]} is silent",
                f"No result from {titles[name]} ({name}) since {self._last(name)}; its minutes "
                "are nodata until it sends again.", (), {"location": name, "phase": "silent"}))
        for name in sorted(self._silent.keys() - silent):
            since = self._silent.pop(name)
            if name not in titles:  # removed by a reload: nothing to announce
                continue
            log.info('location "%s" sends again', name)
            published += await self._publish(Event(
                f"location:{name}:{int(since.timestamp())}:back", "location", now,
                f"Location {titles[name]} sends again",
                f"{titles[name]} ({name}) sends results again (silent since {iso_utc(since)}).",
                (), {"location": name, "phase": "back"}))
        return published

    def _last(self, name: str) -> str:
        if name not in self._seen.last:
            return "the central started"
        return f"{self.ages()[name]:.0f}s ago"

    async def _publish(self, event: Event) -> int:
        if self._outbox is None:
            return 0
        return await self._outbox.publish(event)

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "upwatch_location_last_result_age_seconds",
            "Seconds since the central recorded a result pushed by each location (since its "
            "start for a location not heard from yet).", labels=["location"])
        for name, age in self.ages().items():
            gauge.add_metric([name], age)
        yield gauge
