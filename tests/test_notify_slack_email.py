"""Slack and email channels against real loopback servers: an aiohttp receiver for Slack, an
aiosmtpd server (STARTTLS with a trustme certificate, AUTH) for email."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import pytest
import trustme
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from monitor.core.clock import FakeClock
from monitor.notify import DeliveryError, Event
from monitor.notify.email import EmailChannel, build_message
from monitor.notify.slack import SlackChannel, mrkdwn, slack_payload

T0 = datetime(2026, 10, 1, 10, 0, tzinfo=UTC)
EVENT = Event("incident-update:7", "incident", T0, "[severity 1] <!channel> API down: identified",
              "Rolling **back** <script>alert(1)</script>; see [status](https://s.example/x).",
              ("api", "web"), {"incident_id": 3})
MakeServer = Callable[[web.Application], Awaitable[TestServer]]


# ---- Slack -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("markdown", "expected"), [
    ("**bold** and *em*", "*bold* and *em*"),
    ("<!channel> & <@U123>", "&lt;!channel&gt; &amp; &lt;@U123&gt;"),
    ("[docs](https://d.example/a?b=1&c=2)", "<https://d.example/a?b=1&amp;c=2|docs>"),
    ("[mail](mailto:ops@example.com)", "<mailto:ops@example.com|mail>"),
    ("[x](javascript:alert(1))", "[x](javascript:alert(1))"),
    ("[x](https://a.example/|<!here>)", "[x](https://a.example/|&lt;!here&gt;)"),
], ids=["bold", "mentions_escaped", "link", "mailto", "javascript_stays_text",
        "pipe_cannot_smuggle"])
def test_mrkdwn(markdown: str, expected: str) -> None:
    assert mrkdwn(markdown) == expected


def test_slack_payload_shape() -> None:
    payload = slack_payload(EVENT)
    assert payload["text"].startswith("[severity 1] &lt;!channel&gt; API down: identified: ")
    title, body, context = payload["blocks"]
    assert title == {"type": "section", "text": {
        "type": "mrkdwn", "text": "*[severity 1] &lt;!channel&gt; API down: identified*"}}
    assert body["text"]["text"] == ("Rolling *back* &lt;script&gt;alert(1)&lt;/script&gt;; "
                                    "see <https://s.example/x|status>.")
    assert context == {"type": "context", "elements": [
        {"type": "mrkdwn", "text": "incident · api, web · 2026-10-01 10:00 UTC"}]}
    long = slack_payload(Event("t", "test", T0, "t", "x" * 5000))
    assert len(long["blocks"][1]["text"]["text"]) == 3000


async def test_slack_posts_to_the_webhook(aiohttp_server: MakeServer) -> None:
    seen: list[tuple[dict[str, Any], str]] = []

    async def hook(request: web.Request) -> web.Response:
        seen.append((await request.json(), request.headers["Idempotency-Key"]))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/services/T/B/secret", hook)
    server = await aiohttp_server(app)
    async with ClientSession() as session:
        channel = SlackChannel("slack", str(server.make_url("/services/T/B/secret")), session)
        await channel.send(EVENT, "incident-update:7/slack")
    assert seen == [(slack_payload(EVENT), "incident-update:7/slack")]


@pytest.mark.parametrize(("status", "body", "permanent"), [
    (500, "rollup_error", False), (429, "rate limited", False),
    (404, "no_service", True), (403, "invalid_token", True),
], ids=["5xx_retried", "429_retried", "404_permanent", "403_permanent"])
async def test_slack_failures_are_classified(aiohttp_server: MakeServer, status: int, body: str,
                                             permanent: bool) -> None:
    async def hook(request: web.Request) -> web.Response:
        return web.Response(status=status, text=body)

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = await aiohttp_server(app)
    async with ClientSession() as session:
        channel = SlackChannel("slack", str(server.make_url("/hook")), session)
        with pytest.raises(DeliveryError) as err:
            await channel.send(EVENT, "k")
    assert str(err.value) == f"HTTP {status}: {body}"
    assert err.value.permanent is permanent


# ---- email -------------------------------------------------------------------------------------

@dataclass
class Mailbox:
    """What the SMTP server received."""

    messages: list[tuple[Envelope, bool, bool]] = field(default_factory=list)  # +tls, +auth
    refuse: dict[str, str] = field(default_factory=dict)  # recipient → reply

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append((envelope, session.ssl is not None, bool(session.authenticated)))
        return "250 Message accepted"

    def parsed(self, index: int = 0) -> EmailMessage:
        content = self.messages[index][0].content
        assert isinstance(content, bytes)
        msg = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


def _authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                  auth_data: Any) -> AuthResult:
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == b"alice"
          and auth_data.password == b"s3cret")
    return AuthResult(success=ok, handled=False)  # handled=False: the server says 535


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def client_tls(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx


@contextmanager
def smtp_server(ca: trustme.CA | None, *, auth: bool = True) -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    kwargs: dict[str, Any] = {}
    if ca is not None:
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
        kwargs.update(tls_context=server_ctx, require_starttls=True)
    if auth:
        kwargs.update(authenticator=_authenticate, auth_required=True, auth_require_tls=True)
    port = _free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


def mail_channel(port: int, tls: ssl.SSLContext, *, user: str | None = "alice",
                 password: str | None = "s3cret", starttls: bool = True,
                 to: tuple[str, ...] = ("ops@example.com", "Bo <bo@example.com>")
                 ) -> EmailChannel:
    return EmailChannel("mail", "127.0.0.1", port, "upwatch <upwatch@example.com>", to,
                        FakeClock(T0), starttls=starttls, username=user, password=password,
                        timeout=5.0, ssl_context=tls)


async def test_email_over_starttls_with_auth(ca: trustme.CA, client_tls: ssl.SSLContext) -> None:
    with smtp_server(ca) as (box, port):
        await mail_channel(port, client_tls).send(EVENT, "incident-update:7/mail")
    envelope, tls, authenticated = box.messages[0]
    assert (tls, authenticated) == (True, True)
    assert envelope.mail_from == "upwatch@example.com"
    assert envelope.rcpt_tos == ["ops@example.com", "bo@example.com"]
    msg = box.parsed()
    assert msg["Subject"] == EVENT.title
    assert msg["From"] == "upwatch <upwatch@example.com>"
    assert msg["To"] == "ops@example.com, Bo <bo@example.com>"
    assert msg["Date"] == "Thu, 01 Oct 2026 10:00:00 +0000"
    assert msg["X-Upwatch-Event"] == "incident"
    assert msg["X-Upwatch-Event-Id"] == "incident-update:7"
    assert msg["Message-ID"].endswith("@example.com>")
    body = msg.get_content().replace("\r\n", "\n")
    assert EVENT.text in body
    assert "Services: api, web\nAt: 2026-10-01 10:00 UTC\n" in body


def test_message_id_is_the_same_on_every_retry() -> None:
    clock = FakeClock(T0)
    first = build_message(EVENT, "a@example.com", ["b@example.com"], "incident-update:7/mail",
                          clock)
    clock.advance(3600)
    again = build_message(EVENT, "a@example.com", ["b@example.com"], "incident-update:7/mail",
                          clock)
    other = build_message(EVENT, "a@example.com", ["b@example.com"], "incident-update:7/other",
                          clock)
    assert first["Message-ID"] == again["Message-ID"] != other["Message-ID"]
    assert first["Date"] != again["Date"]


async def test_wrong_password_is_permanent(ca: trustme.CA, client_tls: ssl.SSLContext) -> None:
    with smtp_server(ca) as (box, port):
        with pytest.raises(DeliveryError) as err:
            await mail_channel(port, client_tls, password="wrong").send(EVENT, "k")
    assert str(err.value).startswith("login refused: 535 ")
    assert err.value.permanent and box.messages == []


async def test_untrusted_certificate_is_refused(ca: trustme.CA) -> None:
    with smtp_server(ca) as (box, port):
        with pytest.raises(DeliveryError) as err:
            await mail_channel(port, ssl.create_default_context()).send(EVENT, "k")
    assert str(err.value).startswith("TLS failed: CERTIFICATE_VERIFY_FAILED")
    assert not err.value.permanent and box.messages == []


async def test_server_without_starttls_is_permanent(client_tls: ssl.SSLContext) -> None:
    with smtp_server(None, auth=False) as (box, port):
        with pytest.raises(DeliveryError) as err:
            await mail_channel(port, client_tls, user=None, password=None).send(EVENT, "k")
    assert str(err.value) == "STARTTLS extension not supported by server"
    assert err.value.permanent and box.messages == []


async def test_plain_smtp_when_starttls_is_off(client_tls: ssl.SSLContext) -> None:
    with smtp_server(None, auth=False) as (box, port):
        await mail_channel(port, client_tls, user=None, password=None,
                           starttls=False).send(EVENT, "k")
    assert [(tls, auth) for _, tls, auth in box.messages] == [(False, False)]


@pytest.mark.parametrize(("refuse", "message", "permanent"), [
    ({"ops@example.com": "550 no such user", "bo@example.com": "550 no such user"},
     "every recipient refused: 550 no such user", True),
    ({"ops@example.com": "451 try later", "bo@example.com": "550 no such user"},
     "every recipient refused: 451 try later", False),
    ({"bo@example.com": "550 no such user"},
     "refused by the server for bo@example.com (sent to the other recipients)", True),
], ids=["all_refused_permanent", "some_temporary_retried", "partly_refused"])
async def test_refused_recipients(ca: trustme.CA, client_tls: ssl.SSLContext,
                                  refuse: dict[str, str], message: str, permanent: bool) -> None:
    with smtp_server(ca) as (box, port):
        box.refuse = refuse
        with pytest.raises(DeliveryError) as err:
            await mail_channel(port, client_tls).send(EVENT, "k")
    assert (str(err.value), err.value.permanent) == (message, permanent)
    assert len(box.messages) == (1 if len(refuse) == 1 else 0)


async def test_no_server_is_retried(client_tls: ssl.SSLContext) -> None:
    with pytest.raises(DeliveryError) as err:
        await mail_channel(_free_port(), client_tls).send(EVENT, "k")
    assert str(err.value).startswith("ConnectionRefusedError")
    assert not err.value.permanent


def test_payload_is_json_serialisable() -> None:
    assert json.loads(json.dumps(slack_payload(EVENT)))["blocks"][0]["type"] == "section"
