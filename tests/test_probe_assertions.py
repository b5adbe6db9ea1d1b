"""``expect.json`` and ``expect.headers``: what probes.yaml accepts and refuses, then the http
probe against real loopback servers, then ``upwatch run`` following a JSON health endpoint.

Every probed service is built from YAML text by :mod:`monitor.config`, so the config and the
probe are tested as they meet in production. Nothing here leaves loopback: names resolve
through a resolver that fails every lookup.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
import textwrap
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from ledger_sql import query
from multidict import CIMultiDict
from probe_servers import FailingResolver
from pytest_aiohttp import AiohttpServer
from test_run_e2e import DEADLINE, Upwatch, poll

from monitor.config import ConfigError, ServiceConfig, load_config, parse_config
from monitor.core.checks import CheckResult, ErrorKind
from monitor.core.clock import FakeClock
from monitor.probes import HttpProbe, assertions, make_session
from monitor.probes.assertions import JSON_THREAD_BYTES, JsonAssertionSpec
from monitor.probes.matching import REGEX_TIME_LIMIT_S

T0 = datetime(2026, 10, 1, 10, 0, tzinfo=UTC)


# ---- probes.yaml: what it refuses, by path ---------------------------------------------------


def config_file(tmp_path: Path, expect: str, kind: str = "") -> Path:
    """probes.yaml with one service (http unless ``kind`` gives another) whose ``expect``
    block is the YAML ``expect``."""
    target = (f"    kind: {kind}\n    host: 127.0.0.1\n    port: 25\n" if kind
              else "    url: 'http://127.0.0.1:1/'\n")
    path = tmp_path / "probes.yaml"
    path.write_text("services:\n  - name: api\n" + target + "    expect:\n"
                    + textwrap.indent(textwrap.dedent(expect), "      "), "utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return [line.removeprefix(f"{path}: ") for line in caught.value.problems]


CONFIG_ERRORS = [
    ("invalid_jsonpath_at_its_index",
     """\
     json:
       - '$.status == "UP"'
       - '$.checks[ == 1'
     """,
     ['services[0].expect.json[1]: invalid JSONPath "$.checks[": unexpected end of query']),
    ("query_without_dollar",
     "json: 'status == \"UP\"'\n",
     ['services[0].expect.json: a JSONPath query starts with $ (like $.status), got "status"']),
    ("order_needs_a_number",
     """\
     json:
       - '$.version'
       - '$.queue.depth < "many"'
     """,
     ['services[0].expect.json[1]: < compares with a number, got "many"']),
    ("order_refuses_true",
     "json: ['$.up >= true']\n",
     ['services[0].expect.json[0]: >= compares with a number, got true']),
    ("bad_literal",
     "json: '$.status == UP'\n",
     ['services[0].expect.json: expected a JSON value after == (a "string", a number, true, '
      'false or null), got "UP"']),
    ("object_literal",
     "json: ['$.status == {\"a\": 1}']\n",
     ['services[0].expect.json[0]: compare with a single value (a "string", a number, true, '
      'false or null), got "{\\"a\\": 1}"']),
    ("list_literal",
     "json: ['$.ids == [1, 2]']\n",
     ['services[0].expect.json[0]: compare with a single value (a "string", a number, true, '
      'false or null), got "[1, 2]"']),
    ("entry_not_text",
     "json: ['$.a', 7]\n",
     ["services[0].expect.json[1]: expected a JSONPath assertion such as '$.status == \"UP\"', "
      "got 7"]),
    ("json_not_a_list",
     "json: {status: UP}\n",
     ['services[0].expect.json: expected a JSONPath assertion or a list of them, got '
      '{"status": "UP"}']),
    ("header_regex_error",
     "headers: {Content-Type: '/(application/'}\n",
     ["services[0].expect.headers.Content-Type: invalid regular expression: missing ) at "
      "position 12"]),
    ("header_bad_name",
     "headers: {'Content Type': json}\n",
     ['services[0].expect.headers: invalid header name "Content Type"']),
    ("header_value_not_text",
     "headers: {X-Env: [prod]}\n",
     ['services[0].expect.headers.X-Env: expected text or /regex/, got ["prod"]']),
    ("headers_not_a_mapping",
     "headers: [X-Env]\n",
     ['services[0].expect.headers: expected a mapping of header names to values, got '
      '["X-Env"]']),
]


@pytest.mark.parametrize(("expect", "expected"), [c[1:] for c in CONFIG_ERRORS],
                         ids=[c[0] for c in CONFIG_ERRORS])
def test_load_time_errors_name_their_path(tmp_path: Path, expect: str,
                                          expected: list[str]) -> None:
    assert problems(config_file(tmp_path, expect)) == expected


@pytest.mark.parametrize("kind", ["tcp", "tls"])
def test_json_and_headers_are_refused_on_other_kinds(tmp_path: Path, kind: str) -> None:
    path = config_file(tmp_path, "json: '$.status'\nheaders: {X-Env: prod}\n", kind=kind)
    assert problems(path) == [
        f'services[0].expect.json: only for kind http (service "api" is kind {kind})',
        f'services[0].expect.headers: only for kind http (service "api" is kind {kind})',
    ]


def test_what_probes_yaml_gives_the_probe(tmp_path: Path) -> None:
    expect = load_config(config_file(tmp_path, """\
        json:
          - '$.status == "UP"'
          - "$.checks[?@.name == 'db'].ok != false"
          - '$.version'
          - "$.mode == 'live'"
        headers:
          content-type: '/^application\\/json/'
          X-Env: prod
        """)).service("api").expect
    assert [(a.query, a.op, a.value) for a in expect.json_assertions] == [
        ("$.status", "==", "UP"),
        ("$.checks[?@.name == 'db'].ok", "!=", False),
        ("$.version", None, None),
        ("$.mode", "==", "live"),
    ]
    assert [(h.name, h.value, h.pattern) for h in expect.headers] == [
        ("content-type", None, "^application\\/json"), ("X-Env", "prod", None)]


# ---- the probe against loopback servers ------------------------------------------------------


@dataclass
class Answer:
    """What the loopback server sends; the test changes it between checks."""

    body: bytes = b'{"status": "UP"}'
    status: int = 200
    headers: list[tuple[str, str]] = field(
        default_factory=lambda: [("Content-Type", "application/json")])
    hits: int = 0

    def json(self, document: object) -> None:
        self.body = json.dumps(document).encode()

    async def handle(self, _: web.Request) -> web.Response:
        self.hits += 1
        return web.Response(body=self.body, status=self.status,
                            headers=CIMultiDict(self.headers))


@dataclass
class Lab:
    answer: Answer
    url: str
    probe: HttpProbe

    def service(self, expect: str, extra: str = "", path: str = "/") -> ServiceConfig:
        """A service on this lab's server, from probes.yaml text; ``expect`` is YAML."""
        text = (f"services:\n  - name: api\n    url: '{self.url}{path.lstrip('/')}'\n"
                f"    retries: 0\n{extra}    expect:\n"
                + textwrap.indent(textwrap.dedent(expect), "      "))
        return parse_config(text).service("api")

    async def check(self, expect: str, extra: str = "") -> CheckResult:
        return await self.probe.check(self.service(expect, extra))


