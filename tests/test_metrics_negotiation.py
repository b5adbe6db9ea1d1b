"""/metrics answers OpenMetrics exactly when prometheus-client's ``choose_encoder`` would."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fakes import Scheduler, Writer
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import choose_encoder
from prometheus_client.openmetrics import exposition as openmetrics

from monitor.config import parse_config
from monitor.core.checks import CheckResult
from monitor.core.clock import FakeClock
from monitor.metrics.probes import (
    CONTENT_TYPE,
    OPENMETRICS_CONTENT_TYPE,
    ProbeMetrics,
    negotiate,
    render,
    render_openmetrics,
)
from monitor.web.app import Runtime, make_app

NOW = datetime(2026, 11, 10, 10, 0, tzinfo=UTC)
PROMETHEUS_2 = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
PROMETHEUS_3 = ("application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
                "application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;"
                "escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2")
ACCEPTS = [
    ("", False),
    ("*/*", False),
    ("text/plain", False),
    ("text/plain; version=0.0.4", False),
    ("text/plain;version=1.0.0", False),
    ("application/openmetrics-text", True),
    ("application/openmetrics-text; version=1.0.0; charset=utf-8", True),
    ("application/openmetrics-text;version=0.0.1", False),  # choose_encoder wants >= 1.0.0
    (PROMETHEUS_2, True),
    (PROMETHEUS_3, True),
]
IDS = ["none", "any", "text", "text-0.0.4", "text-1.0.0", "om", "om-1.0.0", "om-0.0.1",
       "prometheus-2", "prometheus-3"]


@pytest.mark.parametrize(("accept", "om"), ACCEPTS, ids=IDS)
def test_negotiate_follows_choose_encoder(accept: str, om: bool) -> None:
    chosen = choose_encoder(accept)[1].startswith("application/openmetrics-text")
    assert chosen is om
    assert negotiate(accept) == ((render_openmetrics, OPENMETRICS_CONTENT_TYPE) if om
                                 else (render, CONTENT_TYPE))




@pytest.mark.parametrize(("accept", "om"), [ACCEPTS[0], ACCEPTS[4], ACCEPTS[7], ACCEPTS[8]],
                         ids=[IDS[0], IDS[4], IDS[7], IDS[8]])
async def test_the_endpoint_answers_in_the_negotiated_format(
    aiohttp_client: Callable[..., Any], accept: str, om: bool
) -> None:
    config = parse_config("services:\n  - {name: api, url: 'http://127.0.0.1:9/'}\n")
    registry = CollectorRegistry()
    ProbeMetrics(registry).observe(CheckResult("api", NOW, True, 12.5, 200))
    runtime = Runtime(config, FakeClock(NOW), registry, Scheduler(), Writer())  # type: ignore[arg-type]
    client = await aiohttp_client(make_app(runtime))
    async with client.get("/metrics", headers={"Accept": accept} if accept else {}) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == (OPENMETRICS_CONTENT_TYPE if om else CONTENT_TYPE)
        body = await resp.read()
    expected = openmetrics.generate_latest(registry) if om else generate_latest(registry)
    assert body == expected
