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

from monitor.api import ADMIN_PREFIX, AdminTokens, admin_app
from monitor.api_incidents import add_incident_routes
from monitor.checks import CheckResult, State
from monitor.clock import FakeClock
from monitor.config import Config, parse_config
from monitor.incident_desk import IncidentDesk
from monitor.incidents import IncidentPolicy, IncidentStatus
from monitor.ledger import Ledger
from monitor.notify import EVENT_KINDS, Event, EventKind
from monitor.notify.outbox import Outbox
from monitor.writer import LedgerWriter

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
        "api is up", "web is up", "api is down", "[severity 2] api down: investigating",
        "api is up", "[severity 2] api down: monitoring", "[severity 2] api down: resolved"]


async def test_a_person_takes_over_and_only_a_person_resolves(
        rt: Rt, aiohttp_client: Callable[..., Any]) -> None:
    client = await make(aiohttp_client, rt)
    await outage(rt, {"api": "udd", "web": "uuu"})
    [inc] = await rt.desk.find()
    resp = await client.post(f"/api/v1/incidents/{inc.id}/updates", headers=AUTH,
                             json={"status": "identified", "body": "A bad deploy; rolling back."})
    assert resp.status == 201
    await outage(rt, {"api": "uuuuuuuuuu", "web": "uuuuuuuuuu"}, rt.clock.now())
    [inc] = await rt.desk.find()
    assert inc.status == IncidentStatus.IDENTIFIED and inc.resolved_at is None
    assert inc.first_human_update is not None and inc.first_human_update.author == "api:admin"
    resp = await client.post(f"/api/v1/incidents/{inc.id}/updates", headers=AUTH,
                             json={"status": "resolved", "body": "Rolled back."})
    assert (await resp.json())["incident"]["status"] == "resolved"


async def test_notifications_are_silenced_in_maintenance(rt: Rt) -> None:
    await outage(rt, {"web": "ddduuu"}, datetime(2026, 10, 1, 12, 10, tzinfo=UTC))
    items = await rt.writer.read(lambda led: led.notifications())
    assert items and all(i.dropped == 'during maintenance "Web server upgrade" (cfg-m0)'
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


# ---- HTTP ---------------------------------------------------------------------------------

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


async def test_open_update_list_get(client: Client, rt: Rt) -> None:
    resp = await client.post("/api/v1/incidents", headers=AUTH, json={
        "title": "Slow logins", "services": ["api"], "impact": "minor",
        "body": "We are looking at <script>alert(1)</script> [x](javascript:alert(1))"})
    assert resp.status == 201
    body = await resp.json()
    assert resp.headers["Location"] == f"/api/v1/incidents/{body['id']}"
    assert (body["severity"], body["status"], body["automatic"], body["created_by"]) == (
        "severity 3", "investigating", False, "api:admin")
    assert body["updates"][0]["body_html"] == (
        "<p>We are looking at &lt;script&gt;alert(1)&lt;/script&gt; "
        "[x](javascript:alert(1))</p>")
    rt.clock.advance(600)
    resp = await client.post(f"/api/v1/incidents/{body['id']}/updates", headers=AUTH,
                             json={"status": "monitoring", "body": "A fix is out."})
    assert resp.status == 201
    listed = await (await client.get("/api/v1/incidents?state=open", headers=AUTH)).json()
    assert [i["status"] for i in listed["incidents"]] == ["monitoring"]
    got = await (await client.get(f"/api/v1/incidents/{body['id']}", headers=AUTH)).json()
    assert [u["at"] for u in got["updates"]] == ["2026-10-01T10:00:00Z", "2026-10-01T10:10:00Z"]
    await rt.outbox.deliver_due()
    assert [e.id for e in rt.channel.sent] == ["incident-update:1", "incident-update:2"]


@pytest.mark.parametrize(("path", "payload", "status", "expected"), [
    ("/api/v1/incidents", {"title": "", "services": ["nope"], "impact": "huge"}, 400,
     {"error": "invalid incident", "problems": [
         "title: must not be empty",
         'services: unknown service "nope" (services: api, web)',
         'impact: expected one of minor, major, critical, got "huge"']}),
    ("/api/v1/incidents", {"title": "x", "services": ["api"], "status": "resolved"}, 400,
     {"error": "invalid incident", "problems": [
         'status: expected one of investigating, identified, monitoring, got "resolved"']}),
    ("/api/v1/incidents", {"title": "x", "services": ["api"], "severity": 1}, 400,
     {"error": "invalid incident", "problems": [
         '"severity": unknown key (allowed: body, impact, services, status, title)']}),
    ("/api/v1/incidents", [1], 400, {"error": "invalid incident", "problems": [
        "body: expected a JSON object with title, services, impact, status, body"]}),
    ("/api/v1/incidents/99/updates", {"status": "monitoring", "body": "x"}, 404,
     {"error": "no incident 99"}),
    ("/api/v1/incidents/1/updates", {"status": "fixed", "body": ""}, 400,
     {"error": "invalid incident update", "problems": [
         'status: expected one of investigating, identified, monitoring, resolved, got '
         '"fixed"', "body: must not be empty"]}),
], ids=["bad_fields", "cannot_open_resolved", "unknown_key", "not_an_object",
        "unknown_incident", "bad_update"])
async def test_bad_requests(client: Client, path: str, payload: object, status: int,
                            expected: dict[str, Any]) -> None:
    await client.post("/api/v1/incidents", headers=AUTH,
                      json={"title": "x", "services": ["api"]})
    resp = await client.post(path, headers=AUTH, json=payload)
    assert (resp.status, await resp.json()) == (status, expected)


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/v1/incidents"), ("POST", "/api/v1/incidents"),
    ("POST", "/api/v1/incidents/1/updates"),
], ids=["list", "open", "update"])
async def test_a_token_is_required(client: Client, method: str, path: str) -> None:
    resp = await client.request(method, path, json={})
    assert resp.status == 401
    assert (await resp.json())["error"].startswith("missing bearer token")