@pytest.fixture
async def lab(aiohttp_server: AiohttpServer) -> AsyncIterator[Lab]:
    answer = Answer()
    app = web.Application()
    app.router.add_route("*", "/", answer.handle)
    server = await aiohttp_server(app)
    async with make_session(resolver=FailingResolver()) as session:
        yield Lab(answer, f"http://127.0.0.1:{server.port}/",
                  HttpProbe(session, FakeClock(T0), location="test-lab"))


def verdict(result: CheckResult) -> tuple[bool, ErrorKind | None, str]:
    return result.ok, result.error, result.detail


OPERATORS = [
    # (document, assertion, detail or "" when it holds)
    ({"status": "UP"}, '$.status == "UP"', ""),
    ({"status": "DOWN"}, '$.status == "UP"', 'expect.json $.status == "UP": got "DOWN"'),
    ({"status": "UP"}, "$.status == 'UP'", ""),
    ({"v": 1.0}, "$.v == 1", ""),
    ({"v": 1}, "$.v == 1.0", ""),
    ({"v": True}, "$.v == 1", "expect.json $.v == 1: got true"),
    ({"v": 1}, "$.v == true", "expect.json $.v == true: got 1"),
    ({"v": "1"}, "$.v == 1", 'expect.json $.v == 1: got "1"'),
    ({"v": None}, "$.v == null", ""),
    ({"v": False}, "$.v == null", "expect.json $.v == null: got false"),
    ({"v": {"a": 1}}, "$.v == 1", 'expect.json $.v == 1: got {"a": 1}'),
    ({"status": "UP"}, '$.status != "DOWN"', ""),
    ({"status": "DOWN"}, '$.status != "DOWN"', 'expect.json $.status != "DOWN": got "DOWN"'),
    ({"v": 0}, "$.v != false", ""),
    ({"queue": {"depth": 99}}, "$.queue.depth < 100", ""),
    ({"queue": {"depth": 250}}, "$.queue.depth < 100",
     "expect.json $.queue.depth < 100: got 250"),
    ({"queue": {"depth": 100}}, "$.queue.depth <= 100", ""),
    ({"queue": {"depth": 100.5}}, "$.queue.depth <= 100",
     "expect.json $.queue.depth <= 100: got 100.5"),
    ({"free": 0.25}, "$.free > 0.1", ""),
    ({"free": 0}, "$.free > 0", "expect.json $.free > 0: got 0"),
    ({"free": 0}, "$.free >= 0", ""),
    ({"free": -1}, "$.free >= 0", "expect.json $.free >= 0: got -1"),
    ({"queue": {"depth": "250"}}, "$.queue.depth < 100",
     'expect.json $.queue.depth < 100: got "250", not a number'),
    ({"up": True}, "$.up >= 1", "expect.json $.up >= 1: got true, not a number"),
    ({"up": None}, "$.up > 0", "expect.json $.up > 0: got null, not a number"),
    ({"items": [1, 2]}, "$.items > 0", "expect.json $.items > 0: got [1, 2], not a number"),
    ({"version": "1.2"}, "$.version", ""),
    ({"version": None}, "$.version", ""),  # found, if null
    ({"name": "api"}, "$.version", "expect.json $.version: not found"),
    ({"name": "api"}, '$.status == "UP"', "expect.json $.status: not found"),
    ([{"status": "UP"}], '$.status == "UP"', "expect.json $.status: not found"),
    # a document that is one string is searched as a string, never parsed again
    ('{"status": "UP"}', '$.status == "UP"', "expect.json $.status: not found"),
    ("hello", '$ == "hello"', ""),
    (7, "$ < 10", ""),
    ({"msg": "é\u202e\n"}, '$.msg == "x"', 'expect.json $.msg == "x": got "é\\u202e\\n"'),
    ({"msg": "x" * 100}, '$.msg == "x"', 'expect.json $.msg == "x": got "' + "x" * 38 + "…"),
]


