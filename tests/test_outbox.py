"""The durable outbox: retries with backoff by the fake clock, restarts, exactly-once delivery,
maintenance silence, a loopback webhook receiver that checks every signature."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from ledger_sql import outbox as outbox_rows

from monitor.core.clock import FakeClock
from monitor.core.windows import Window
from monitor.notify import Event
from monitor.notify.outbox import (
    CLAIM_LEASE,
    DirectLedger,
    Outbox,
    Pass,
    backoff,
    maintenance_window_for,
)
from monitor.notify.webhook import WebhookChannel, verify
from monitor.store.ledger import Ledger
from monitor.store.schema import to_ms
from monitor.store.writer import LedgerWriter

T0 = datetime(2026, 10, 1, 10, 0, tzinfo=UTC)
SECRET = b"s3cret-for-tests"
EVENT = Event("state:api:1:down", "state", T0, "api is down", services=("api",))


@dataclass
class Receiver:
    """Answers ``fail_first`` requests with ``fail_status``, then 204; keeps what arrived."""

    fail_first: int = 0
    fail_status: int = 500
    got: list[tuple[str, bytes]] = field(default_factory=list)  # (idempotency key, body)
    bad_signatures: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not verify(SECRET, body, request.headers.get("X-Upwatch-Signature", "")):
            self.bad_signatures += 1
            return web.Response(status=401)
        self.got.append((request.headers["Idempotency-Key"], body))
        self.arrived.set()
        if len(self.got) <= self.fail_first:
            return web.Response(status=self.fail_status, text="not now")
        return web.Response(status=204)

    @property
    def delivered(self) -> list[str]:
        """Keys of the deliveries that were answered with success."""
        return [key for key, _ in self.got[self.fail_first:]]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


MakeReceiver = Callable[..., "asyncio.Future[tuple[Receiver, str]]"]


async def serve(aiohttp_server: Callable[..., object], receiver: Receiver) -> str:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    server = await aiohttp_server(app)  # type: ignore[operator]
    assert isinstance(server, TestServer)
    return str(server.make_url("/hook"))


def outbox(ledger: Ledger, url: str, session: aiohttp.ClientSession, clock: FakeClock,
           **kw: object) -> Outbox:
    channel = WebhookChannel("ops-hook", url, session, clock, secret=SECRET)
    return Outbox(DirectLedger(ledger), [channel], clock, **kw)  # type: ignore[arg-type]


async def test_a_failed_delivery_survives_a_restart_and_arrives_exactly_once(
        ledger_target: str | Path, aiohttp_server: Callable[..., object],
        session: aiohttp.ClientSession) -> None:
    receiver = Receiver(fail_first=1)
    url = await serve(aiohttp_server, receiver)
    clock = FakeClock(T0)
    db = ledger_target

    ledger = Ledger(db, clock=clock)
    box = outbox(ledger, url, session, clock)
    assert await box.publish(EVENT) == 1
    assert await box.deliver_due() == Pass(retried=1)
    ledger.close()  # restart in the middle of the retry

    clock.advance(10)
    ledger = Ledger(db, clock=clock)
    box = outbox(ledger, url, session, clock)
    assert await box.deliver_due() == Pass()  # the retry is due 30 s after the failure
    assert await box.publish(EVENT) == 0  # the same event again: nothing new
    clock.advance(20)
    assert await box.deliver_due() == Pass(sent=1)
    clock.advance(3600)
    assert await box.deliver_due() == Pass()
    ledger.close()

    assert receiver.bad_signatures == 0
    assert receiver.delivered == ["state:api:1:down/ops-hook"]
    assert len(receiver.got) == 2 and receiver.got[0] == receiver.got[1]  # same key and body
    [item] = outbox_rows(db)
    assert (item["attempts"], item["sent_at_ms"], item["last_error"]) == (
        2, to_ms(T0 + timedelta(seconds=30)), "HTTP 500: not now")


@pytest.mark.parametrize(("failures", "expected_s"), [
    (1, 30), (2, 60), (3, 120), (7, 1920), (8, 3600), (100, 3600),
], ids=["first", "second", "third", "seventh", "capped", "far_beyond_cap"])
def test_backoff_doubles_up_to_the_cap(failures: int, expected_s: int) -> None:
    got = backoff(failures, timedelta(seconds=30), timedelta(hours=1))
    assert got == timedelta(seconds=expected_s)


async def test_retries_follow_the_backoff_then_give_up(
        ledger_target: str | Path, aiohttp_server: Callable[..., object],
        session: aiohttp.ClientSession) -> None:
    receiver = Receiver(fail_first=100, fail_status=503)
    url = await serve(aiohttp_server, receiver)
    clock = FakeClock(T0)
    ledger = Ledger(ledger_target, clock=clock)
    box = outbox(ledger, url, session, clock, give_up_after=timedelta(minutes=5))
    await box.publish(EVENT)
    attempts_at = []
    while (due := ledger.next_notification_due()) is not None:
        clock.advance(-1)
        assert await box.deliver_due() == Pass()  # a second early: nothing
        clock.set(due)
        assert await box.deliver_due() != Pass()
        attempts_at.append(int((clock.now() - T0).total_seconds()))
    assert attempts_at == [0, 30, 90, 210, 450]  # +30, +60, +120, +240: then 5 min old
    [item] = outbox_rows(ledger_target)
    assert item["dropped"] == "gave up after 5 attempts" and item["sent_at_ms"] is None
    ledger.close()


async def test_a_permanent_refusal_is_dropped_at_once(
        ledger_target: str | Path, aiohttp_server: Callable[..., object],
        session: aiohttp.ClientSession) -> None:
    receiver = Receiver(fail_first=1, fail_status=410)
    url = await serve(aiohttp_server, receiver)
    clock = FakeClock(T0)
    ledger = Ledger(ledger_target, clock=clock)
    box = outbox(ledger, url, session, clock)
    await box.publish(EVENT)
    assert await box.deliver_due() == Pass(dropped=1)
    [item] = outbox_rows(ledger_target)
    assert item["dropped"] == "permanent failure after 1 attempts"
    assert item["last_error"] == "HTTP 410: not now"
    ledger.close()


async def test_unreachable_receiver_is_retried(ledger_target: str | Path,
                                               session: aiohttp.ClientSession) -> None:
    clock = FakeClock(T0)
    ledger = Ledger(ledger_target, clock=clock)
    box = outbox(ledger, "http://127.0.0.1:9/hook", session, clock)
    await box.publish(EVENT)
    assert await box.deliver_due() == Pass(retried=1)
    assert outbox_rows(ledger_target)[0]["last_error"].startswith("ClientConnectorError")
    ledger.close()


def window(start_min: int, end_min: int, *, declared_min: int | None = None,
           services: tuple[str, ...] = ("api",)) -> Window:
    return Window("7", "maintenance", services, T0 + timedelta(minutes=start_min),
                  T0 + timedelta(minutes=end_min), "db upgrade",
                  None if declared_min is None else T0 + timedelta(minutes=declared_min),
                  "cli:alice")


@pytest.mark.parametrize(("event", "windows", "silenced"), [
    (EVENT, [window(-10, 10)], True),
    (EVENT, [window(1, 10)], False),
    (EVENT, [window(-10, 0)], False),
    (EVENT, [window(-10, 10, declared_min=1)], False),
    (EVENT, [window(-10, 10, services=("web",))], False),
    (Event("x", "state", T0, "t", services=("api", "web")), [window(-10, 10)], False),
    (Event("x", "state", T0, "t", services=("api", "web")),
     [window(-10, 10), window(-5, 5, services=("web",))], True),
    (Event("x", "maintenance", T0, "t", services=("api",)), [window(-10, 10)], False),
], ids=["inside", "before_it_starts", "at_its_end", "declared_after_the_event",
        "other_service", "one_of_two_services", "both_services_covered",
        "maintenance_events_are_never_silenced"])
def test_maintenance_silences_events_of_its_services(
        event: Event, windows: list[Window], silenced: bool) -> None:
    assert (maintenance_window_for(event, windows) is not None) == silenced


async def test_silenced_events_are_kept_on_record_and_never_sent(
        ledger_target: str | Path, aiohttp_server: Callable[..., object],
        session: aiohttp.ClientSession) -> None:
    receiver = Receiver()
    url = await serve(aiohttp_server, receiver)
    clock = FakeClock(T0)
    ledger = Ledger(ledger_target, clock=clock)
    box = outbox(ledger, url, session, clock)
    assert await box.publish(EVENT, [window(-10, 10)]) == 1
    assert await box.deliver_due() == Pass()
    assert receiver.got == []
    assert outbox_rows(ledger_target)[0]["dropped"] == 'during maintenance "db upgrade" (7)'
    ledger.close()


async def test_events_go_only_to_channels_that_take_their_kind(
        ledger_target: str | Path, session: aiohttp.ClientSession) -> None:
    clock = FakeClock(T0)
    ledger = Ledger(ledger_target, clock=clock)
    only_incidents = WebhookChannel("inc", "http://127.0.0.1:9/", session, clock,
                                    events=frozenset({"incident"}))
    everything = WebhookChannel("all", "http://127.0.0.1:9/", session, clock)
    box = Outbox(DirectLedger(ledger), [only_incidents, everything], clock)
    assert [r.channel for r in box.rows_for(EVENT)] == ["all"]
    ledger.close()


async def test_a_row_for_a_channel_no_longer_configured_is_dropped(
        ledger_target: str | Path, session: aiohttp.ClientSession) -> None:
    clock = FakeClock(T0)
    ledger = Ledger(ledger_target, clock=clock)
    old = WebhookChannel("old", "http://127.0.0.1:9/", session, clock)
    await Outbox(DirectLedger(ledger), [old], clock).publish(EVENT)
    box = Outbox(DirectLedger(ledger), [], clock)
    assert await box.deliver_due() == Pass(dropped=1)
    assert outbox_rows(ledger_target)[0]["last_error"] == (
        'no channel named "old" is configured any more')
    ledger.close()


async def test_the_loop_delivers_through_the_ledger_writer(
        ledger_target: str | Path, aiohttp_server: Callable[..., object],
        session: aiohttp.ClientSession) -> None:
    receiver = Receiver()
    url = await serve(aiohttp_server, receiver)
    clock = FakeClock(T0)
    writer = LedgerWriter(Ledger(ledger_target, clock=clock), clock)
    channel = WebhookChannel("ops-hook", url, session, clock, secret=SECRET)
    box = Outbox(writer, [channel], clock)
    task = asyncio.create_task(box.run())
    await box.publish(EVENT)
    await asyncio.wait_for(receiver.arrived.wait(), 5)
    box.close()
    await asyncio.wait_for(task, 5)
    assert receiver.delivered == ["state:api:1:down/ops-hook"]
    assert outbox_rows(ledger_target)[0]["sent_at_ms"] == to_ms(T0)
    await writer.close()


class SlowChannel:
    """Holds every send until released, counting them."""

    name = "slow"
    events = frozenset({"state", "incident", "maintenance", "test"})

    def __init__(self) -> None:
        self.sends = 0
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def send(self, event: Event, idempotency_key: str) -> None:
        self.sends += 1
        self.started.set()
        await self.release.wait()


async def test_overlapping_passes_never_send_twice(ledger_target: str | Path) -> None:
    ledger = Ledger(ledger_target)
    clock = FakeClock(T0)
    channel = SlowChannel()
    box = Outbox(DirectLedger(ledger), [channel], clock)  # type: ignore[list-item]
    ledger.enqueue_notifications(box.rows_for(EVENT), T0)
    first = asyncio.create_task(box.deliver_due())
    await channel.started.wait()  # the first pass is sending, not yet marked sent
    second = asyncio.create_task(box.deliver_due())
    await asyncio.sleep(0)
    channel.release.set()
    assert await first == Pass(sent=1)
    assert await second == Pass()  # waited for the first, then found nothing due
    assert channel.sends == 1
    ledger.close()


async def test_a_claimed_delivery_is_left_to_its_sender_and_taken_over_after_the_lease(
        ledger_target: str | Path, aiohttp_server: Callable[..., object],
        session: aiohttp.ClientSession) -> None:
    """Two senders on one ledger (a leader and the replica that takes over): the first claims
    the item and dies in the middle of sending it; the second skips it until the lease ends,
    then sends it, once."""
    held = asyncio.Event()
    release = asyncio.Event()
    done: list[str] = []

    async def hook(request: web.Request) -> web.Response:
        if not held.is_set():  # the first sender's attempt hangs until it is gone
            held.set()
            await release.wait()
            return web.Response(status=503)
        done.append(request.headers["Idempotency-Key"])
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = await aiohttp_server(app)  # type: ignore[operator]
    assert isinstance(server, TestServer)
    url = str(server.make_url("/hook"))
    clock = FakeClock(T0)
    first, second = Ledger(ledger_target, clock=clock), Ledger(ledger_target, clock=clock)
    try:
        dying = outbox(first, url, session, clock)
        taking_over = outbox(second, url, session, clock)
        assert await dying.publish(EVENT) == 1
        attempt = asyncio.create_task(dying.deliver_due())
        await held.wait()
        assert await taking_over.deliver_due() == Pass()  # claimed: skipped
        attempt.cancel()  # the first sender dies mid-send
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await attempt
        clock.advance(CLAIM_LEASE.total_seconds() - 1)
        assert await taking_over.deliver_due() == Pass()
        clock.advance(1)
        assert await taking_over.deliver_due() == Pass(sent=1)  # none lost ...
        assert await taking_over.deliver_due() == Pass()  # ... none twice
        assert done == ["state:api:1:down/ops-hook"]
    finally:
        first.close()
        second.close()
