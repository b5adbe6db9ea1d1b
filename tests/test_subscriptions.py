"""Status page subscriptions: the ledger's subscribers, the desk's rules, and the whole chain on
a running monitor with a real SMTP server (aiosmtpd) and a real webhook receiver.

The chain (issue 15): subscribe → confirmation mail → confirm → incident update mail →
unsubscribe → no more mail. ``Monitor`` runs in-process on a FakeClock; the outbox delivers on
its own and the test waits for the receivers, never for the wall clock.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import re
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from ledger_sql import outbox as outbox_rows

from monitor.config import ConfigError, parse_config
from monitor.core.clock import FakeClock
from monitor.core.windows import Window
from monitor.notify import Event
from monitor.notify.outbox import DirectLedger, Outbox, Pass
from monitor.notify.public_only import refusal
from monitor.notify.signup import Limited, SignupDesk, SignupError
from monitor.notify.subscribers import Links, Subscribers
from monitor.run.pages import SitePlan
from monitor.run.runner import Monitor, RunOptions
from monitor.store.ledger import Ledger
from monitor.store.subscribers import EXPIRES

NOW = datetime(2026, 11, 10, 9, 30, 5, tzinfo=UTC)
TOKEN = "subscriptions-test-admin-token"
BASE = """\
site: {title: Example status, url: "https://status.example.com/"}
services:
  - {name: api, url: "http://127.0.0.1:9/"}
  - {name: web, url: "http://127.0.0.1:9/"}
notifications:
  - {name: mail, kind: email, host: 127.0.0.1, port: 25, starttls: false,
     from: status@example.com, to: [ops@example.com], events: [state]}