@pytest.mark.parametrize(("document", "assertion", "detail"), OPERATORS,
                         ids=[f"{i}:{a}" for i, (_, a, _) in enumerate(OPERATORS)])
async def test_every_operator(lab: Lab, document: object, assertion: str, detail: str) -> None:
    lab.answer.json(document)
    result = await lab.check(f"json: {json.dumps(assertion)}\n")
    assert verdict(result) == (not detail, ErrorKind.CONTENT if detail else None, detail)
    assert result.status == 200


@pytest.mark.parametrize(("oks", "detail"), [
    ([True, True, True], ""),
    ([True, False, True], "expect.json $.checks[*].ok == true: got false at "
                          "$['checks'][1]['ok']"),
    ([False, False], "expect.json $.checks[*].ok == true: got false at $['checks'][0]['ok']"),
    ([], "expect.json $.checks[*].ok: not found"),
])
async def test_a_query_finding_several_values_holds_when_every_value_does(
    lab: Lab, oks: list[bool], detail: str
) -> None:
    lab.answer.json({"checks": [{"name": f"c{i}", "ok": ok} for i, ok in enumerate(oks)]})
    result = await lab.check("json: '$.checks[*].ok == true'\n")
    assert verdict(result) == (not detail, ErrorKind.CONTENT if detail else None, detail)


async def test_a_filter_with_its_own_operators(lab: Lab) -> None:
    lab.answer.json({"checks": [{"name": "db", "ms": 12}, {"name": "cache", "ms": 900}]})
    expect = "json: [\"$.checks[?@.name == 'db'].ms < 100\", \"$.checks[?@.ms > 500].name\"]\n"
    assert verdict(await lab.check(expect)) == (True, None, "")
    lab.answer.json({"checks": [{"name": "db", "ms": 250}]})
    assert verdict(await lab.check(expect)) == (
        False, ErrorKind.CONTENT, "expect.json $.checks[?@.name == 'db'].ms < 100: got 250")


