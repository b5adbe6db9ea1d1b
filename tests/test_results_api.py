"""``POST /api/v1/results``: the central records what the probers of other locations push,
and the SLA minutes are folded across locations by the quorum rule."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fakes import Scheduler
from prometheus_client import CollectorRegistry

from monitor.config import Config, parse_config
from monitor.core.checks import CheckResult, ErrorKind, Observation, State
from monitor.core.clock import FakeClock
from monitor.core.minutes import Run
from monitor.ingest import MAX_LINES
from monitor.store.ledger import Ledger
from monitor.store.writer import LedgerWriter
from monitor.web.app import Runtime, make_app
from monitor.web.results import MAX_PLAIN_BYTES, load_location_tokens

NOW = datetime(2026, 10, 10, 10, 30, tzinfo=UTC)
CPH_TOKEN = "cph-token-0123456789abcdef"
MAD_TOKEN = "mad-token-0123456789abcdef"
CONFIG = """
location: fra
locations:
  - {name: fra, title: Frankfurt}
  - {name: cph, title: Copenhagen}
  - {name: mad, title: Madrid}
services:
  - {name: api, url: "https://api.example.com/health", interval: 60s}
  - {name: web, url: "https://www.example.com/", interval: 60s, locations: [fra, cph]}
"""
START = int(datetime(2026, 10, 10, 10, 0, tzinfo=UTC).timestamp()) // 60


def line(service: str, minute: int, ok: bool, location: str | None = None) -> str:
    record: dict[str, Any] = {
        "service": service, "time": f"2026-10-10T10:{minute:02d}:05Z", "ok": ok,
        "latency_ms": 80.0 if ok else None, "status": 200 if ok else 503,
        "error": None if ok else "http_status"}
    if location is not None:
        record["location"] = location
    return json.dumps(record)


def body(lines: list[str], *, gz: bool = True) -> bytes:
    text = ("\n".join(lines) + "\n").encode()
    return gzip.compress(text) if gz else text


def headers(token: str | None, *, gz: bool = True) -> dict[str, str]:
    out = {"Content-Type": "application/x-ndjson"}
    if gz:
        out["Content-Encoding"] = "gzip"
    if token is not None:
        out["Authorization"] = f"Bearer {token}"
    return out


@dataclass
class Central:
    client: Any
    ledger: Ledger
    writer: LedgerWriter
    config: Config
    runtime: Runtime

    async def push(self, token: str | None, lines: list[str], *, gz: bool = True
                   ) -> tuple[int, dict[str, Any]]:
        async with self.client.post("/api/v1/results", data=body(lines, gz=gz),
                                    headers=headers(token, gz=gz)) as resp:
            return resp.status, await resp.json()

    async def runs(self, service: str, location: str | None = None) -> list[Run]:
        hi = START + 60
        if location is not None:
            return await self.writer.read(
                lambda ledger: ledger.runs(service, START, hi, location=location))
        plan = self.config.quorum_plan([service])
        return (await self.writer.read(
            lambda ledger: ledger.quorum_runs_many(plan, START, hi)))[service]


@pytest.fixture
async def central(aiohttp_client: Callable[..., Any], tmp_path: Path
                  ) -> AsyncIterator[Central]:
    config = parse_config(CONFIG)
    clock = FakeClock(NOW)
    ledger = Ledger(tmp_path / "central.db", clock=clock)
    writer = LedgerWriter(ledger, clock)
    tokens = load_location_tokens(config, {"UPWATCH_TOKEN_CPH": CPH_TOKEN,
                                           "UPWATCH_TOKEN_MAD": MAD_TOKEN})
    runtime = Runtime(config, clock, CollectorRegistry(), Scheduler(), writer,  # type: ignore[arg-type]
                      location_tokens=tokens)
    client = await aiohttp_client(make_app(runtime))
    yield Central(client, ledger, writer, config, runtime)
    await writer.close()


def local(service: str, minute: int, ok: bool) -> Observation:
    """A result of the central's own location (fra), as its scheduler submits it."""
    result = CheckResult(service=service, time=NOW.replace(minute=minute, second=5), ok=ok,
                         latency_ms=80.0 if ok else None, status=200 if ok else 503,
                         error=None if ok else ErrorKind.HTTP_STATUS, location="fra")
    return Observation(result, result.state(None), 60_000)


async def test_pushed_results_are_recorded_for_their_location(central: Central) -> None:
    status, answer = await central.push(CPH_TOKEN, [line("api", m, True) for m in range(3)])
    assert (status, answer) == (200, {"recorded": 3, "invalid": 0, "errors": []})
    runs = await central.runs("api", "cph")
    assert runs and runs[0] == Run(START, runs[0].end, State.UP) and runs[0].end >= START + 3
    assert await central.runs("api", "mad") == []
    assert central.runtime.locations_seen.recorded == {"cph": 3}


