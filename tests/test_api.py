"""The admin API through a real aiohttp client, every answer checked against docs/openapi.yaml."""

from __future__ import annotations

import hmac
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator
from openapi_check import (
    SPEC,
    body_is_valid,
    check_response,
    documented_routes,
    served_routes,
)
from windows_setup import CONFIG, NOW, TOKEN

from monitor.config import Config, parse_config
from monitor.core.checks import State
from monitor.core.clock import FakeClock
from monitor.core.minutes import Run
from monitor.core.sla import month_uptime
from monitor.store.ledger import Ledger, LedgerError
from monitor.store.writer import LedgerWriter
from monitor.web import admin as api
from monitor.web.admin import (
    ADMIN_PREFIX,
    DISABLED_MESSAGE,
    AdminTokenError,
    AdminTokens,
    admin_app,
    load_admin_tokens,
)
from monitor.web.incidents import add_incident_routes
from monitor.web.results import add_results_route
from monitor.windows.sources import declared_windows

OPS_TOKEN = "ops-token-abcdefghijklmnopqrstuv"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PLANNED = {"services": ["api"], "start": "2026-10-03T02:00:00Z", "end": "2026-10-03T03:00:00Z",
           "title": "Database upgrade"}
PAST = {"services": "web", "start": "2026-09-28T10:00:00Z", "end": "2026-09-28T10:30:00Z",
        "reason": "Upstream DNS provider outage"}


# ---- the OpenAPI document ------------------------------------------------------------------


def request_is_valid(kind: str, body: object) -> bool:
    return body_is_valid("NewMaintenance" if kind == "maintenance" else "NewExclusion", body)


def test_the_document_is_openapi_3_1_with_valid_schemas() -> None:
    assert SPEC["openapi"] == "3.1.0"
    for schema in SPEC["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


def test_every_route_is_documented_and_every_documented_route_exists() -> None:
    app = api.admin_app(cast(Any, None), None)
    add_incident_routes(app, cast(Any, None))  # as monitor.web.app mounts it
    add_results_route(app, cast(Any, None))
    assert served_routes(app) == documented_routes()


# ---- fixtures ------------------------------------------------------------------------------


@dataclass
class Rt:
    """What ``upwatch run`` hands the admin API (``monitor.web.app.Runtime`` has the same)."""

    config: Config
    clock: FakeClock
    writer: LedgerWriter


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Rt]:
    clock = FakeClock(NOW)
    writer = LedgerWriter(Ledger(tmp_path / "upwatch.db"), clock)
    yield Rt(parse_config(CONFIG), clock, writer)
    await writer.close()


Client = TestClient[web.Request, web.Application]
MakeClient = Callable[..., Any]


async def make(aiohttp_client: MakeClient, runtime: Rt, tokens: AdminTokens | None) -> Client:
    app = web.Application(client_max_size=64 * 1024)

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/{path:.+}", healthz)  # like the status page's catch-all in server.py
    app.add_subapp(ADMIN_PREFIX, admin_app(runtime, tokens))  # as monitor.web.app mounts it
    client: Client = await aiohttp_client(app)
    return client


@pytest.fixture
async def client(aiohttp_client: MakeClient, runtime: Rt) -> Client:
    tokens = AdminTokens.of({"admin": TOKEN, "ops": OPS_TOKEN})
    return await make(aiohttp_client, runtime, tokens)


async def call(client: Client, method: str, path: str, body: object = None, *,
               headers: dict[str, str] | None = None, data: Any = None,
               ) -> tuple[int, Any, dict[str, str]]:
    """One request; the answer is checked against the OpenAPI document."""
    kwargs: dict[str, Any] = {"headers": AUTH if headers is None else headers}
    if body is not None:
        kwargs["json"] = body
    if data is not None:
        kwargs["data"] = data
    async with client.request(method, path, **kwargs) as resp:
        assert resp.content_type == "application/json"
        payload = await resp.json()
        check_response(method, path, resp.status, payload)
        return resp.status, payload, dict(resp.headers)


