"""Maintenance start/end notifications: the pure transitions, and the announcer through the
outbox (exactly once per window and phase, restarts included)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ledger_sql import outbox as outbox_rows

from monitor.config import parse_config
from monitor.core.clock import FakeClock
from monitor.core.windows import Window
from monitor.notify import Event, EventKind
from monitor.notify.outbox import DirectLedger, Outbox
from monitor.store.ledger import Ledger
from monitor.windows.events import MaintenanceAnnouncer, maintenance_transitions
from monitor.windows.sources import config_windows, with_declared

T = datetime(2026, 10, 3, 2, 0, tzinfo=UTC)


def at(hh: int, mm: int, ss: int = 0) -> datetime:
    return T.replace(hour=hh, minute=mm, second=ss)


def window(wid: str = "7", *, start: datetime = T, end: datetime = T + timedelta(hours=2),
           declared_at: datetime | None = T - timedelta(days=2),
           cancelled_at: datetime | None = None, kind: str = "maintenance",
           services: tuple[str, ...] = ("api", "web")) -> Window:
    return Window(wid, kind, services, start, end, "Database upgrade",  # type: ignore[arg-type]
                  declared_at, "cli:alice", cancelled_at)


def ids(events: list[Event]) -> list[tuple[str, str]]:
    return [(e.id, e.at.strftime("%H:%M")) for e in events]


@pytest.mark.parametrize(("windows", "since", "until", "expected"), [
    ([window()], at(1, 59), at(2, 0), [("maintenance:7:start", "02:00")]),
    ([window()], at(2, 0), at(2, 1), []),
    ([window()], at(2, 0), at(3, 59, 59), []),
    ([window()], at(3, 59), at(4, 0), [("maintenance:7:end", "04:00")]),
    ([window()], at(1, 0), at(5, 0), [("maintenance:7:start", "02:00"),
                                      ("maintenance:7:end", "04:00")]),
    ([window(declared_at=at(2, 10, 30))], at(2, 0), at(2, 10, 59), []),
    ([window(declared_at=at(2, 10, 30))], at(2, 10, 59), at(2, 11),
     [("maintenance:7:start", "02:11")]),
    ([window(cancelled_at=at(3, 0))], at(2, 59), at(3, 0), [("maintenance:7:end", "03:00")]),
    ([window(cancelled_at=at(3, 0))], at(3, 0), at(5, 0), []),
    ([window(cancelled_at=at(1, 0))], at(0, 0), at(5, 0), []),
    ([window(kind="exclusion", declared_at=at(5, 0))], at(0, 0), at(6, 0), []),
    ([window("b", start=at(4, 0), end=at(5, 0)), window("a")], at(3, 59), at(4, 0),
     [("maintenance:a:end", "04:00"), ("maintenance:b:start", "04:00")]),
    ([window(), window()], at(1, 59), at(2, 0), [("maintenance:7:start", "02:00")]),
    ([window(start=at(2, 0, 30), declared_at=None)], at(2, 0), at(2, 1),
     [("maintenance:7:start", "02:01")]),
], ids=["starts_at_until", "since_is_exclusive", "nothing_in_between", "ends",
        "both_in_a_long_span", "declared_late_not_yet", "declared_late_starts_at_declaration",
        "cancelled_ends_at_cancellation", "cancelled_never_ends_twice",
        "cancelled_before_it_began_never_starts", "exclusions_are_not_announced",
        "handover_end_before_start", "listed_twice_announced_once",
        "starts_on_the_next_whole_minute"])
def test_transitions(windows: list[Window], since: datetime, until: datetime,
                     expected: list[tuple[str, str]]) -> None:
    assert ids(maintenance_transitions(windows, since, until)) == expected


def test_the_events_say_what_happened() -> None:
    start, end = maintenance_transitions([window(cancelled_at=at(3, 0))], at(1, 0), at(5, 0))
    assert (start.kind, start.title, start.services) == (
        "maintenance", "Maintenance started: Database upgrade", ("api", "web"))
    assert start.text == ("Maintenance of api, web started at 2026-10-03 02:00 UTC; planned to "
                          "end at 2026-10-03 03:00 UTC.")
    assert end.text == ("Maintenance of api, web ended at 2026-10-03 03:00 UTC (cancelled; it "
                        "was planned until 2026-10-03 04:00 UTC).")
    assert dict(end.data) == {
        "window_id": "7", "phase": "end", "title": "Database upgrade",
        "start": "2026-10-03T02:00:00Z", "end": "2026-10-03T03:00:00Z",
        "declared_by": "cli:alice", "cancelled": True}
    [plain_end] = maintenance_transitions([window()], at(3, 0), at(5, 0))
    assert plain_end.text == "Maintenance of api, web ended at 2026-10-03 04:00 UTC."


def test_a_recurring_window_in_copenhagen_starts_at_local_time_across_dst() -> None:
    config = parse_config("""\
services:
  - name: api
    url: http://127.0.0.1:9/api
maintenance:
  windows:
    - services: [api]
      title: Weekly patching
      rrule: FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=30
      duration: 1h
      timezone: Europe/Copenhagen
""")
    fn = config_windows(config)
    lo, hi = datetime(2026, 10, 17, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC)
    events = maintenance_transitions(list(fn(None, lo, hi)), lo, hi)  # type: ignore[arg-type]
    assert [(e.data["phase"], e.at.isoformat()) for e in events] == [
        ("start", "2026-10-18T00:30:00+00:00"), ("end", "2026-10-18T01:30:00+00:00"),
        ("start", "2026-10-25T00:30:00+00:00"), ("end", "2026-10-25T01:30:00+00:00"),
        ("start", "2026-11-01T01:30:00+00:00"), ("end", "2026-11-01T02:30:00+00:00")]


# ---- the announcer through the outbox ------------------------------------------------------


class Recorder:
    """A channel that keeps what it is sent."""

    name = "rec"
    events: frozenset[EventKind] = frozenset({"maintenance"})

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.got: list[Event] = []

    async def send(self, event: Event, idempotency_key: str) -> None:
        self.sent.append((event.id, idempotency_key))
        self.got.append(event)


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
      start: 2026-10-03T03:00:00Z
      end: 2026-10-03T03:30:00Z
"""


