"""Issue 7's whole chain on one running monitor, with real receivers on loopback.

An outage on a local target opens an incident; it shows on the page, in the feed and in
status.json; a person's update reaches the webhook (HMAC-signed) and the mailbox exactly once;
the incident report says whether the first response met its target. ``Monitor`` runs
in-process on a FakeClock and checks are run a minute apart by hand (no wall-clock scheduling);
the outbox delivers on its own (its loop is woken by each stored event), and the test waits for
the receivers. A restarted monitor on the same ledger sends nothing again.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from monitor.cli.entry import main
from monitor.core.clock import FakeClock
from monitor.notify.outbox import Pass
from monitor.notify.webhook import verify
from monitor.run.pages import SitePlan
from monitor.run.runner import Monitor, RunOptions

NOW = datetime(2026, 11, 10, 9, 30, 5, tzinfo=UTC)  # a Tuesday, 10:30 in Copenhagen
TOKEN = "chain-test-admin-token"
SECRET = "hook-secret"


class Mailbox:
    """The SMTP server's handler (aiosmtpd runs it in a thread of its own)."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.got_update = threading.Event()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, email.message.EmailMessage)
        self.messages.append(msg)
        if "failover" in msg.get_content():
            self.got_update.set()
        return "250 Message accepted"


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


async def test_outage_to_page_to_people_to_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mailbox: tuple[Mailbox, int],
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    box, smtp_port = mailbox
    up = True
    hooks: list[tuple[dict[str, object], bool, str]] = []
    hook_got_update = asyncio.Event()

    async def target(_: web.Request) -> web.Response:
        return web.Response(text="ok") if up else web.Response(status=502, text="bad gateway")

    async def hook(request: web.Request) -> web.Response:
        raw = await request.read()
        signed = verify(SECRET.encode(), raw, request.headers["X-Upwatch-Signature"])
        hooks.append((json.loads(raw), signed, request.headers["Idempotency-Key"]))
        if "failover" in str(hooks[-1][0].get("text", "")):
            hook_got_update.set()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_get("/", target)
    app.router.add_post("/hook", hook)
    server = await aiohttp_server(app)
    cfg = tmp_path / "probes.yaml"
    cfg.write_text(f"""\
site: {{title: Chain test, url: "https://status.example.com/"}}
services:
  - {{name: api, title: Public API, url: 'http://127.0.0.1:{server.port}/', interval: 60s,
     retries: 0}}
incident:
  business_hours:
    timezone: Europe/Copenhagen
    coverage: {{days: mon-fri, hours: "09:00-17:00", holidays: [DK]}}
notifications:
  - {{name: hook, kind: webhook, url: 'http://127.0.0.1:{server.port}/hook',
     secret_env: CHAIN_HOOK_SECRET}}
  - {{name: mail, kind: email, host: 127.0.0.1, port: {smtp_port}, starttls: false,
     from: status@example.com, to: [ops@example.com], events: [incident]}}
""")
    monkeypatch.setenv("CHAIN_HOOK_SECRET", SECRET)
    monkeypatch.setenv("UPWATCH_ADMIN_TOKEN", TOKEN)
    monkeypatch.delenv("UPWATCH_ADMIN_TOKEN_FILE", raising=False)
    db, site = tmp_path / "upwatch.db", tmp_path / "site"
    clock = FakeClock(NOW)
    monitor = Monitor(RunOptions(config_path=cfg, db_path=db, port=0,
                                 site=SitePlan(site), schedule=False),
                      clock=clock)
    await monitor.start()
    api = f"http://127.0.0.1:{monitor.port}/api/v1"
    auth = {"Authorization": f"Bearer {TOKEN}"}

    async def minute() -> None:
        await monitor.scheduler.run_check("api")
        clock.advance(60)
        await monitor.incidents.tick()

    try:
        await minute()
        up = False
        for _ in range(3):
            await minute()
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{api}/incidents", headers=auth) as resp:
                (incident,) = (await resp.json())["incidents"]
            # the page, the feed and status.json show it
            await monitor.rebuild_page()
            index = (site / "index.html").read_text()
            assert "Public API down" in index or "api down" in index
            summary = json.loads((site / "status.json").read_text())
            (shown,) = summary["incidents"]
            assert shown["id"] == str(incident["id"]) and shown["status"] == "investigating"
            assert str(incident["id"]) in (site / "feed.atom").read_text()

            # a person explains
            clock.advance(300)
            body = {"status": "identified", "body": "Database failover **in progress**."}
            async with session.post(f"{api}/incidents/{incident['id']}/updates", json=body,
                                    headers=auth) as resp:
                assert resp.status in (200, 201), await resp.text()

        # the outbox delivers on its own, woken by the stored update
        await asyncio.wait_for(hook_got_update.wait(), 10)
        assert await asyncio.to_thread(box.got_update.wait, 10), "no mail with the update"
        # another delivery pass finds nothing due: every item was recorded as sent
        assert await monitor.outbox.deliver_due() == Pass()
    finally:
        await monitor.stop()

    # a restart (a new monitor on the same ledger, its outbox loop running from scratch):
    # nothing goes out twice
    delivered = (len(hooks), len(box.messages))
    restarted = Monitor(RunOptions(config_path=cfg, db_path=db, port=0, schedule=False),
                        clock=clock)
    await restarted.start()
    try:
        assert await restarted.outbox.deliver_due() == Pass()
    finally:
        await restarted.stop()
    assert (len(hooks), len(box.messages)) == delivered

    keys = [k for _, _, k in hooks]
    assert len(keys) == len(set(keys))  # every event once
    assert all(signed for _, signed, _ in hooks)
    assert [h[0]["title"] for h in hooks if "failover" in str(h[0].get("text", ""))] == [
        "[severity 1] api down: identified"]
    assert [m["Subject"] for m in box.messages if "failover" in m.get_content()] == [
        "[severity 1] api down: identified"]
    assert len({m["Message-ID"] for m in box.messages}) == len(box.messages)

    # the response-time report: detected from the first bad minute (09:31), answered at
    # 09:39:05, all inside Copenhagen business hours: 8 minutes against severity 1's hour
    monkeypatch.setenv("UPWATCH_CONFIG", str(cfg))
    monkeypatch.setenv("UPWATCH_DB", str(db))
    capsys.readouterr()
    assert main(["report", "--incidents", "--month", "2026-11", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (row,) = report["incidents"]
    assert row["incident"] == incident["id"] and row["verdict"] == "MET", row
    assert row["business_minutes"] == 8 and row["severity"] == "severity 1"