async def test_the_same_results_sent_twice_change_nothing(central: Central) -> None:
    batch = [line("api", 0, True), line("api", 1, False), line("api", 2, True)]
    assert (await central.push(CPH_TOKEN, batch))[0] == 200
    once = await central.runs("api", "cph")
    assert (await central.push(CPH_TOKEN, batch))[0] == 200
    assert await central.runs("api", "cph") == once
    count = await central.writer.read(lambda ledger: ledger._conn.execute(
        "SELECT count(*) FROM checks").fetchone()[0])
    assert count == 3


async def test_an_uncompressed_body_is_taken_too(central: Central) -> None:
    status, answer = await central.push(MAD_TOKEN, [line("api", 0, True)], gz=False)
    assert (status, answer["recorded"]) == (200, 1)


async def test_lines_a_location_may_not_push_are_refused_and_the_rest_recorded(
    central: Central
) -> None:
    status, answer = await central.push(MAD_TOKEN, [
        line("api", 0, True),
        line("api", 1, True, location="cph"),  # another location's result
        line("web", 1, True),  # mad does not probe web
        "{not json",
        line("nope", 1, True),
        line("api", 2, True, location="mad"),
    ])
    assert status == 200
    assert (answer["recorded"], answer["invalid"]) == (2, 4)
    errors = answer["errors"]
    assert errors[0].startswith('line 2: location: "cph" is not the pushing location "mad"')
    assert errors[1].startswith('line 3: service: location "mad" does not probe service "web"')
    assert errors[2].startswith("line 4: not valid JSON")
    assert errors[3].startswith('line 5: service: unknown service "nope"')
    assert await central.runs("api", "cph") == []


@pytest.mark.parametrize(("token", "status", "words"), [
    (None, 401, "missing bearer token"),
    ("not-a-location-token-at-all", 401, "invalid bearer token"),
])
async def test_no_or_a_wrong_token_is_401(central: Central, token: str | None, status: int,
                                          words: str) -> None:
    got, answer = await central.push(token, [line("api", 0, True)])
    assert got == status and words in answer["error"]
    assert await central.runs("api", "cph") == []


async def test_without_push_tokens_the_endpoint_says_how_to_enable_it(central: Central) -> None:
    central.runtime.location_tokens = None
    status, answer = await central.push(CPH_TOKEN, [line("api", 0, True)])
    assert status == 503 and "token_env" in answer["error"]


def test_only_other_locations_with_a_token_may_push(caplog: pytest.LogCaptureFixture) -> None:
    config = parse_config(CONFIG)
    tokens = load_location_tokens(config, {"UPWATCH_TOKEN_CPH": CPH_TOKEN,
                                           "UPWATCH_TOKEN_FRA": "fra-token-0123456789abcdef"})
    assert tokens is not None and tokens.names == ("cph",)  # fra is probed here
    assert "UPWATCH_TOKEN_MAD" in caplog.text
    assert load_location_tokens(parse_config(CONFIG.replace("location: fra", "")), {}) is None


async def test_a_gzip_bomb_is_cut_off_not_inflated(central: Central) -> None:
    bomb = gzip.compress(b"\n" * (MAX_PLAIN_BYTES + 1024 * 1024), compresslevel=9)
    assert len(bomb) < 200_000
    async with central.client.post("/api/v1/results", data=bomb,
                                   headers=headers(CPH_TOKEN)) as resp:
        assert resp.status == 413
        assert "once decompressed" in (await resp.json())["error"]


async def test_too_many_lines_is_413_and_nothing_is_recorded(central: Central) -> None:
    status, answer = await central.push(CPH_TOKEN, [line("api", 0, True)] * (MAX_LINES + 1))
    assert status == 413 and "at most 20,000" in answer["error"]
    assert await central.runs("api", "cph") == []


@pytest.mark.parametrize(("encoding", "data", "status"), [
    ("gzip", b"definitely not gzip", 400),
    ("gzip", gzip.compress(b'{"service": "api"}\n')[:-12], 400),  # cut short
    ("br", b"whatever", 415),
])
async def test_a_body_that_cannot_be_read_gets_a_json_error(
    central: Central, encoding: str, data: bytes, status: int
) -> None:
    hdrs = {**headers(CPH_TOKEN), "Content-Encoding": encoding}
    async with central.client.post("/api/v1/results", data=data, headers=hdrs) as resp:
        assert resp.status == status
        assert (await resp.json())["error"]


async def test_the_quorum_decides_the_minute(central: Central) -> None:
    """fra (the central's own probes), cph and mad: one location down is no outage, two are."""
    for minute in range(4):
        central.writer.submit(local("api", minute, ok=minute not in (1, 2)))
    await central.writer.flush()
    await central.push(CPH_TOKEN, [line("api", m, m != 2) for m in range(4)])
    await central.push(MAD_TOKEN, [line("api", m, True) for m in range(4)])
    runs = await central.runs("api")
    by_minute = {m: r.state for r in runs for m in range(r.start, r.end) if m < START + 4}
    assert [by_minute[START + m] for m in range(4)] == [
        State.UP,  # everyone up
        State.UP,  # fra alone down
        State.DOWN,  # fra and cph down
        State.UP,
    ]
