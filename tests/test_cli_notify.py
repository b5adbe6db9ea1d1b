"""``upwatch notify test CHANNEL``: exact output against loopback receivers, and its errors."""

from __future__ import annotations

import argparse
import io
import socket
import textwrap
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from monitor.cli.common import UsageError
from monitor.cli.notify import add_notify_parsers, notify_test, run_notify_command
from monitor.config import parse_config
from monitor.core.clock import FakeClock
from monitor.notify import event_from_json
from monitor.notify.webhook import verify

T0 = datetime(2026, 10, 1, 10, 0, tzinfo=UTC)
MakeServer = Callable[[web.Application], Awaitable[TestServer]]
SERVICES = 'services:\n  - {name: api, url: "http://127.0.0.1:9/"}\n'


def config_with(channels: str) -> str:
    return SERVICES + "notifications:\n" + textwrap.indent(textwrap.dedent(channels), "  ")


def args_for(tmp_path: Path, *argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="upwatch")
    add_notify_parsers(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args([*argv, "--config", str(tmp_path / "probes.yaml")])


def receiver(status: int, seen: list[web.Request | bytes]) -> web.Application:
    async def hook(request: web.Request) -> web.Response:
        seen.extend([request, await request.read()])
        return web.Response(status=status, text="" if status < 300 else "boom")

    app = web.Application()
    app.router.add_post("/hooks/T000/B000/xoxsecret", hook)
    return app


async def test_webhook_test_message_is_signed(aiohttp_server: MakeServer) -> None:
    seen: list[web.Request | bytes] = []
    server = await aiohttp_server(receiver(200, seen))
    url = server.make_url("/hooks/T000/B000/xoxsecret")
    config = parse_config(config_with(f"""\
        - {{name: ops-hook, kind: webhook, url: "{url}", secret_env: HOOK_SECRET}}
        """))
    out = io.StringIO()
    code = await notify_test(config, "ops-hook", FakeClock(T0), {"HOOK_SECRET": "k"}, out)
    assert code == 0
    assert out.getvalue() == (
        'Sending a test message through "ops-hook" (webhook to '
        f"http://127.0.0.1:{server.port})...\nDelivered.\n")
    request, body = seen
    assert isinstance(request, web.Request) and isinstance(body, bytes)
    assert verify(b"k", body, request.headers["X-Upwatch-Signature"])
    event = event_from_json(body.decode())
    assert (event.kind, event.id, event.at) == ("test", "test:ops-hook:1790848800", T0)
    assert request.headers["Idempotency-Key"] == "test:ops-hook:1790848800/ops-hook"


@pytest.mark.parametrize(("kind", "status", "verdict"), [
    ("webhook", 500, "HTTP 500: boom (temporary: the outbox would retry it)"),
    ("slack", 404, "HTTP 404: boom (permanent: the outbox would drop it)"),
], ids=["webhook_5xx", "slack_404"])
async def test_failure_exits_1(aiohttp_server: MakeServer, kind: str, status: int,
                               verdict: str) -> None:
    server = await aiohttp_server(receiver(status, []))
    url = server.make_url("/hooks/T000/B000/xoxsecret")
    config = parse_config(config_with(f'- {{name: chan, kind: {kind}, url: "{url}"}}\n'))
    out = io.StringIO()
    assert await notify_test(config, "chan", FakeClock(T0), {}, out) == 1
    first, second = out.getvalue().splitlines()
    assert "xoxsecret" not in first  # a Slack URL's path is its secret
    assert second == f"Failed: {verdict}"


def test_email_end_to_end_from_the_command(tmp_path: Path) -> None:
    received: list[Envelope] = []

    class Handler:
        async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
            received.append(envelope)
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "probes.yaml").write_text(config_with(f"""\
        - name: mail
          kind: email
          host: 127.0.0.1
          port: {port}
          starttls: false
          from: upwatch@example.com
          to: [ops@example.com]
        """))
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    out = io.StringIO()
    try:
        code = run_notify_command(args_for(tmp_path, "notify", "test", "mail"),
                                  clock=FakeClock(T0), environ={}, out=out)
    finally:
        controller.stop()
    assert code == 0
    assert out.getvalue() == ('Sending a test message through "mail" (email to '
                              f"smtp://127.0.0.1:{port})...\nDelivered.\n")
    assert [e.rcpt_tos for e in received] == [["ops@example.com"]]
    content = received[0].content
    assert isinstance(content, bytes) and b"Subject: upwatch test notification" in content


@pytest.mark.parametrize(("channels", "name", "environ", "message"), [
    ("", "x", {}, "no notification channels are configured (add them under notifications: "
                  "in probes.yaml)"),
    ('- {name: ops-hook, kind: webhook, url: "http://127.0.0.1:9/"}\n'
     '- {name: slack, kind: slack, url: "http://127.0.0.1:9/s"}\n', "mail", {},
     'no channel named "mail" in notifications (known: ops-hook, slack)'),
    ('- {name: ops-hook, kind: webhook, url: "http://127.0.0.1:9/", secret_env: HOOK_SECRET}\n',
     "ops-hook", {}, 'notifications: channel "ops-hook": environment variable HOOK_SECRET is '
                     "not set (it holds the channel's secret)"),
    ("- {name: mail, kind: email, host: 127.0.0.1, from: a@example.com, to: b@example.com,"
     " username_env: SMTP_USER, password_env: SMTP_PASSWORD}\n", "mail", {"SMTP_USER": "u"},
     'notifications: channel "mail": environment variable SMTP_PASSWORD is not set '
     "(it holds the channel's secret)"),
], ids=["none_configured", "unknown_names_the_known", "webhook_secret_unset",
        "smtp_password_unset"])
def test_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], channels: str, name: str,
                environ: dict[str, str], message: str) -> None:
    text = config_with(channels) if channels else SERVICES
    (tmp_path / "probes.yaml").write_text(text)
    with pytest.raises(UsageError) as err:
        run_notify_command(args_for(tmp_path, "notify", "test", name), clock=FakeClock(T0),
                           environ=environ)
    assert str(err.value) == message
    assert capsys.readouterr().out == ""