"""


def config(extra: str = "subscriptions: {email: mail, webhooks: true}\n") -> str:
    return BASE + extra


# ---- probes.yaml ----------------------------------------------------------------------------

@pytest.mark.parametrize(("extra", "expected"), [
    ("subscriptions: {email: hook}\n", 'subscriptions.email: "hook" is no channel'),
    ("subscriptions: {}\n", "subscriptions: names no way to subscribe"),
    ("subscriptions: {email: mail, per_hour: 0}\n", "subscriptions.per_hour: must be at least 1"),
    ("subscriptions: {email: mail, every: 1}\n", "subscriptions.every: unknown key"),
])
def test_the_config_says_what_is_wrong_with_subscriptions(extra: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(config(extra))
    assert expected in str(caught.value)


def test_links_need_a_url_to_point_to() -> None:
    text = config().replace('url: "https://status.example.com/"', "language: en")
    with pytest.raises(ConfigError, match="needs site.url or site.subscribe_url"):
        parse_config(text)


# ---- the ledger -----------------------------------------------------------------------------

def test_a_request_waits_for_its_confirmation_and_leaving_deletes_it(
        ledger_target: str | Path) -> None:
    ledger = Ledger(ledger_target, clock=FakeClock(NOW))
    subs = ledger.subscribers
    try:
        asked = subs.ask("email", "a@example.com", ["api"], NOW, timedelta(minutes=10))
        assert asked.mail and asked.new and len(asked.token) == 32
        assert subs.following(["api"]) == []  # not confirmed yet
        again = subs.ask("email", "a@example.com", ["web"], NOW + timedelta(minutes=1),
                         timedelta(minutes=10))
        assert (again.token, again.mail, again.new) == (asked.token, False, False)
        confirmed = subs.confirm(asked.token, NOW + timedelta(minutes=2))
        assert confirmed is not None and confirmed.services == ("web",)  # the latest selection
        assert [s.address for s in subs.following(["web", "api"])] == ["a@example.com"]
        assert subs.following(["api"]) == []
        assert [s.address for s in subs.following([])] == ["a@example.com"]  # site-wide
        assert subs.count() == (1, 0)
        assert subs.remove(asked.token) is not None
        assert subs.by_ref(asked.ref) is None and subs.remove(asked.token) is None
        # an unconfirmed request is gone after EXPIRES, at the next request
        old = subs.ask("email", "b@example.com", [], NOW, timedelta(minutes=10))
        subs.ask("email", "c@example.com", [], NOW + EXPIRES + timedelta(seconds=1),
                 timedelta(minutes=10))
        assert subs.by_token(old.token) is None and subs.count() == (0, 1)
    finally:
        ledger.close()


# ---- the desk -------------------------------------------------------------------------------

class _Queue:
    def __init__(self) -> None:
        self.events: list[tuple[Event, str]] = []

    async def publish_to(self, event: Event, channel: str) -> int:
        self.events.append((event, channel))
        return 1


def _desk(tmp_path: Path, extra: str = "subscriptions: {email: mail, per_hour: 3, "
          "confirmations_per_hour: 5}\n") -> tuple[SignupDesk, _Queue, FakeClock, Ledger]:
    clock = FakeClock(NOW)
    ledger = Ledger(tmp_path / "l.db", clock=clock)
    queue = _Queue()
    return SignupDesk(parse_config(config(extra)), DirectLedger(ledger), queue, clock), queue, \
        clock, ledger


def test_the_desk_checks_what_a_visitor_sends(tmp_path: Path) -> None:
    desk, *_, ledger = _desk(tmp_path)
    try:
        for fields, problem in [
            ({"email": "not-an-address"}, "email: not an email address"),
            ({"email": "a@example.com\r\nBcc: x@evil.example"}, "email: not an email address"),
            ({}, "give one of: email"),
            ({"webhook": "https://hooks.example.com/x"}, "takes no webhook subscriptions"),
            ({"email": "a@example.com", "services": ["api", "nope"]}, 'no service called "nope"'),
        ]:
            with pytest.raises(SignupError, match=re.escape(problem)):
                desk.check(**fields)  # type: ignore[arg-type]
        # choosing every service is "all": new services are followed too
        assert desk.check(email="A@Example.COM", services=["api", "web"]).services == ()
        assert desk.check(email="a@Example.com").address == "a@example.com"
    finally:
        ledger.close()


async def test_the_desk_answers_the_same_for_a_known_address_and_bounds_requests(
        tmp_path: Path) -> None:
    desk, queue, clock, ledger = _desk(tmp_path)
    try:
        request = desk.check(email="a@example.com")
        await desk.subscribe(request, "10.0.0.1")
        await desk.subscribe(request, "10.0.0.2")  # again at once: no second mail
        assert len(queue.events) == 1
        event, channel = queue.events[0]
        assert event.kind == "subscription" and channel.startswith("subscriber:")
        await desk.subscribe(desk.check(email="b@example.com"), "10.0.0.1")
        await desk.subscribe(desk.check(email="c@example.com"), "10.0.0.1")
        with pytest.raises(Limited, match="from your address"):
            await desk.subscribe(desk.check(email="d@example.com"), "10.0.0.1")
        clock.advance(3601)  # an hour later the client may ask again
        await desk.subscribe(desk.check(email="d@example.com"), "10.0.0.1")
        for n in range(4):  # confirmations_per_hour: 5 in all, whoever asks
            await desk.subscribe(desk.check(email=f"x{n}@example.com"), f"10.1.0.{n}")
        with pytest.raises(Limited) as limited:
            await desk.subscribe(desk.check(email="y@example.com"), "10.2.0.1")
        assert limited.value.everyone
    finally:
        ledger.close()


@pytest.mark.parametrize(("url", "why"), [
    ("http://127.0.0.1:8080/hook", "leads to a private address"),
    ("http://[::1]/hook", "leads to a private address"),
    ("http://169.254.169.254/latest/meta-data", "leads to a private address"),
    ("http://10.1.2.3/hook", "leads to a private address"),
    ("http://localhost/hook", "leads to this network"),
    ("ftp://example.com/hook", "must be an http:// or https:// URL"),
    ("https://hooks.example.com/" + "x" * 2000, "is longer than 2,000 characters"),
    ("https://hooks.example.com/ok", None),
])
def test_a_webhook_url_must_lead_to_a_public_address(url: str, why: str | None) -> None:
    found = refusal(url)
    assert found == why if why is None else found is not None and found.startswith(why)
    # private_webhooks: true lets an intranet address through, never another scheme
    if why is not None and "leads to" in why:
        assert refusal(url, private=True) is None
    else:
        assert refusal(url, private=True) == found


# ---- the whole chain ------------------------------------------------------------------------

class Mailbox:
    """The SMTP server's handler (aiosmtpd runs it in a thread of its own)."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.arrived = threading.Condition()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, email.message.EmailMessage)
        with self.arrived:
            self.messages.append(msg)
            self.arrived.notify_all()
        return "250 Message accepted"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[email.message.EmailMessage]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.messages) >= count, timeout), (
                f"{len(self.messages)} messages, waited for {count}")
            return list(self.messages)


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


