"""A location that stops pushing is an event of its own: a metric, a /healthz warning and one
notification each way, never downtime."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from monitor.config import parse_config
from monitor.core.clock import FakeClock
from monitor.notify import Event
from monitor.run.locations import LocationWatch, silent_after
from monitor.web.results import LocationSeen

NOW = datetime(2026, 10, 10, 10, 0, tzinfo=UTC)
CONFIG = """
location: fra
locations: [{name: fra}, {name: cph, title: Copenhagen}, {name: mad, title: Madrid}]
services:
  - {name: api, url: "https://api.example.com/", interval: 60s}
  - {name: slow, url: "https://slow.example.com/", interval: 10m, locations: [fra, mad]}
"""


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def publish(self, event: Event) -> int:
        self.events.append(event)
        return 1


def setup() -> tuple[FakeClock, LocationSeen, Recorder, LocationWatch]:
    clock, seen, outbox = FakeClock(NOW), LocationSeen(), Recorder()
    return clock, seen, outbox, LocationWatch(parse_config(CONFIG), seen, clock, outbox)


def test_silence_is_judged_by_the_longest_interval_a_location_probes() -> None:
    config = parse_config(CONFIG)
    assert silent_after(config, "cph") == 300.0  # five minutes at least
    assert silent_after(config, "mad") == 1200.0  # two of its 10-minute intervals


async def test_a_silent_location_is_announced_once_and_its_return_too() -> None:
    clock, seen, outbox, watch = setup()
    assert watch.ages() == {"cph": 0.0, "mad": 0.0}  # fra is probed here: not watched
    seen.saw("mad", clock.monotonic(), 10)
    clock.advance(301)
    assert await watch.tick() == 1
    assert await watch.tick() == 0  # still silent: nothing new
    (silent,) = outbox.events
    assert (silent.kind, silent.title) == ("location", "Location Copenhagen is silent")
    assert silent.data == {"location": "cph", "phase": "silent"}
    assert "since the central started" in silent.text
    health = watch.health()
    assert health["locations"]["cph"] == {"last_result_age_s": 301.0, "silent": True}
    assert health["locations"]["mad"]["silent"] is False
    assert health["warnings"] == ['location "cph" has sent no result for 301s: its minutes '
                                  "are nodata (check its prober's /healthz)"]
    seen.saw("cph", clock.monotonic(), 5)
    assert await watch.tick() == 1
    back = outbox.events[-1]
    assert back.title == "Location Copenhagen sends again" and back.data["phase"] == "back"
    assert back.id == silent.id.replace(":silent", ":back")
    assert watch.health()["warnings"] == []


def test_the_age_of_each_location_is_a_metric() -> None:
    clock, seen, _, watch = setup()
    registry = CollectorRegistry()
    registry.register(watch)  # type: ignore[arg-type]
    seen.saw("cph", clock.monotonic(), 1)
    clock.advance(42)
    age = registry.get_sample_value
    assert age("upwatch_location_last_result_age_seconds", {"location": "cph"}) == 42.0
    assert age("upwatch_location_last_result_age_seconds", {"location": "mad"}) == 42.0
    assert age("upwatch_location_last_result_age_seconds", {"location": "fra"}) is None