async def test_the_first_failing_assertion_is_reported(lab: Lab) -> None:
    lab.answer.json({"status": "UP", "version": "2.0", "queue": {"depth": 500}})
    result = await lab.check("""\
        json:
          - '$.status == "UP"'
          - '$.queue.depth < 100'
          - '$.missing'
        """)
    assert verdict(result) == (False, ErrorKind.CONTENT,
                               "expect.json $.queue.depth < 100: got 500")


@pytest.mark.parametrize(("body", "detail"), [
    (b"<html><body>Service Unavailable</body></html>",
     "body is not JSON: Expecting value at line 1 column 1"),
    (b'{"status": "UP"', "body is not JSON: Expecting ',' delimiter at line 1 column 16"),
    (b'{"status": "UP"}\n{"status": "UP"}', "body is not JSON: Extra data at line 2 column 1"),
    (b"", "body is not JSON: it is empty"),
    (b" \r\n", "body is not JSON: it is empty"),
    (b'{"status": "\xff"}', "body is not JSON: not UTF-8 text (byte 0xFF at offset 12)"),
    (b"1" * 5000, "body is not JSON: Exceeds the limit (4300 digits) for integer string "
                  "conversion"),
])
async def test_a_body_that_is_not_json(lab: Lab, body: bytes, detail: str) -> None:
    lab.answer.body = body
    assert verdict(await lab.check("json: '$.status'\n")) == (False, ErrorKind.CONTENT, detail)


@pytest.mark.parametrize("size", [1000, 100_000, 1_000_000], ids=["small", "64k+", "1MB"])
async def test_json_nested_too_deeply_fails_its_check(lab: Lab, size: int) -> None:
    lab.answer.body = b"[" * size
    result = await lab.check("json: '$.status'\n", extra="    max_body_bytes: 2MB\n")
    assert verdict(result) == (False, ErrorKind.CONTENT, "body is JSON nested too deeply to read")


async def test_json_too_deep_to_search_fails_its_check(lab: Lab) -> None:
    # readable (900 levels), but a descendant search recurses deeper than Python allows
    lab.answer.body = b"[" * 900 + b"]" * 900
    assert sys.getrecursionlimit() <= 1000 + 100
    result = await lab.check("json: '$..status'\n")
    assert verdict(result) == (False, ErrorKind.CONTENT,
                               "expect.json $..status: recursion limit exceeded")


