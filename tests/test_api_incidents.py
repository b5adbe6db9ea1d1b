"""Incidents at run time: simulated outages through the desk, and the /api/v1/incidents routes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from ledger_sql import outbox as outbox_rows
from openapi_check import body_is_valid, check_response, request_schema

from monitor.config import Config, parse_config
from monitor.core.checks import CheckResult, State
from monitor.core.clock import FakeClock
from monitor.core.incidents import IncidentPolicy, IncidentStatus
from monitor.incidents.desk import IncidentDesk
from monitor.notify import EVENT_KINDS, Event, EventKind
from monitor.notify.outbox import Outbox
from monitor.store.ledger import Ledger
from monitor.store.writer import LedgerWriter
from monitor.web.admin import ADMIN_PREFIX, AdminTokens, admin_app
from monitor.web.incidents import add_incident_routes

CONFIG = """\
services:
  - name: api
    url: http://127.0.0.1:9/api
  - name: web
    url: http://127.0.0.1:9/web
maintenance:
  windows:
    - services: [web]
      title: Web server upgrade
      start: 2026-10-01T12:00:00Z
      end: 2026-10-01T13:00:00Z
"""
T0 = datetime(2026, 10, 1, 10, 0, tzinfo=UTC)
TOKEN = "s3cret-token-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Recorder:
    """A channel that keeps what it is sent."""

    name = "rec"
    events: frozenset[EventKind] = frozenset(EVENT_KINDS)

    def __init__(self) -> None:
        self.sent: list[Event] = []

    async def send(self, event: Event, idempotency_key: str) -> None:
        self.sent.append(event)


@dataclass
class Rt:
    config: Config
    clock: FakeClock
    writer: LedgerWriter
    desk: IncidentDesk
    outbox: Outbox
    channel: Recorder


@pytest.fixture
async def rt(tmp_path: Path) -> AsyncIterator[Rt]:
    clock = FakeClock(T0)
    config = parse_config(CONFIG)
    writer = LedgerWriter(Ledger(tmp_path / "upwatch.db", clock=clock), clock)
    channel = Recorder()
    outbox = Outbox(writer, [channel], clock)
    desk = IncidentDesk(writer, clock, IncidentPolicy(), config, outbox)
    yield Rt(config, clock, writer, desk, outbox, channel)
    await writer.close()


async def outage(rt: Rt, script: dict[str, str], start: datetime = T0) -> None:
    """One check per service per minute ("u" up, "d" down), the clock moving along."""
    rt.clock.set(start)
    for i in range(max(len(s) for s in script.values())):
        for name, states in sorted(script.items()):
            if i < len(states):
                ok = states[i] == "u"
                result = CheckResult(name, rt.clock.now(), ok)
                rt.desk.on_result(rt.config.service(name), result,
                                  State.UP if ok else State.DOWN)
        rt.clock.advance(60)
        await rt.desk.tick()
    await rt.desk.drain()


async def test_an_outage_opens_and_resolves_an_incident_with_notifications(rt: Rt) -> None:
    await outage(rt, {"api": "udduuuuuuu", "web": "uuuuuuuuuu"})
    [inc] = await rt.desk.find()
    assert (inc.title, inc.impact.value, inc.severity, inc.status) == (
        "api down", "major", "severity 2", IncidentStatus.RESOLVED)
    assert inc.detected_at == T0 + timedelta(minutes=1)
    assert inc.resolved_at == T0 + timedelta(minutes=8)  # up since 10:03, + resolve_after
    assert [(u.status.value, u.body) for u in inc.updates] == [
        ("investigating", "upwatch detected that **api** is down since 10:01 UTC."),
        ("monitoring", "**api** is up again since 10:03 UTC."),
        ("resolved", "All affected services have been up for 5 minutes."),
    ]
    await rt.outbox.deliver_due()
    assert [e.title for e in rt.channel.sent] == [
        # no "is up" for the first checks: a start is not a change of state
        "api is down", "[severity 2] api down: investigating",
        "api is up", "[severity 2] api down: monitoring", "[severity 2] api down: resolved"]


async def test_notifications_are_silenced_in_maintenance(rt: Rt, tmp_path: Path) -> None:
    await outage(rt, {"web": "ddduuu"}, datetime(2026, 10, 1, 12, 10, tzinfo=UTC))
    items = outbox_rows(tmp_path / "upwatch.db")
    assert items and all(i["dropped"] == 'during maintenance "Web server upgrade" (cfg-m0)'
                         for i in items)
    [inc] = await rt.desk.find()  # the incident itself is still on record
    assert inc.services == ("web",)


async def test_resume_after_restart_continues_the_open_incident(rt: Rt) -> None:
    await outage(rt, {"api": "udd", "web": "uuu"})
    desk = IncidentDesk(rt.writer, rt.clock, IncidentPolicy(), rt.config, rt.outbox)
    await desk.resume()
    assert desk.detector.open_incident is not None
    rt.desk = desk
    await outage(rt, {"api": "dduuuuuu", "web": "uuuuuuuu"}, rt.clock.now())
    [inc] = await desk.find()  # the same one, resolved
    assert inc.status == IncidentStatus.RESOLVED


# ---- HTTP: every request and answer checked against docs/openapi.yaml ----------------------

Client = TestClient[web.Request, web.Application]


async def make(aiohttp_client: Callable[..., Any], rt: Rt) -> Client:
    app = web.Application()
    admin = admin_app(rt, AdminTokens.of({"admin": TOKEN}))  # type: ignore[arg-type]
    add_incident_routes(admin, rt.desk)
    app.add_subapp(ADMIN_PREFIX, admin)
    client: Client = await aiohttp_client(app)
    return client


@pytest.fixture
async def client(aiohttp_client: Callable[..., Any], rt: Rt) -> Client:
    return await make(aiohttp_client, rt)


async def call(client: Client, method: str, path: str, body: object = None, *,
               headers: dict[str, str] | None = None, data: Any = None,
               ) -> tuple[int, Any, dict[str, str]]:
    """One request; the answer is checked against the OpenAPI document, and a JSON body the
    server took (2xx) against the request schema documented for it."""
    kwargs: dict[str, Any] = {"headers": AUTH if headers is None else headers}
    if body is not None:
        kwargs["json"] = body
    if data is not None:
        kwargs["data"] = data
    async with client.request(method, path, **kwargs) as resp:
        assert resp.content_type == "application/json"
        payload = await resp.json()
        check_response(method, path, resp.status, payload)
        if body is not None and resp.status < 300:
            assert body_is_valid(request_schema(method, path), body), (method, path, body)
        return resp.status, payload, dict(resp.headers)


async def test_the_detectors_incidents_match_the_document(rt: Rt, client: Client) -> None:
    await outage(rt, {"api": "udduuuuuuu", "web": "uuuuuuuuuu"})
    status, listed, _ = await call(client, "GET", "/api/v1/incidents")
    assert status == 200
    [inc] = listed["incidents"]
    assert (inc["automatic"], inc["created_by"], inc["resolved_at"]) == (
        True, "detector", "2026-10-01T10:08:00Z")
    assert [u["human"] for u in inc["updates"]] == [False, False, False]
    status, got, _ = await call(client, "GET", f"/api/v1/incidents/{inc['id']}")
    assert (status, got) == (200, inc)


async def test_a_person_takes_over_and_only_a_person_resolves(rt: Rt, client: Client) -> None:
    await outage(rt, {"api": "udd", "web": "uuu"})
    [inc] = await rt.desk.find()
    status, _, _ = await call(client, "POST", f"/api/v1/incidents/{inc.id}/updates",
                              {"status": "identified", "body": "A bad deploy; rolling back."})
    assert status == 201
    await outage(rt, {"api": "uuuuuuuuuu", "web": "uuuuuuuuuu"}, rt.clock.now())
    [inc] = await rt.desk.find()
    assert inc.status == IncidentStatus.IDENTIFIED and inc.resolved_at is None
    assert inc.first_human_update is not None and inc.first_human_update.author == "api:admin"
    status, answer, _ = await call(client, "POST", f"/api/v1/incidents/{inc.id}/updates",
                                   {"status": "resolved", "body": "Rolled back."})
    assert answer["incident"]["status"] == "resolved"
    assert answer["update_id"] == answer["incident"]["updates"][-1]["id"]


async def test_open_update_list_get(client: Client, rt: Rt) -> None:
    status, body, headers = await call(client, "POST", "/api/v1/incidents", {
        "title": "Slow logins", "services": ["api"], "impact": "minor",
        "body": "We are looking at <script>alert(1)</script> [x](javascript:alert(1))"})
    assert status == 201
    assert headers["Location"] == f"/api/v1/incidents/{body['id']}"
    assert (body["severity"], body["status"], body["automatic"], body["created_by"]) == (
        "severity 3", "investigating", False, "api:admin")
    assert body["updates"][0]["body_html"] == (
        "<p>We are looking at &lt;script&gt;alert(1)&lt;/script&gt; "
        "[x](javascript:alert(1))</p>")
    rt.clock.advance(600)
    status, _, _ = await call(client, "POST", f"/api/v1/incidents/{body['id']}/updates",
                              {"status": "monitoring", "body": "A fix is out."})
    assert status == 201
    _, listed, _ = await call(client, "GET", "/api/v1/incidents?state=open")
    assert [i["status"] for i in listed["incidents"]] == ["monitoring"]
    _, got, _ = await call(client, "GET", f"/api/v1/incidents/{body['id']}")
    assert [u["at"] for u in got["updates"]] == ["2026-10-01T10:00:00Z", "2026-10-01T10:10:00Z"]
    await rt.outbox.deliver_due()
    assert [e.id for e in rt.channel.sent] == ["incident-update:1", "incident-update:2"]


async def test_a_service_name_alone_and_the_defaults_are_taken(client: Client) -> None:
    status, body, _ = await call(client, "POST", "/api/v1/incidents",
                                 {"title": "Web is slow", "services": "web"})
    assert status == 201
    assert (body["services"], body["impact"], body["severity"], body["status"]) == (
        ["web"], "major", "severity 2", "investigating")
    status, listed, _ = await call(client, "GET", "/api/v1/incidents?state=all")
    assert (status, [i["id"] for i in listed["incidents"]]) == (200, [body["id"]])


@pytest.mark.parametrize(("path", "payload", "status", "expected", "schema_agrees"), [
    ("/api/v1/incidents", {"title": "", "services": ["nope"], "impact": "huge"}, 400,
     {"error": "invalid incident", "problems": [
         "title: must not be empty",
         'services: unknown service "nope" (known services: api, web)',
         'impact: expected one of minor, major, critical, got "huge"']}, False),
    ("/api/v1/incidents", {"title": "x", "services": ["api"], "status": "resolved"}, 400,
     {"error": "invalid incident", "problems": [
         'status: expected one of investigating, identified, monitoring, got "resolved"']},
     False),
    ("/api/v1/incidents", {"title": "x", "services": ["api"], "severity": 1}, 400,
     {"error": "invalid incident", "problems": [
         '"severity": unknown key (allowed: body, impact, services, status, title)']}, False),
    ("/api/v1/incidents", [1], 400, {"error": "invalid incident", "problems": [
        "body: expected a JSON object with title, services, impact, status, body"]}, False),
    ("/api/v1/incidents", {"title": "x" * 201, "services": ["api"]}, 400,
     {"error": "invalid incident", "problems": ["title: at most 200 characters, got 201"]},
     False),
    ("/api/v1/incidents", {"title": "x", "services": []}, 400,
     {"error": "invalid incident", "problems": [
         "services: expected a list of service names, got []"]}, False),
    ("/api/v1/incidents", {"title": "x", "services": ["nope"]}, 400,
     {"error": "invalid incident", "problems": [
         'services: unknown service "nope" (known services: api, web)']}, True),
    ("/api/v1/incidents/99/updates", {"status": "monitoring", "body": "x"}, 404,
     {"error": "no incident 99"}, True),
    ("/api/v1/incidents/1/updates", {"status": "fixed", "body": ""}, 400,
     {"error": "invalid incident update", "problems": [
         'status: expected one of investigating, identified, monitoring, resolved, got '
         '"fixed"', "body: must not be empty"]}, False),
    ("/api/v1/incidents/1/updates", {"status": "monitoring"}, 400,
     {"error": "invalid incident update", "problems": ["body: expected text, got null"]},
     False),
], ids=["bad_fields", "cannot_open_resolved", "unknown_key", "not_an_object", "long_title",
        "no_services", "unknown_service", "unknown_incident", "bad_update", "update_no_body"])
async def test_bad_requests(client: Client, path: str, payload: object, status: int,
                            expected: dict[str, Any], schema_agrees: bool) -> None:
    await call(client, "POST", "/api/v1/incidents", {"title": "x", "services": ["api"]})
    assert body_is_valid(request_schema("POST", path), payload) is schema_agrees
    got, answer, _ = await call(client, "POST", path, payload)
    assert (got, answer) == (status, expected)


@pytest.mark.parametrize(("method", "path", "status", "message"), [
    ("GET", "/api/v1/incidents/7", 404, "no incident 7"),
    ("GET", "/api/v1/incidents/abc", 404, 'no incident "abc" (ids are numbers)'),
    ("POST", "/api/v1/incidents/abc/updates", 404, 'no incident "abc" (ids are numbers)'),
    ("GET", "/api/v1/incidents?state=closed", 400,
     "query: state=open|all only, got 'state=closed'"),
    ("GET", "/api/v1/incidents?limit=5", 400, "query: state=open|all only, got 'limit=5'"),
    ("DELETE", "/api/v1/incidents/1", 405,
     "DELETE is not allowed on /api/v1/incidents/1 (allowed: GET, HEAD)"),
    ("GET", "/api/v1/incidents/1/updates", 405,
     "GET is not allowed on /api/v1/incidents/1/updates (allowed: POST)"),
    # ids that passed str.isdigit() but broke int() or SQLite: 500s before (issue 11 item 9)
    ("GET", "/api/v1/incidents/%C2%B2", 404, 'no incident "\u00b2" (ids are numbers)'),
    ("GET", "/api/v1/incidents/%D9%A1", 404, 'no incident "\u0661" (ids are numbers)'),
    ("GET", "/api/v1/incidents/9223372036854775808", 404, "no incident 9223372036854775808"),
    ("POST", "/api/v1/incidents/99999999999999999999999/updates", 404,
     "no incident 99999999999999999999999"),
    ("GET", "/api/v1/incidents/" + "9" * 5000, 404, "no incident " + "9" * 37 + "..."),
], ids=["unknown_id", "id_not_a_number", "update_id_not_a_number", "bad_state",
        "unknown_query", "delete", "get_updates", "superscript_two", "arabic_one",
        "past_sqlite", "update_past_sqlite", "5000_digits"])
async def test_error_answers_are_documented_json(
        client: Client, method: str, path: str, status: int, message: str) -> None:
    await call(client, "POST", "/api/v1/incidents", {"title": "x", "services": ["api"]})
    body = {"status": "monitoring", "body": "x"} if method == "POST" else None
    got, answer, _ = await call(client, method, path, body)
    assert (got, answer) == (status, {"error": message})


@pytest.mark.parametrize(("data", "status", "message"), [
    (b'{"title": "x",', 400, "malformed JSON: Expecting property name enclosed in double "
                             "quotes: line 1 column 15 (char 14)"),
    (b'{"title": "\xff"}', 400, "malformed JSON: the body is not UTF-8"),
    (b'{"title": "' + b"x" * (64 * 1024) + b'", "services": "api"}', 413,
     "the request body is larger than 64 KiB"),
], ids=["truncated", "not_utf8", "too_large"])
async def test_unreadable_bodies(client: Client, rt: Rt, data: bytes, status: int,
                                 message: str) -> None:
    got, answer, _ = await call(client, "POST", "/api/v1/incidents", data=data,
                                headers={**AUTH, "Content-Type": "application/json"})
    assert (got, answer) == (status, {"error": message})
    assert await rt.desk.find() == []


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/v1/incidents"), ("POST", "/api/v1/incidents"),
    ("GET", "/api/v1/incidents/1"), ("POST", "/api/v1/incidents/1/updates"),
], ids=["list", "open", "get", "update"])
async def test_a_token_is_required(client: Client, method: str, path: str) -> None:
    status, answer, headers = await call(client, method, path, {}, headers={})
    assert status == 401
    assert answer["error"].startswith("missing bearer token")
    assert headers["WWW-Authenticate"].startswith("Bearer")
