"""Schemathesis against a live upwatch: the admin API as ``upwatch run`` serves it (``make_app``,
on a real ledger, with the incident desk), on a loopback port, from the document it serves.

Every operation of docs/openapi.yaml gets generated requests, valid ones and invalid ones, and
every answer must pass schemathesis' checks: no 5xx, a documented status code, the documented
content type, a body matching the documented schema. Bounded (a fixed number of examples per
operation and mode) and deterministic (derandomized Hypothesis, a fake clock, no example
database); nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
import yaml
from fakes import Scheduler
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from prometheus_client import CollectorRegistry
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from windows_setup import CONFIG, NOW, TOKEN

from monitor.config import parse_config
from monitor.core.clock import FakeClock
from monitor.core.incidents import IncidentPolicy
from monitor.incidents.desk import IncidentDesk
from monitor.store.ledger import Ledger
from monitor.store.writer import LedgerWriter
from monitor.web.admin import ADMIN_PREFIX, AdminTokens
from monitor.web.app import Runtime, make_app

#: Examples per operation and generation mode: 12 operations x 2 modes x this many requests.
EXAMPLES = 40
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SERVICES = ("api", "web")

#: Pushed results (POST /results): import lines, some valid-looking, some not, and raw bytes.
_LINE = st.fixed_dictionaries(
    {"service": st.sampled_from(SERVICES), "time": st.sampled_from(
        ["2026-10-01T10:00:00Z", "2026-10-01T10:00:00.5+02:00", "9999-12-31T23:59:59Z", "x"]),
     "ok": st.one_of(st.booleans(), st.none(), st.text(max_size=3))},
    optional={"latency_ms": st.one_of(st.floats(allow_nan=True), st.text(max_size=5)),
              "status": st.integers(-1, 1000), "error": st.sampled_from(["timeout", "nope", None]),
              "location": st.sampled_from(["local", "cph", ""])},
).map(lambda d: json.dumps(d).encode())
NDJSON = st.one_of(st.lists(st.one_of(_LINE, st.binary(max_size=80)), max_size=20).map(
    b"\n".join), st.binary(max_size=2000))
schemathesis.openapi.media_type("application/x-ndjson", NDJSON)



@pytest.fixture
async def base_url(aiohttp_server: Callable[..., Any], tmp_path: Path) -> AsyncIterator[str]:
    """``upwatch run``'s app on 127.0.0.1, a few windows and an incident already declared."""
    clock = FakeClock(NOW)
    config = parse_config(CONFIG)
    writer = LedgerWriter(Ledger(tmp_path / "upwatch.db", clock=clock), clock)
    desk = IncidentDesk(writer, clock, IncidentPolicy(), config)
    runtime = Runtime(config, clock, CollectorRegistry(), Scheduler(), writer,  # type: ignore[arg-type]
                      admin_tokens=AdminTokens.of({"fuzz": TOKEN}), incidents=desk,
                      # the admin token pushes as location "local": results are parsed too
                      location_tokens=AdminTokens.of({"local": TOKEN}))
    server = await aiohttp_server(make_app(runtime), host="127.0.0.1")
    yield f"http://127.0.0.1:{server.port}{ADMIN_PREFIX}"
    await writer.close()


#: Windows the generator seldom writes: valid ones around NOW (so that windows get stored, read
#: and cancelled), one whose end is its start, and the edges of what upwatch takes (2000 to
#: 9998 in UTC) and of what Python's datetime can convert to UTC.
SPANS = (("2026-09-28T21:00:00Z", "2026-09-28T22:00:00Z"),
         ("2026-10-03T02:00:00+02:00", "2026-10-03T03:00:00Z"),
         ("2026-09-28T10:00:00Z", "2026-09-28T10:30:00Z"),
         ("2026-10-01T02:00:00Z", "2026-10-01T04:00:00+02:00"),
         ("0001-01-01T00:00:00+01:00", "2026-10-01T00:00:00Z"),
         ("2026-09-28T21:00:00Z", "9999-12-31T23:59:59-01:00"),
         ("2000-01-01T00:00:00+14:00", "2000-01-01T01:00:00Z"),
         ("9998-12-31T23:00:00Z", "9998-12-31T23:59:59Z"),
         ("9998-12-31T23:00:00Z", "9999-01-01T00:00:00Z"),
         ("2026-10-01T02:00:00", "2026-10-01T03:00:00"))
#: Ids likewise: ones that exist, and ones no str.isdigit/int/SQLite trap may turn into a 500.
IDS = ("1", "2", "3", "0001", "0", "\u00b2", "\u0661", "9223372036854775807",
       "9223372036854775808", "1" + "0" * 4300, "9" * 5000, " 1", "1e3")


@st.composite
def nudged(draw: st.DrawFn, case: schemathesis.Case) -> schemathesis.Case:
    """Now and then, known service names, times and ids in place of generated ones: random
    text seldom names a configured service, and the edges are where the bugs were."""
    body = case.body
    if isinstance(body, dict):
        body = dict(body)
        if "services" in body and draw(st.booleans()):
            body["services"] = draw(st.sampled_from([["api"], "web", ["api", "web"]]))
        if "start" in body and "end" in body and draw(st.booleans()):
            body["start"], body["end"] = draw(st.sampled_from(SPANS))
        case.body = body
    if case.path_parameters and "id" in case.path_parameters and draw(st.booleans()):
        case.path_parameters = {**case.path_parameters, "id": draw(st.sampled_from(IDS))}
    return case


def fuzz_operation(operation: Any, mode: GenerationMode, base_url: str,
                   session: requests.Session, seen: Counter[tuple[str, int]]) -> None:
    """Generated requests for one operation in one mode; each answer checked as it comes."""

    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate, Phase.shrink],
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode).flatmap(nudged))
    def one(case: schemathesis.Case) -> None:
        response = case.call(base_url=base_url, session=session, headers=AUTH, timeout=10)
        seen[(operation.label, response.status_code)] += 1
        case.validate_response(response, checks=CHECKS)

    try:
        one()
    except Unsatisfiable:  # nothing to make invalid: no parameter, no body
        seen[(operation.label, 0)] += 1


def fuzz(base_url: str) -> Counter[tuple[str, int]]:
    """Run every operation in both modes; the status codes seen, by operation."""
    seen: Counter[tuple[str, int]] = Counter()
    with requests.Session() as session:
        session.trust_env = False  # no proxy from the environment: 127.0.0.1 only
        served = session.get(f"{base_url}/openapi.yaml", timeout=10)  # no token needed
        assert served.status_code == 200
        schema = schemathesis.openapi.from_dict(yaml.safe_load(served.text))
        for result in schema.get_all_operations():
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                fuzz_operation(result.ok(), mode, base_url, session, seen)
    return seen


async def test_the_api_answers_every_generated_request_as_documented(base_url: str) -> None:
    started = time.monotonic()
    seen = await asyncio.to_thread(fuzz, base_url)
    took = time.monotonic() - started
    print(f"\nfuzz: {sum(seen.values())} requests in {took:.1f}s: {sorted(seen.items())}")
    assert not [key for key in seen if key[1] >= 500]
    assert [op for op, status in seen if status == 0] == ["GET /openapi.yaml"]