async def test_a_large_document_is_read_off_the_loop_and_judged(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_loop: list[bool] = []
    judge = assertions._json_problem

    def spy(body: bytes, entries: Sequence[JsonAssertionSpec]) -> str | None:
        on_loop.append(threading.current_thread() is threading.main_thread())
        return judge(body, entries)

    monkeypatch.setattr(assertions, "_json_problem", spy)
    lab.answer.json({"status": "UP"})
    assert verdict(await lab.check("json: '$.status'\n")) == (True, None, "")
    items = [{"id": i, "ok": True} for i in range(20_000)]
    lab.answer.json({"items": items, "status": "UP"})
    assert len(lab.answer.body) > JSON_THREAD_BYTES
    expect = "json: ['$.status == \"UP\"', '$.items[*].ok == true', '$.items[-1].id >= 19999']\n"
    extra = "    max_body_bytes: 2MB\n"
    assert verdict(await lab.check(expect, extra)) == (True, None, "")
    items[12_345]["ok"] = False
    lab.answer.json({"items": items, "status": "UP"})
    assert verdict(await lab.check(expect, extra)) == (
        False, ErrorKind.CONTENT,
        "expect.json $.items[*].ok == true: got false at $['items'][12345]['ok']")
    assert on_loop == [True, False, False]  # a small body on the loop, large ones not


async def test_a_json_body_is_still_capped_by_max_body_bytes(lab: Lab) -> None:
    lab.answer.json({"status": "UP", "padding": "x" * 5000})
    result = await lab.check("json: '$.status == \"UP\"'\n", extra="    max_body_bytes: 4KB\n")
    assert verdict(result) == (False, ErrorKind.TOO_LARGE, "body larger than 4000 bytes")


HEADERS = [
    # (headers sent, expect.headers YAML, detail or "")
    ([("X-Env", "prod")], "{X-Env: prod}", ""),
    ([("X-ENV", "prod")], "{x-env: prod}", ""),  # names match whatever their case
    ([("X-Env", "staging")], "{X-Env: prod}", "expect.headers X-Env: expected 'prod', got "
                                              "'staging'"),
    ([("X-Env", "Prod")], "{X-Env: prod}", "expect.headers X-Env: expected 'prod', got 'Prod'"),
    ([], "{X-Env: prod}", "expect.headers X-Env: missing"),
    ([("X-Env", "staging"), ("X-Env", "prod")], "{X-Env: prod}", ""),  # any value is enough
    ([("X-Env", "a"), ("X-Env", "b")], "{X-Env: prod}",
     "expect.headers X-Env: expected 'prod', got 'a', 'b'"),
    ([("X-Env", v) for v in "abcde"], "{X-Env: prod}",
     "expect.headers X-Env: expected 'prod', got 'a', 'b', 'c' and 2 more"),
    ([("Content-Type", "application/json; charset=utf-8")],
     "{Content-Type: '/^application\\/json/'}", ""),
    ([("Content-Type", "text/html")], "{Content-Type: '/^application\\/json/'}",
     "expect.headers Content-Type: expected /^application\\/json/, got 'text/html'"),
    ([("Cache-Control", "private"), ("Cache-Control", "max-age=60")],
     "{cache-control: '/max-age=\\d+/'}", ""),
    ([("X-Version", "2" * 100)], "{X-Version: '/^1\\./'}",
     "expect.headers X-Version: expected /^1\\./, got '" + "2" * 39 + "…'"),
    ([("X-Version", "1.2")], "{X-Version: 1.2}", ""),  # a YAML number is the text written
    ([("X-Env", "prod"), ("X-Build", "7")], "{X-Env: prod, X-Build: '/^[0-9]+$/'}", ""),
    ([("X-Env", "prod")], "{X-Env: prod, X-Build: '/^[0-9]+$/'}",
     "expect.headers X-Build: missing"),
]


@pytest.mark.parametrize(("sent", "expect", "detail"), HEADERS,
                         ids=[f"{i}:{e}" for i, (_, e, _) in enumerate(HEADERS)])
async def test_headers(lab: Lab, sent: list[tuple[str, str]], expect: str, detail: str) -> None:
    lab.answer.headers = sent
    result = await lab.check(f"headers: {expect}\n")
    assert verdict(result) == (not detail, ErrorKind.CONTENT if detail else None, detail)


async def test_headers_are_judged_on_a_head_request(lab: Lab) -> None:
    lab.answer.headers = [("X-Env", "staging")]
    result = await lab.check("headers: {X-Env: prod}\n", extra="    method: HEAD\n")
    assert verdict(result) == (False, ErrorKind.CONTENT,
                               "expect.headers X-Env: expected 'prod', got 'staging'")


async def test_a_backtracking_header_regex_fails_its_check_without_stalling_others(
    lab: Lab
) -> None:
    lab.answer.headers = [("X-Evil", "a" * 64 + "!")]
    evil = asyncio.create_task(lab.probe.check(lab.service(
        "headers: {X-Evil: '/(a|aa)+$/'}\n", extra="    timeout: 30s\n")))
    fine = asyncio.create_task(lab.probe.check(lab.service("json: '$.status == \"UP\"'\n")))
    done, _ = await asyncio.wait({evil, fine}, return_when=asyncio.FIRST_COMPLETED)
    assert done == {fine}  # the event loop kept running while the pattern backtracked
    assert verdict(await fine) == (True, None, "")
    assert verdict(await evil) == (
        False, ErrorKind.CONTENT,
        f"expect.headers X-Evil: /(a|aa)+$/ took over {REGEX_TIME_LIMIT_S:g} s on this header; "
        "simplify the pattern")


COMBINED = """\
    status: 200
    body_regex: '"status"'
    json: '$.status == "UP"'
    headers: {Content-Type: '/json/'}
    """


@pytest.mark.parametrize(("status", "content_type", "body", "error", "detail"), [
    (200, "application/json", b'{"status": "UP"}', None, ""),
    (503, "text/html", b"<h1>down</h1>", ErrorKind.HTTP_STATUS,
     "status 503 not in expected 200"),  # status first: nothing else is read
    (200, "text/html", b"<h1>down</h1>", ErrorKind.CONTENT,
     "expect.headers Content-Type: expected /json/, got 'text/html'"),  # headers before body
    (200, "application/json", b'{"state": "UP"}', ErrorKind.CONTENT,
     "body does not match /\"status\"/"),  # body_regex before json
    (200, "application/json", b'{"status": "DOWN"}', ErrorKind.CONTENT,
     'expect.json $.status == "UP": got "DOWN"'),
], ids=["all_hold", "status", "headers", "body_regex", "json"])
async def test_assertions_combined_with_status_and_body_regex(
    lab: Lab, status: int, content_type: str, body: bytes, error: ErrorKind | None, detail: str
) -> None:
    lab.answer.status, lab.answer.body = status, body
    lab.answer.headers = [("Content-Type", content_type)]
    result = await lab.check(COMBINED)
    assert verdict(result) == (error is None, error, detail)
    assert result.status == status


async def test_each_check_reads_the_answer_anew(lab: Lab) -> None:
    service = lab.service("json: '$.status == \"UP\"'\nheaders: {X-Env: prod}\n")
    lab.answer.headers = [("X-Env", "prod")]
    results = []
    for document in ({"status": "UP"}, {"status": "DOWN"}, {"status": "UP"}):
        lab.answer.json(document)
        results.append(verdict(await lab.probe.check(service)))
    assert results == [(True, None, ""),
                       (False, ErrorKind.CONTENT, 'expect.json $.status == "UP": got "DOWN"'),
                       (True, None, "")]
    assert lab.answer.hits == 3


# ---- end to end: `upwatch run` follows a JSON health endpoint down and back -------------------


def run_config(url: str) -> str:
    return ("site: {title: e2e}\n"
            "services:\n"
            f"  - name: web\n    url: '{url}'\n    interval: 1s\n    timeout: 1s\n"
            "    retries: 0\n"
            "    expect:\n"
            "      json: '$.status == \"UP\"'\n"
            "      headers: {Content-Type: '/^application\\/json/'}\n")


async def checks_total(session: aiohttp.ClientSession, base: str, result: str) -> float:
    async with session.get(f"{base}/metrics") as resp:
        text = await resp.text()
    found = re.search(rf'^upwatch_checks_total\{{result="{result}",service="web"\}} (\S+)$',
                      text, re.M)
    return 0.0 if found is None else float(found.group(1))


async def page_status(workdir: Path) -> str:
    """The component's status on a page built now by ``upwatch build-page`` from the ledger
    ``upwatch run`` is writing."""
    out = workdir / "page-now"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor.cli", "build-page", "--config",
        str(workdir / "probes.yaml"), "--db", str(workdir / "upwatch.db"), "--out", str(out),
        cwd=workdir, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), DEADLINE)
    assert proc.returncode == 0, err.decode()
    summary = json.loads((out / "status.json").read_text("utf-8"))
    [component] = summary["components"]
    return str(component["status"])