async def post(client: Client, kind: str, body: object, **kw: Any) -> tuple[int, Any]:
    collection = "maintenance" if kind == "maintenance" else "exclusions"
    status, payload, _ = await call(client, "POST", f"/api/v1/{collection}", body, **kw)
    if status == 201:
        assert request_is_valid(kind, body)
    return status, payload


# ---- tokens --------------------------------------------------------------------------------


def test_a_token_from_the_environment_is_named_admin() -> None:
    tokens = load_admin_tokens({"UPWATCH_ADMIN_TOKEN": TOKEN})
    assert tokens is not None
    assert tokens.names == ("admin",)
    assert tokens.name_for(TOKEN) == "admin"
    assert tokens.name_for(TOKEN + "x") is None


def test_a_token_file_names_its_operators(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text(f"# operators\n\nalice:{TOKEN}\n ops : {OPS_TOKEN} \n", "utf-8")
    tokens = load_admin_tokens({"UPWATCH_ADMIN_TOKEN_FILE": str(path)})
    assert tokens is not None
    assert tokens.names == ("alice", "ops")
    assert tokens.name_for(OPS_TOKEN) == "ops"
    path.write_text(f"{TOKEN}\n", "utf-8")
    bare = load_admin_tokens({"UPWATCH_ADMIN_TOKEN_FILE": str(path)})
    assert bare is not None and bare.name_for(TOKEN) == "admin"


def test_no_token_means_disabled() -> None:
    assert load_admin_tokens({}) is None
    assert load_admin_tokens({"UPWATCH_ADMIN_TOKEN": "", "UPWATCH_ADMIN_TOKEN_FILE": ""}) is None


@pytest.mark.parametrize(
    ("env", "file", "message"),
    [
        ({"UPWATCH_ADMIN_TOKEN": TOKEN, "UPWATCH_ADMIN_TOKEN_FILE": "x"}, None,
         "set UPWATCH_ADMIN_TOKEN or UPWATCH_ADMIN_TOKEN_FILE, not both"),
        ({"UPWATCH_ADMIN_TOKEN": "short"}, None,
         "UPWATCH_ADMIN_TOKEN: a token must be at least 16 characters without spaces (make one "
         "with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"),
        ({}, None, "UPWATCH_ADMIN_TOKEN_FILE: cannot read {path}: No such file or directory"),
        ({}, "# nothing\n", "{path}: holds no token (write name:token lines)"),
        ({}, f"a:{TOKEN}\nb:{OPS_TOKEN}\na:{OPS_TOKEN}x\n",
         '{path}:3: duplicate token name "a" (also line 1)'),
        ({}, f"a:{TOKEN}\nb:{TOKEN}\n", "{path}:2: the same token as line 1"),
        ({}, f"al ice:{TOKEN}\n",
         '{path}:1: a token name is 1-64 letters, digits, ".", "_", "-" or "@", got "al ice"'),
        ({}, "ops:tooshort\n",
         "{path}:1: a token must be at least 16 characters without spaces (make one with: "
         "python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"),
    ],
    ids=["both", "short-env-token", "missing-file", "empty-file", "duplicate-name",
         "duplicate-token", "bad-name", "short-file-token"],
)
def test_unusable_token_settings_are_refused_with_the_fix(
    tmp_path: Path, env: dict[str, str], file: str | None, message: str
) -> None:
    path = tmp_path / "tokens"
    if file is not None:
        path.write_text(file, "utf-8")
    env = {"UPWATCH_ADMIN_TOKEN_FILE": str(path), **env} if "UPWATCH_ADMIN_TOKEN" not in env \
        else env
    with pytest.raises(AdminTokenError) as err:
        load_admin_tokens(env)
    assert str(err.value) == message.format(path=path)
    assert TOKEN not in str(err.value) and OPS_TOKEN not in str(err.value)


def test_tokens_are_compared_in_constant_time_with_every_token(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(api.hmac, "compare_digest", spy)
    tokens = AdminTokens.of({"a": TOKEN, "b": OPS_TOKEN, "c": TOKEN[::-1]})
    assert tokens.name_for(TOKEN) == "a"  # a match does not stop the loop early
    assert tokens.name_for("wrong") is None
    assert len(calls) == 6
    assert {len(a) for a, _ in calls} == {32}  # digests: the token's length does not show


# ---- access --------------------------------------------------------------------------------


async def test_without_a_token_the_api_is_disabled_not_open(
    aiohttp_client: MakeClient, runtime: Rt
) -> None:
    client = await make(aiohttp_client, runtime, None)
    for method, path in [("GET", "/api/v1/maintenance"), ("POST", "/api/v1/exclusions"),
                         ("DELETE", "/api/v1/maintenance/1"), ("GET", "/api/v1/nothing")]:
        async with client.request(method, path, headers=AUTH, json=PLANNED) as resp:
            assert resp.status == 503
            assert await resp.json() == {"error": DISABLED_MESSAGE}
    assert DISABLED_MESSAGE == (
        "the admin API is disabled: set UPWATCH_ADMIN_TOKEN to a token (at least 16 "
        "characters), or UPWATCH_ADMIN_TOKEN_FILE to a file of name:token lines, and restart "
        "upwatch run")
    async with client.get("/healthz") as resp:
        assert resp.status == 200
    assert await runtime.writer.read(lambda led: led.windows()) == []


@pytest.mark.parametrize(
    ("headers", "message", "challenge"),
    [
        ({}, 'missing bearer token: send the header "Authorization: Bearer <token>"',
         'Bearer realm="upwatch admin"'),
        ({"Authorization": f"Basic {TOKEN}"},
         'missing bearer token: send the header "Authorization: Bearer <token>"',
         'Bearer realm="upwatch admin"'),
        ({"Authorization": "Bearer "},
         'missing bearer token: send the header "Authorization: Bearer <token>"',
         'Bearer realm="upwatch admin"'),
        ({"Authorization": "Bearer not-the-token-at-all-0000"}, "invalid bearer token",
         'Bearer realm="upwatch admin", error="invalid_token"'),
        ({"Authorization": f"Bearer {TOKEN}x"}, "invalid bearer token",
         'Bearer realm="upwatch admin", error="invalid_token"'),
    ],
    ids=["no-header", "basic-scheme", "empty-token", "wrong-token", "token-plus-one"],
)
async def test_a_missing_or_wrong_token_is_401(
    client: Client, runtime: Rt, headers: dict[str, str], message: str, challenge: str
) -> None:
    for method, path in [("GET", "/api/v1/maintenance"), ("POST", "/api/v1/maintenance"),
                         ("DELETE", "/api/v1/exclusions/1"), ("PUT", "/api/v1/maintenance")]:
        status, body, got = await call(client, method, path, PLANNED, headers=headers)
        assert (status, body) == (401, {"error": message})
        assert got["WWW-Authenticate"] == challenge
    assert await runtime.writer.read(lambda led: led.windows()) == []


@pytest.mark.parametrize("source", ["env", "file"])
async def test_tokens_from_the_environment_or_a_file_open_the_api(
    aiohttp_client: MakeClient, runtime: Rt, tmp_path: Path, source: str
) -> None:
    path = tmp_path / "tokens"
    path.write_text(f"alice:{TOKEN}\nops:{OPS_TOKEN}\n", "utf-8")
    env = ({"UPWATCH_ADMIN_TOKEN": OPS_TOKEN} if source == "env"
           else {"UPWATCH_ADMIN_TOKEN_FILE": str(path)})
    client = await make(aiohttp_client, runtime, load_admin_tokens(env))
    status, body = await post(client, "exclusion", PAST,
                              headers={"Authorization": f"Bearer {OPS_TOKEN}"})
    assert (status, body["declared_by"]) == (201, "api:admin" if source == "env" else "api:ops")
    status, _ = await post(client, "exclusion", PAST, headers=AUTH)
    assert status == (401 if source == "env" else 201)


async def test_the_bearer_scheme_is_case_insensitive_and_names_the_operator(
    client: Client,
) -> None:
    status, body = await post(client, "exclusion", PAST,
                              headers={"Authorization": f"bearer {OPS_TOKEN}"})
    assert status == 201 and body["declared_by"] == "api:ops"


# ---- declaring, reading, cancelling --------------------------------------------------------


async def test_declare_then_read_it_back(client: Client) -> None:
    status, created, headers = await call(client, "POST", "/api/v1/maintenance", PLANNED)
    assert request_is_valid("maintenance", PLANNED)
    assert status == 201
    assert headers["Location"] == "/api/v1/maintenance/1"
    assert created == {
        "id": 1, "kind": "maintenance", "services": ["api"], "start": "2026-10-03T02:00:00Z",
        "end": "2026-10-03T03:00:00Z", "title": "Database upgrade",
        "declared_at": "2026-09-28T20:00:00Z", "declared_by": "api:admin",
        "cancelled_at": None, "cancelled_by": None, "warnings": [],
    }
    status, fetched, _ = await call(client, "GET", "/api/v1/maintenance/1")
    assert (status, fetched) == (200, created)
    status, listed, _ = await call(client, "GET", "/api/v1/maintenance")
    assert (status, listed) == (200, {"maintenance": [created]})
    status, listed, _ = await call(client, "GET", "/api/v1/exclusions")
    assert (status, listed) == (200, {"exclusions": []})


async def test_warnings_are_in_the_answer_and_on_the_record(client: Client) -> None:
    body = {**PLANNED, "services": ["api", "web"], "start": "2026-09-29T08:00:00+02:00",
            "end": "2026-09-29T10:00:00+02:00"}
    status, created = await post(client, "maintenance", body)
    assert status == 201
    assert created["warnings"] == [
        "start: only 10h notice; maintenance.min_notice in probes.yaml asks for 2d",
        "start: 2026-09-29T06:00:00Z is inside the SLA coverage hours of web",
    ]
    _, again, _ = await call(client, "GET", f"/api/v1/maintenance/{created['id']}")
    assert again["warnings"] == created["warnings"]


async def test_cancel_keeps_the_record_and_is_idempotent(client: Client, runtime: Rt) -> None:
    _, created = await post(client, "maintenance", PLANNED)
    runtime.clock.advance(3600)
    status, cancelled, _ = await call(client, "DELETE", "/api/v1/maintenance/1",
                                      headers={"Authorization": f"Bearer {OPS_TOKEN}"})
    assert status == 200
    assert cancelled == {**created, "cancelled_at": "2026-09-28T21:00:00Z",
                         "cancelled_by": "api:ops"}
    runtime.clock.advance(3600)
    assert (await call(client, "DELETE", "/api/v1/maintenance/1"))[:2] == (200, cancelled)
    _, listed, _ = await call(client, "GET", "/api/v1/maintenance")
    assert listed == {"maintenance": [cancelled]}
    _, past, _ = await call(client, "GET", "/api/v1/maintenance?state=past")
    _, upcoming, _ = await call(client, "GET", "/api/v1/maintenance?state=upcoming")
    assert (past, upcoming) == ({"maintenance": [cancelled]}, {"maintenance": []})


async def test_list_filters_by_state_and_service(client: Client) -> None:
    _, a = await post(client, "exclusion", PAST)
    _, b = await post(client, "exclusion", {**PAST, "services": ["api"],
                                            "start": "2026-09-28T19:00:00Z",
                                            "end": "2026-09-28T21:00:00Z"})
    for query, expected in [("", [a, b]), ("?state=past", [a]), ("?state=active", [b]),
                            ("?state=upcoming", []), ("?service=api", [b]),
                            ("?service=web&state=past", [a])]:
        status, body, _ = await call(client, "GET", f"/api/v1/exclusions{query}")
        assert (status, body) == (200, {"exclusions": expected}), query


async def test_a_reload_of_the_config_is_seen_at_once(client: Client, runtime: Rt) -> None:
    runtime.config = parse_config(CONFIG.replace("name: web", "name: shop"))
    status, body = await post(client, "exclusion", {**PAST, "services": ["shop"]})
    assert status == 201 and body["services"] == ["shop"]


# ---- the audit rule ------------------------------------------------------------------------


async def test_a_retroactive_window_and_the_exclusion_that_covers_the_rest(
    client: Client, runtime: Rt
) -> None:
    runtime.clock.set(datetime(2026, 10, 5, 10, 20, 30, tzinfo=UTC))
    status, m = await post(client, "maintenance", {
        "services": ["web"], "start": "2026-10-05T10:00:00Z", "end": "2026-10-05T11:00:00Z",
        "title": "Emergency patch"})
    assert status == 201
    assert m["warnings"] == [
        "start: the window began before it was declared (at 2026-10-05T10:20:30Z): it counts "
        "as maintenance only from then on; to cover 2026-10-05T10:00:00Z to "
        "2026-10-05T10:20:30Z, declare an exclusion with a reason",
        "start: 2026-10-05T10:00:00Z is inside the SLA coverage hours of web",
    ]
    runtime.clock.advance(7200)
    status, x = await post(client, "exclusion", {
        "services": ["web"], "start": "2026-10-05T10:00:00Z", "end": "2026-10-05T10:20:30Z",
        "reason": "Cloud provider outage"})
    assert (status, x["warnings"], x["declared_at"]) == (201, [], "2026-10-05T12:20:30Z")
    october = (datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))
    windows = await runtime.writer.read(lambda led: declared_windows(led, *october))
    lo = int(october[0].timestamp()) // 60
    d0 = int(datetime(2026, 10, 5, 10, tzinfo=UTC).timestamp()) // 60
    runs = [Run(lo, d0, State.UP), Run(d0, d0 + 60, State.DOWN),
            Run(d0 + 60, lo + 31 * 1440, State.UP)]
    u = month_uptime(service="web", sla=runtime.config.service("web").sla, year=2026,
                     month=10, runs=runs, windows=windows)
    assert (u.maintenance_minutes, u.excluded_minutes, u.down_minutes) == (39, 21, 0)
    assert [(w.id, w.declared_by, w.minutes) for w in u.maintenance] == [
        (str(m["id"]), "api:admin", 39)]
    assert [(w.id, w.title, w.minutes) for w in u.exclusions] == [
        (str(x["id"]), "Cloud provider outage", 21)]


# ---- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "body", "problems"),
    [
        ("maintenance", {**PLANNED, "services": ["apx"]},
         ['services: unknown service "apx" (did you mean "api"? known services: api, web)']),
        ("maintenance", {**PLANNED, "end": "2026-10-03T01:00:00Z"},
         ["end: must be after start (2026-10-03T02:00:00Z)"]),
        ("maintenance", {**PLANNED, "end": "2026-10-12T02:00:00Z"},
         ["end: the window is 9d long; the limit is 7d (maintenance.max_duration in "
          "probes.yaml)"]),
        ("maintenance", {**PLANNED, "start": "2026-10-03T02:00:00"},
         ["start: needs a UTC offset such as Z or +02:00"]),
        ("exclusion", {**PAST, "reason": ""}, ["reason: required for an exclusion"]),
        # times Python cannot take to UTC, or past what upwatch takes: 500s before
        ("exclusion", {**PAST, "start": "0001-01-01T00:00:00+01:00"},
         ['start: "0001-01-01T00:00:00+01:00" is out of range (upwatch takes times from '
          "2000-01-01T00:00:00Z to 9998-12-31T23:59:59Z)"]),
        ("exclusion", {**PAST, "end": "9999-12-31T23:59:59-01:00"},
         ['end: "9999-12-31T23:59:59-01:00" is out of range (upwatch takes times from '
          "2000-01-01T00:00:00Z to 9998-12-31T23:59:59Z)"]),
        ("exclusion", {**PAST, "end": "9999-01-01T00:00:00Z"},
         ['end: "9999-01-01T00:00:00Z" is out of range (upwatch takes times from '
          "2000-01-01T00:00:00Z to 9998-12-31T23:59:59Z)"]),
    ],
    ids=["unknown-service", "end-before-start", "too-long", "no-offset", "no-reason",
         "before-year-1-in-utc", "past-year-9999-in-utc", "end-past-the-limit"],
)
async def test_invalid_fields_are_400_with_every_problem(
    client: Client, runtime: Rt, kind: str, body: dict[str, object], problems: list[str]
) -> None:
    status, answer = await post(client, kind, body)
    label = "maintenance window" if kind == "maintenance" else "exclusion"
    assert (status, answer) == (400, {"error": f"invalid {label}", "problems": problems})
    assert await runtime.writer.read(lambda led: led.windows()) == []