def _link(text: str, action: str) -> str:
    found = re.search(rf"https://status\.example\.com/subscribe/{action}/([A-Za-z0-9_-]{{32}})",
                      text)
    assert found is not None, text
    return found.group(0)


async def test_subscribe_confirm_update_unsubscribe_with_a_real_smtp_server(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mailbox: tuple[Mailbox, int],
        aiohttp_server: Callable[..., Awaitable[TestServer]]) -> None:
    box, smtp_port = mailbox
    hooks: list[dict[str, object]] = []
    hook_got = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        hooks.append(json.loads(await request.read()))
        hook_got.set()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    receiver = await aiohttp_server(app)
    cfg = tmp_path / "probes.yaml"
    cfg.write_text(BASE.replace("port: 25", f"port: {smtp_port}") + (
        "subscriptions: {email: mail, webhooks: true, private_webhooks: true}\n"))
    monkeypatch.setenv("UPWATCH_ADMIN_TOKEN", TOKEN)
    monkeypatch.delenv("UPWATCH_ADMIN_TOKEN_FILE", raising=False)
    clock = FakeClock(NOW)
    monitor = Monitor(RunOptions(config_path=cfg, db_path=tmp_path / "upwatch.db", port=0,
                                 site=SitePlan(tmp_path / "site"), schedule=False), clock=clock)
    await monitor.start()
    here = f"http://127.0.0.1:{monitor.port}"
    auth = {"Authorization": f"Bearer {TOKEN}"}

    def local(link: str) -> str:
        return link.replace("https://status.example.com", here)

    try:
        async with aiohttp.ClientSession() as http:
            # 1. subscribe: the answer says nothing about the address; a mail asks to confirm
            async with http.post(f"{here}/subscribe", json={"email": "Ann@Example.com",
                                                            "services": ["api"]}) as resp:
                assert resp.status == 202, await resp.text()
            (ask,) = await asyncio.to_thread(box.wait_for, 1)
            assert ask["To"] == "Ann@example.com" and "Confirm your subscription" in ask["Subject"]
            assert "List-Unsubscribe" not in ask  # not subscribed yet
            confirm = _link(ask.get_content(), "confirm")
            # opening the link (a mail scanner does) confirms nothing: it shows a button
            async with http.get(local(confirm), headers={"Accept": "application/json"}) as resp:
                assert resp.status == 200
            assert monitor.ledger.subscribers.count() == (0, 1)
            async with http.post(local(confirm), headers={"Accept": "application/json"}) as resp:
                assert (resp.status, (await resp.json())["services"]) == (200, ["api"])
            # a webhook subscriber, confirmed by what is POSTed to it
            async with http.post(f"{here}/subscribe", json={
                    "webhook": f"http://127.0.0.1:{receiver.port}/hook"}) as resp:
                assert resp.status == 202
            await asyncio.wait_for(hook_got.wait(), 10)
            assert hooks[0]["kind"] == "subscription"
            async with http.post(local(str(hooks[0]["confirm_url"])),
                                 headers={"Accept": "application/json"}) as resp:
                assert resp.status == 200
            hook_got.clear()

            # 2. an incident on api, and a person's update: one mail, one webhook call each
            opened = {"title": "Payments fail", "services": ["api"], "impact": "major",
                      "status": "investigating", "body": "Card payments fail."}
            async with http.post(f"{here}/api/v1/incidents", json=opened,
                                 headers=auth) as resp:
                assert resp.status in (200, 201), await resp.text()
                incident = await resp.json()
            clock.advance(300)
            async with http.post(f"{here}/api/v1/incidents/{incident['id']}/updates",
                                 json={"status": "identified", "body": "A failover is on."},
                                 headers=auth) as resp:
                assert resp.status in (200, 201)
            mails = await asyncio.to_thread(box.wait_for, 3)
            update = mails[-1]
            assert "A failover is on." in update.get_content()
            assert update["Subject"].startswith("[Example status] ")
            unsubscribe = _link(update.get_content(), "unsubscribe")
            assert update["List-Unsubscribe"] == f"<{unsubscribe}>"
            assert update["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            while len([h for h in hooks if h["kind"] == "incident"]) < 2:
                await asyncio.wait_for(hook_got.wait(), 10)
                hook_got.clear()
            assert all(h["unsubscribe_url"] for h in hooks)
            assert await monitor.outbox.deliver_due() == Pass()

            # 3. an incident on web only: not for Ann (she follows api)
            async with http.post(f"{here}/api/v1/incidents", json={**opened, "services": ["web"],
                                 "title": "Web slow"}, headers=auth) as resp:
                assert resp.status in (200, 201)
            hook_count = len(hooks)
            while len(hooks) == hook_count:  # the webhook subscriber follows everything
                await asyncio.wait_for(hook_got.wait(), 10)
                hook_got.clear()

            # 4. one click from the mail client, then nothing more
            async with http.post(local(unsubscribe), data="List-Unsubscribe=One-Click",
                                 headers={"Content-Type": "application/x-www-form-urlencoded",
                                          "Accept": "application/json"}) as resp:
                assert resp.status == 200
            async with http.post(f"{here}/api/v1/incidents/{incident['id']}/updates",
                                 json={"status": "resolved", "body": "All good."},
                                 headers=auth) as resp:
                assert resp.status in (200, 201)
            while not any("All good." in str(h.get("text")) for h in hooks):
                await asyncio.wait_for(hook_got.wait(), 10)
                hook_got.clear()
            assert await monitor.outbox.deliver_due() == Pass()
            # the confirmation request, the incident opened and its update: nothing about web,
            # nothing after leaving
            assert len(box.messages) == 3
            assert not any("Web slow" in m["Subject"] or "All good." in m.get_content()
                           for m in box.messages)
            assert monitor.ledger.subscribers.count() == (1, 0)  # the webhook stays
    finally:
        await monitor.stop()


async def test_bad_requests_get_a_json_4xx_and_change_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "probes.yaml"
    cfg.write_text(config())
    monkeypatch.delenv("UPWATCH_ADMIN_TOKEN", raising=False)
    monitor = Monitor(RunOptions(config_path=cfg, db_path=tmp_path / "upwatch.db", port=0,
                                 schedule=False), clock=FakeClock(NOW))
    await monitor.start()
    here = f"http://127.0.0.1:{monitor.port}/subscribe"
    token = "A" * 32
    try:
        async with aiohttp.ClientSession() as http:
            for kwargs, status, word in [
                ({"data": b"{not json", "headers": {"Content-Type": "application/json"}},
                 400, "bad_request"),
                ({"json": ["a@example.com"]}, 400, "bad_request"),
                ({"json": {"email": "a@example.com", "services": ["api", 7]}}, 400,
                 "bad_request"),
                ({"json": {"email": "a@example.com", "services": ["nope"]}}, 400,
                 "bad_request"),
                ({"json": {"webhook": "http://127.0.0.1/x"}}, 400, "bad_request"),
                ({"data": {"email": "x" * 70_000}, "headers": {"Accept": "application/json"}},
                 400, "bad_request"),
            ]:
                async with http.post(here, **kwargs) as resp:  # type: ignore[arg-type]
                    body = await resp.json()
                    assert (resp.status, body["error"]) == (status, word), body
            async with http.post(f"{here}/confirm/{token}",
                                 headers={"Accept": "application/json"}) as resp:
                assert resp.status == 404 and (await resp.json())["error"] == "not_found"
                assert resp.headers["Referrer-Policy"] == "no-referrer"
            async with http.post(f"{here}/unsubscribe/{token}",
                                 headers={"Accept": "application/json"}) as resp:
                assert resp.status == 200  # the same answer for anyone: it is gone
            async with http.get(f"{here}/confirm/not-a-token") as resp:
                assert resp.status == 404
        assert monitor.ledger.subscribers.count() == (0, 0)
    finally:
        await monitor.stop()


async def test_the_page_form_works_without_javascript_in_the_visitors_language(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mailbox: tuple[Mailbox, int]) -> None:
    box, smtp_port = mailbox
    cfg = tmp_path / "probes.yaml"
    cfg.write_text(BASE.replace("port: 25", f"port: {smtp_port}")
                   + "subscriptions: {email: mail}\n")
    monkeypatch.delenv("UPWATCH_ADMIN_TOKEN", raising=False)
    site = tmp_path / "site"
    monitor = Monitor(RunOptions(config_path=cfg, db_path=tmp_path / "upwatch.db", port=0,
                                 site=SitePlan(site), schedule=False), clock=FakeClock(NOW))
    await monitor.start()
    here = f"http://127.0.0.1:{monitor.port}"
    try:
        await monitor.rebuild_page()
        assert 'href="subscribe.html"' in (site / "index.html").read_text()
        assert 'href="subscribe.de.html"' in (site / "index.de.html").read_text()
        page = (site / "subscribe.de.html").read_text()
        assert 'action="https://status.example.com/subscribe"' in page
        assert 'name="service" value="api"' in page and 'name="webhook"' not in page
        async with aiohttp.ClientSession() as http:
            # the form as a browser sends it: the answer is the page, saying "sent", in German
            form = {"email": "bo@example.com", "service": "web", "lang": "de"}
            async with http.post(f"{here}/subscribe", data=form) as resp:
                text = await resp.text()
                assert resp.status == 200 and resp.content_type == "text/html"
                assert 'data-show="sent"' in text and 'lang="de"' in text
                assert '<base href="https://status.example.com/">' in text
            async with http.post(f"{here}/subscribe", data={"email": "bo@", "lang": "de"}) as resp:
                text = await resp.text()
                assert resp.status == 400 and 'data-show="invalid"' in text
                assert "<li>email: not an email address like name@example.com</li>" in text
            (ask,) = await asyncio.to_thread(box.wait_for, 1)
            confirm = _link(ask.get_content(), "confirm")
            assert confirm + "?lang=de" in ask.get_content()
            async with http.get(local_url(confirm, here) + "?lang=de") as resp:
                text = await resp.text()
                assert 'data-show="confirm"' in text and "Abonnement bestätigen" in text
                token = confirm.rsplit("/", 1)[1]
                assert f'action="https://status.example.com/subscribe/confirm/{token}?lang=de"' \
                    in text
                assert resp.headers["Referrer-Policy"] == "no-referrer"
            async with http.post(local_url(confirm, here) + "?lang=de") as resp:
                assert 'data-show="confirmed"' in await resp.text()
            assert monitor.ledger.subscribers.count() == (1, 0)
            unsubscribe = local_url(confirm, here).replace("/confirm/", "/unsubscribe/")
            async with http.get(unsubscribe) as resp:  # the button, in the site's language
                text = await resp.text()
                assert 'data-show="unsubscribe"' in text and 'lang="en"' in text
            assert monitor.ledger.subscribers.count() == (1, 0)
            async with http.post(unsubscribe) as resp:
                assert 'data-show="unsubscribed"' in await resp.text()
            assert monitor.ledger.subscribers.count() == (0, 0)
    finally:
        await monitor.stop()


def local_url(link: str, here: str) -> str:
    return link.replace("https://status.example.com", here)


def test_incident_news_during_maintenance_is_held_back_for_subscribers_too(
        tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    ledger = Ledger(tmp_path / "l.db", clock=clock)
    try:
        subs = ledger.subscribers
        for address in ("a@example.com", "b@example.com"):
            asked = subs.ask("email", address, ["api"] if address[0] == "a" else ["web"], NOW,
                             timedelta(minutes=10))
            subs.confirm(asked.token, NOW)
        links = Links("Example status", "https://status.example.com/subscribe")
        outbox = Outbox(DirectLedger(ledger), [], clock,
                        subscribers=Subscribers(DirectLedger(ledger), links, clock))
        window = Window("7", "maintenance", ("api",), NOW - timedelta(minutes=5),
                        NOW + timedelta(hours=1), "Database upgrade", NOW - timedelta(days=1),
                        "cli:ops")
        event = Event("incident-update:1", "incident", NOW, "api down", services=("api",))
        assert asyncio.run(outbox.publish(event, [window])) == 1  # for a@ only, b@ follows web
        (row,) = outbox_rows(tmp_path / "l.db")
        assert row["channel"].startswith("subscriber:")
        assert row["dropped"] == 'during maintenance "Database upgrade" (7)'
        # maintenance news itself goes out, to whoever follows a service it is about
        start = Event("maintenance:7:start", "maintenance", NOW, "Maintenance started",
                      services=("api", "web"))
        assert asyncio.run(outbox.publish(start, [window])) == 2
    finally:
        ledger.close()