async def test_run_follows_a_json_health_endpoint_down_and_back(
    tmp_path: Path, aiohttp_server: AiohttpServer
) -> None:
    answer = Answer()
    app = web.Application()
    app.router.add_get("/health", answer.handle)
    server = await aiohttp_server(app)
    (tmp_path / "probes.yaml").write_text(
        run_config(f"http://127.0.0.1:{server.port}/health"), "utf-8")
    up = Upwatch(tmp_path)
    await up.start()
    try:
        await up.wait_metric("probe_success", "web", 1.0)
        async with aiohttp.ClientSession() as session:
            answer.json({"status": "DOWN"})
            await up.wait_metric("probe_success", "web", 0.0)
            await up.wait_log(r'service web is down \(content: expect\.json \$\.status == "UP": '
                              r'got "DOWN"\)')
            # the answer was a 200: the status code says so, the check's result says content
            assert await up.metric(session, "probe_http_status_code", "web") == 200.0

            async def counted() -> bool:
                return await checks_total(session, up.base, "content") >= 1

            await poll(counted, 'upwatch_checks_total{result="content"}', up.log)

            async def page_down() -> bool:
                return await page_status(tmp_path) == "major_outage"

            await poll(page_down, "the page showing web down", up.log)
            answer.json({"status": "UP"})
            await up.wait_metric("probe_success", "web", 1.0)
            await up.wait_log(r"service web is up")

            async def page_up() -> bool:
                return await page_status(tmp_path) == "operational"

            await poll(page_up, "the page showing web up again", up.log)
    finally:
        code = await up.signal(signal.SIGTERM)
    assert code == 0, "\n".join(up.log)
    rows = query(tmp_path / "upwatch.db",
                 "SELECT c.ok, c.status, c.error, c.detail FROM checks AS c "
                 "JOIN services AS s ON s.id = c.service_id WHERE s.name = 'web'")
    assert (0, 200, "content", 'expect.json $.status == "UP": got "DOWN"') in rows
    assert (1, 200, None, "") in rows