@pytest.mark.parametrize(
    ("kind", "body", "problems"),
    [
        ("maintenance", [PLANNED],
         ["body: expected a JSON object with services, start, end, title"]),
        ("maintenance", {**PLANNED, "colour": "red"},
         ['"colour": unknown key (allowed: end, services, start, title)']),
        ("maintenance", {**PLANNED, "reason": "x"},
         ['"reason": unknown key (allowed: end, services, start, title)']),
        ("exclusion", {**PAST, "declared_at": "2026-09-28T12:00:00Z"},
         ["declared_at: set by upwatch to the time of the request; leave it out"]),
        ("maintenance", {**PLANNED, "rrule": "FREQ=WEEKLY", "timezone": "Europe/Copenhagen"},
         ["rrule: recurring windows are declared in probes.yaml; the API takes one-off windows",
          "timezone: write start and end with a UTC offset such as Z or +02:00"]),
        ("maintenance", {**PLANNED, "services": 7},
         ["services: expected a list of service names, got 7"]),
        ("maintenance", {**PLANNED, "title": ["x"]}, ['title: expected text, got ["x"]']),
        ("maintenance", {**PLANNED, "title": "two\nlines"},
         ["title: must be one line of text (no line breaks or control characters)"]),
        ("maintenance", {k: v for k, v in PLANNED.items() if k != "end"}, ["end: required"]),
    ],
    ids=["not-an-object", "unknown-key", "reason-on-maintenance", "declared-at",
         "recurring", "services-not-names", "title-not-text", "title-two-lines", "end-missing"],
)
async def test_bodies_outside_the_schema_are_400_and_the_schema_agrees(
    client: Client, kind: str, body: object, problems: list[str]
) -> None:
    assert not request_is_valid(kind, body)
    status, answer = await post(client, kind, body)
    label = "maintenance window" if kind == "maintenance" else "exclusion"
    assert (status, answer) == (400, {"error": f"invalid {label}", "problems": problems})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"services": ["api"],', "malformed JSON: Expecting property name enclosed in double "
                                   "quotes: line 1 column 22 (char 21)"),
        (b"", "malformed JSON: Expecting value: line 1 column 1 (char 0)"),
        (b'{"title": "\xff"}', "malformed JSON: the body is not UTF-8"),
    ],
    ids=["truncated", "empty", "not-utf8"],
)
async def test_malformed_json_is_400(client: Client, data: bytes, message: str) -> None:
    status, body, _ = await call(client, "POST", "/api/v1/maintenance", data=data,
                                 headers={**AUTH, "Content-Type": "application/json"})
    assert (status, body) == (400, {"error": message})