@dataclass
class Setup:
    clock: FakeClock
    ledger: Ledger
    channel: Recorder
    outbox: Outbox

    def announcer(self) -> MaintenanceAnnouncer:
        """A fresh announcer, as after a restart."""
        return MaintenanceAnnouncer(DirectLedger(self.ledger), self.outbox, self.clock,
                                    with_declared(config_windows(parse_config(CONFIG))))


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    clock = FakeClock(at(1, 0))
    ledger = Ledger(tmp_path / "upwatch.db", clock=clock)
    channel = Recorder()
    yield Setup(clock, ledger, channel, Outbox(DirectLedger(ledger), [channel], clock))
    ledger.close()


async def run_minutes(s: Setup, announcer: MaintenanceAnnouncer, minutes: int) -> int:
    added = 0
    for _ in range(minutes):
        s.clock.advance(60)
        added += await announcer.tick()
        await s.outbox.deliver_due()
    return added


async def test_each_window_is_announced_once_per_phase(setup: Setup) -> None:
    setup.ledger.add_window(kind="maintenance", services=["api"], start=at(2, 0), end=at(3, 0),
                            title="Database upgrade", declared_at=at(0, 0),
                            declared_by="cli:alice")
    announcer = setup.announcer()
    assert await announcer.tick() == 0  # 00:00–01:00: nothing began or ended
    assert await run_minutes(setup, announcer, 180) == 4
    assert setup.channel.sent == [
        ("maintenance:1:start", "maintenance:1:start/rec"),
        ("maintenance:1:end", "maintenance:1:end/rec"),
        ("maintenance:cfg-m0:start", "maintenance:cfg-m0:start/rec"),
        ("maintenance:cfg-m0:end", "maintenance:cfg-m0:end/rec"),
    ]


async def test_after_a_restart_nothing_is_announced_twice_and_nothing_missed(
        setup: Setup, tmp_path: Path) -> None:
    setup.ledger.add_window(kind="maintenance", services=["api"], start=at(2, 0), end=at(3, 0),
                            title="Database upgrade", declared_at=at(0, 0),
                            declared_by="cli:alice")
    first = setup.announcer()
    await first.tick()
    await run_minutes(setup, first, 65)  # until 02:05: the start is out
    assert [e for e, _ in setup.channel.sent] == ["maintenance:1:start"]
    setup.clock.advance(65 * 60)  # stopped from 02:05 to 03:10: two transitions meanwhile
    second = setup.announcer()
    assert await second.tick() == 2  # not the start: that one is in the outbox already
    await setup.outbox.deliver_due()
    assert await run_minutes(setup, second, 30) == 1  # the configured window ends 03:30
    assert [e for e, _ in setup.channel.sent] == [
        "maintenance:1:start", "maintenance:1:end", "maintenance:cfg-m0:start",
        "maintenance:cfg-m0:end"]
    items = outbox_rows(tmp_path / "upwatch.db")
    assert len(items) == 4 and all(i["sent_at_ms"] is not None for i in items)


async def test_a_window_cancelled_midway_ends_at_its_cancellation(
    setup: Setup, tmp_path: Path
) -> None:
    w = setup.ledger.add_window(kind="maintenance", services=["api"], start=at(1, 30),
                                end=at(2, 30), title="Failover test", declared_at=at(0, 0),
                                declared_by="api:admin")
    announcer = setup.announcer()
    await announcer.tick()
    await run_minutes(setup, announcer, 40)  # 01:40
    setup.ledger.cancel_window(w.number, at=setup.clock.now(), by="api:admin")
    await run_minutes(setup, announcer, 60)
    assert [e for e, _ in setup.channel.sent[:2]] == [
        f"maintenance:{w.id}:start", f"maintenance:{w.id}:end"]
    end = next(i["payload"] for i in outbox_rows(tmp_path / "upwatch.db")
               if i["event_id"] == f"maintenance:{w.id}:end")
    assert '"cancelled": true' in end and '"end": "2026-10-03T01:40:00Z"' in end


async def test_a_window_declared_ahead_is_announced_as_scheduled_once(setup: Setup) -> None:
    announcer = setup.announcer()
    await announcer.tick()
    await run_minutes(setup, announcer, 10)  # 01:10
    setup.ledger.add_window(kind="maintenance", services=["api"], start=at(20, 0),
                            end=at(21, 0), title="Storage move", declared_at=setup.clock.now(),
                            declared_by="api:ops")
    setup.ledger.add_window(kind="maintenance", services=["api"], start=at(1, 0),
                            end=at(1, 30), title="Already on", declared_at=setup.clock.now(),
                            declared_by="api:ops")  # began before it was declared: no notice
    assert await run_minutes(setup, announcer, 2) == 2  # the notice, and "Already on" starting
    await run_minutes(setup, setup.announcer(), 2)  # a restart: not again
    scheduled = [e for e, _ in setup.channel.sent if e.endswith(":scheduled")]
    assert scheduled == ["maintenance:1:scheduled"]
    (event,) = [e for e in setup.channel.got if e.id == "maintenance:1:scheduled"]
    assert event.title == "Maintenance scheduled: Storage move"
    assert "planned from 2026-" in event.text and event.services == ("api",)
