"""A scrape comes first: background work that pauses (the SLA refresh) waits while a scrape is
handled, within a bound, and never blocks an event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fakes import Scheduler, Writer
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from monitor.config import parse_config
from monitor.core.clock import FakeClock
from monitor.metrics import chunks
from monitor.web.app import Runtime, make_app

NOW = datetime(2026, 10, 20, 12, 30, tzinfo=UTC)


def _in_thread(fn: Callable[[], object]) -> threading.Event:
    done = threading.Event()

    def run() -> None:
        fn()
        done.set()

    threading.Thread(target=run, daemon=True).start()
    return done


@pytest.fixture
def scrape() -> Iterator[tuple[threading.Event, threading.Event]]:
    """A scrape handled in another thread until ``leave`` is set; ``inside`` once it started."""
    inside, leave = threading.Event(), threading.Event()

    def scraper() -> None:
        with chunks.scraping():
            inside.set()
            leave.wait(30)

    thread = threading.Thread(target=scraper, daemon=True)
    thread.start()
    assert inside.wait(5)
    yield inside, leave
    leave.set()
    thread.join(5)


def test_background_work_waits_for_the_scrape_to_end(
    scrape: tuple[threading.Event, threading.Event], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chunks, "SCRAPE_YIELD_S", 30.0)
    _, leave = scrape
    paused = _in_thread(chunks.pause)
    assert not paused.wait(0.3)  # still waiting while the scrape runs
    leave.set()
    assert paused.wait(5)


def test_a_scraper_that_never_stops_does_not_starve_background_work(
    scrape: tuple[threading.Event, threading.Event], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chunks, "SCRAPE_YIELD_S", 0.05)

    def many_pauses() -> None:
        for _ in range(1000):  # 0.05 s of waiting a second at most, then on without waiting
            chunks.pause()

    assert _in_thread(many_pauses).wait(10)


def test_the_scrape_itself_and_an_event_loop_never_wait(
    scrape: tuple[threading.Event, threading.Event], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chunks, "SCRAPE_YIELD_S", 30.0)

    def own_scrape() -> None:
        with chunks.scraping():
            chunks.pause()  # a second scrape's own work goes on beside the first

    async def on_a_loop() -> None:
        chunks.pause()

    assert _in_thread(own_scrape).wait(5)
    assert _in_thread(lambda: asyncio.run(on_a_loop())).wait(5)


class _Witness:
    """A collector that notes which threads were marked as scraping while it was collected."""

    def __init__(self) -> None:
        self.seen: list[set[int]] = []

    def collect(self) -> Iterator[Metric]:
        self.seen.append(set(chunks._scraping))
        yield GaugeMetricFamily("witness", "Threads marked as scraping.", value=1.0)


@pytest.mark.parametrize("encoding", ["gzip", "identity"])
async def test_the_endpoint_marks_the_loop_and_the_render_as_scraping(
    aiohttp_client: Callable[..., Any], encoding: str
) -> None:
    registry = CollectorRegistry()
    witness = _Witness()
    registry.register(witness)  # type: ignore[arg-type]
    config = parse_config("services:\n  - {name: api, url: 'http://127.0.0.1:9/'}\n")
    runtime = Runtime(config, FakeClock(NOW), registry, Scheduler(), Writer())  # type: ignore[arg-type]
    client = await aiohttp_client(make_app(runtime))
    async with client.get("/metrics", headers={"Accept-Encoding": encoding}) as resp:
        assert resp.status == 200
        assert b"witness 1.0" in await resp.read()
    loop_thread = threading.get_ident()
    assert witness.seen and all(loop_thread in seen and len(seen) == 2
                                for seen in witness.seen)
    assert not chunks._scraping  # left when the answer was written