async def test_a_body_over_64_kib_is_413(client: Client, runtime: Rt) -> None:
    big = {**PLANNED, "title": "x" * (64 * 1024)}
    status, body, _ = await call(client, "POST", "/api/v1/maintenance", big)
    assert (status, body) == (413, {"error": "the request body is larger than 64 KiB"})

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while read
        for _ in range(17):
            yield b" " * 4096
        yield json.dumps(PLANNED).encode()

    status, body, _ = await call(client, "POST", "/api/v1/maintenance", data=chunks())
    assert (status, body) == (413, {"error": "the request body is larger than 64 KiB"})
    assert await runtime.writer.read(lambda led: led.windows()) == []


@pytest.mark.parametrize(("size", "status"), [(64 * 1024, 201), (64 * 1024 + 1, 413)],
                         ids=["exactly-64-kib", "one-byte-more"])
async def test_the_limit_is_64_kib(client: Client, size: int, status: int) -> None:
    payload = json.dumps(PLANNED).encode()
    data = payload + b" " * (size - len(payload))
    got, _, _ = await call(client, "POST", "/api/v1/maintenance", data=data,
                           headers={**AUTH, "Content-Type": "application/json"})
    assert got == status


@pytest.mark.parametrize(
    ("method", "path", "status", "message"),
    [
        ("GET", "/api/v1/maintenance/7", 404, 'no maintenance window with id "7"'),
        ("DELETE", "/api/v1/maintenance/7", 404, 'no maintenance window with id "7"'),
        ("DELETE", "/api/v1/exclusions/abc", 404, 'no exclusion with id "abc"'),
        ("DELETE", "/api/v1/exclusions/1", 404,
         'no exclusion with id "1" (1 is a maintenance window)'),
        ("DELETE", "/api/v1/maintenance/99999999999999999999999", 404,
         'no maintenance window with id "99999999999999999999999"'),
        ("GET", "/api/v1/windows", 404,
         "no such endpoint: GET /api/v1/windows (see docs/openapi.yaml)"),
        ("PUT", "/api/v1/maintenance", 405,
         "PUT is not allowed on /api/v1/maintenance (allowed: GET, HEAD, POST)"),
        ("PATCH", "/api/v1/exclusions/1", 405,
         "PATCH is not allowed on /api/v1/exclusions/1 (allowed: DELETE, GET, HEAD)"),
        ("GET", "/api/v1/maintenance?state=soon", 400,
         'state: expected one of upcoming, active, past, got "soon"'),
        ("GET", "/api/v1/maintenance?sevice=api", 400,
         'unknown query parameter "sevice" (allowed: service, state)'),
    ],
    ids=["get-unknown-id", "delete-unknown-id", "id-not-a-number", "id-of-the-other-kind",
         "id-too-big", "unknown-endpoint", "put-collection", "patch-item", "bad-state",
         "unknown-query"],
)
async def test_error_answers_are_json(
    client: Client, method: str, path: str, status: int, message: str
) -> None:
    await post(client, "maintenance", PLANNED)
    got, body, headers = await call(client, method, path)
    assert (got, body) == (status, {"error": message})
    if status == 405:
        assert headers["Allow"] == message.rsplit("(allowed: ", 1)[1].rstrip(")").replace(
            ", ", ",")


async def test_a_failing_ledger_is_500_with_the_reason(
    client: Client, runtime: Rt, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Ledger, **kw: object) -> None:
        raise LedgerError("storing a maintenance window failed: disk I/O error")

    monkeypatch.setattr(Ledger, "add_window", broken)
    status, body = await post(client, "maintenance", PLANNED)
    assert (status, body) == (500, {"error": "the ledger failed: storing a maintenance window "
                                              "failed: disk I/O error"})
