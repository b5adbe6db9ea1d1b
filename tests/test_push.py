"""Push (heartbeat) services: judging pings (period, cron schedule across DST, start → success,
failures), storing them, ``/ping/<token>`` on a running monitor, ``upwatch push-url``."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from monitor import cli
from monitor.config import parse_config
from monitor.core.checks import ErrorKind
from monitor.core.clock import FakeClock
from monitor.core.pings import PingKind, PingState, after_ping, due_run, judge
from monitor.run.pages import SitePlan
from monitor.run.runner import Monitor, RunOptions
from monitor.store.errors import LedgerError
from monitor.store.ledger import Ledger

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Spec:
    period: timedelta | None = timedelta(hours=1)
    grace: timedelta = timedelta(minutes=5)
    schedule: str | None = None
    timezone: str = "UTC"


def at(minutes: float) -> datetime:
    return NOW + timedelta(minutes=minutes)


def pinged(*pings: tuple[float, PingKind] | tuple[float, PingKind, int]) -> PingState:
    state = PingState()
    for ping in pings:
        state = after_ping(state, ping[1], at(ping[0]), ping[2] if len(ping) > 2 else None)
    return state


# --- judging -------------------------------------------------------------------------------


def test_before_the_first_ping_there_is_nothing_to_judge() -> None:
    assert judge(Spec(), PingState(), NOW) is None
    assert judge(Spec(), pinged((0, PingKind.START)), at(500)) is None  # started, never ended


def test_a_period_is_down_from_its_deadline_on() -> None:
    state = pinged((0, PingKind.SUCCESS))
    for minute in (0, 30, 65):  # period 1h, grace 5m: up to 13:05 inclusive
        verdict = judge(Spec(), state, at(minute))
        assert verdict is not None and verdict.error is None, minute
    late = judge(Spec(), state, at(65.01))
    assert late is not None and late.error is ErrorKind.MISSED_PING
    assert late.detail == "no ping since 2026-11-02T12:00:00Z (due by 2026-11-02T13:05:00Z)"
    again = judge(Spec(), after_ping(state, PingKind.SUCCESS, at(70)), at(70))
    assert again is not None and again.error is None


def test_a_failure_is_down_at_once_until_the_next_success() -> None:
    failed = pinged((0, PingKind.SUCCESS), (10, PingKind.FAIL, 3))
    verdict = judge(Spec(), failed, at(10))
    assert verdict is not None and verdict.error is ErrorKind.JOB_FAILED
    assert verdict.detail == "failure reported at 2026-11-02T12:10:00Z (exit status 3)"
    plain = judge(Spec(), pinged((0, PingKind.FAIL)), at(0))
    assert plain is not None and plain.detail == "failure reported at 2026-11-02T12:00:00Z"
    recovered = judge(Spec(), after_ping(failed, PingKind.SUCCESS, at(11)), at(11))
    assert recovered is not None and recovered.error is None


def test_a_run_is_timed_from_start_to_success_and_down_when_it_never_ends() -> None:
    done = pinged((0, PingKind.SUCCESS), (60, PingKind.START), (62.5, PingKind.SUCCESS))
    verdict = judge(Spec(), done, at(63))
    assert verdict is not None and verdict.run_ms == 150_000.0
    assert pinged((0, PingKind.SUCCESS), (1, PingKind.SUCCESS)).run_ms is None  # no start
    hung = pinged((0, PingKind.SUCCESS), (30, PingKind.START))
    ok = judge(Spec(), hung, at(30 + 5))
    assert ok is not None and ok.error is None  # a run has grace to end in
    late = judge(Spec(), hung, at(30 + 5.5))
    assert late is not None and late.error is ErrorKind.MISSED_PING
    assert late.detail == "started at 2026-11-02T12:30:00Z, no success ping since"
    sched = Spec(period=None, schedule="0 3 * * *", grace=timedelta(minutes=30))
    night = datetime(2026, 11, 3, 3, 0, tzinfo=UTC)
    state = after_ping(after_ping(PingState(), PingKind.SUCCESS, night - timedelta(days=1)),
                       PingKind.START, night)
    running = judge(sched, state, night + timedelta(minutes=29))
    assert running is not None and running.error is None  # 03:00's run may end until 03:30
    still = judge(sched, state, night + timedelta(minutes=31))
    assert still is not None and still.error is ErrorKind.MISSED_PING
    state = after_ping(state, PingKind.SUCCESS, night + timedelta(minutes=10))
    assert (v := judge(sched, state, night + timedelta(minutes=40))) is not None
    assert v.error is None and v.run_ms == 600_000.0


def test_a_schedule_expects_each_run_within_grace() -> None:
    spec = Spec(period=None, schedule="0 3 * * *", timezone="Europe/Copenhagen",
                grace=timedelta(minutes=30))
    cph_3am = datetime(2026, 11, 3, 2, 0, tzinfo=UTC)  # 03:00 CET
    state = after_ping(PingState(), PingKind.SUCCESS, cph_3am - timedelta(days=1, minutes=-2))
    before = judge(spec, state, cph_3am + timedelta(minutes=29))
    assert before is not None and before.error is None  # within grace of today's run
    missed = judge(spec, state, cph_3am + timedelta(minutes=31))
    assert missed is not None and missed.error is ErrorKind.MISSED_PING
    assert missed.detail.startswith("the run due at 2026-11-03T02:00:00Z did not check in")
    state = after_ping(state, PingKind.SUCCESS, cph_3am + timedelta(minutes=45))
    late_ok = judge(spec, state, cph_3am + timedelta(minutes=46))
    assert late_ok is not None and late_ok.error is None


def test_a_schedule_follows_its_time_zone_across_daylight_saving_changes() -> None:
    # Copenhagen springs forward on 2026-03-29 (02:00 → 03:00) and falls back on 2026-10-25.
    def due(schedule: str, utc: datetime) -> datetime:
        return due_run(schedule, "Europe/Copenhagen", utc)

    assert due("0 3 * * *", datetime(2026, 3, 28, 3, 0, tzinfo=UTC)) == datetime(
        2026, 3, 28, 2, 0, tzinfo=UTC)  # 03:00 CET
    assert due("0 3 * * *", datetime(2026, 3, 29, 2, 0, tzinfo=UTC)) == datetime(
        2026, 3, 29, 1, 0, tzinfo=UTC)  # 03:00 CEST, the same wall clock an hour earlier in UTC
    # 02:30 does not exist on the spring day: cron runs it at 03:00 CEST
    assert due("30 2 * * *", datetime(2026, 3, 29, 5, 0, tzinfo=UTC)) == datetime(
        2026, 3, 29, 1, 0, tzinfo=UTC)
    # the run due exactly at the moment counts as due
    assert due("0 3 * * *", datetime(2026, 10, 26, 2, 0, tzinfo=UTC)) == datetime(
        2026, 10, 26, 2, 0, tzinfo=UTC)
    spec = Spec(period=None, schedule="0 3 * * *", timezone="Europe/Copenhagen",
                grace=timedelta(minutes=10))
    # a job that ran at 03:00 CEST on Saturday and 03:00 CET on Sunday (fall back) is on time
    state = after_ping(PingState(), PingKind.SUCCESS, datetime(2026, 10, 24, 1, 1, tzinfo=UTC))
    sunday = datetime(2026, 10, 25, 2, 0, tzinfo=UTC)
    assert (v := judge(spec, state, sunday + timedelta(minutes=9))) is not None
    assert v.error is None
    assert (v := judge(spec, state, sunday + timedelta(minutes=11))) is not None
    assert v.error is ErrorKind.MISSED_PING


def test_merging_two_replicas_states_keeps_the_latest_of_each() -> None:
    a = pinged((0, PingKind.SUCCESS), (5, PingKind.FAIL, 2))
    b = pinged((0, PingKind.START), (3, PingKind.SUCCESS))
    merged = a.newer(b)
    assert merged.last_success == at(3) and merged.run_ms == 180_000.0
    assert merged.last_fail == at(5) and merged.exit_status == 2
    assert merged.last_ping == at(5) and merged.last_start == at(0)
    assert b.newer(a) == merged


# --- storage -------------------------------------------------------------------------------


def test_tokens_and_states_are_kept_and_saving_never_steps_back(
        ledger_target: str | Path) -> None:
    clock = FakeClock(NOW)
    ledger = Ledger(ledger_target, clock=clock)
    try:
        first = ledger.push_states(["job", "beat"], NOW)
        assert set(first) == {"job", "beat"}
        token = first["job"][0]
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", token)
        assert first["job"][1] == PingState()
        newer = pinged((0, PingKind.START), (2, PingKind.SUCCESS))
        ledger.save_pings([("job", token, newer)], NOW)
        older = pinged((-10, PingKind.SUCCESS))  # another replica that had not seen the above
        ledger.save_pings([("job", token, older)], NOW)
        assert ledger.push_states()["job"] == (token, newer)
        renewed = ledger.renew_ping_token("job", NOW)
        assert renewed != token and ledger.push_states()["job"][0] == renewed
    finally:
        ledger.close()
    again = Ledger(ledger_target, clock=clock)
    try:
        assert again.push_states(["job"], NOW)["job"] == (renewed, newer)
    finally:
        again.close()


# --- upwatch run: /ping/<token> -------------------------------------------------------------

CONFIG = """\
site: {title: pings}
services:
  - name: backup
    kind: push
    period: 1h
    grace: 5m
  - name: nightly
    kind: push
    schedule: "0 3 * * *"
    timezone: Europe/Copenhagen
"""


@pytest.fixture
async def monitor(tmp_path: Path) -> AsyncIterator[tuple[Monitor, FakeClock]]:
    cfg = tmp_path / "probes.yaml"
    cfg.write_text(CONFIG)
    clock = FakeClock(NOW)
    mon = Monitor(RunOptions(config_path=cfg, db_path=tmp_path / "upwatch.db", port=0,
                             site=SitePlan(tmp_path / "site"), schedule=False), clock=clock)
    await mon.start()
    try:
        yield mon, clock
    finally:
        await mon.stop()


async def metric(session: aiohttp.ClientSession, base: str, name: str, service: str
                 ) -> float | None:
    async with session.get(f"{base}/metrics") as resp:
        text = await resp.text()
    found = re.search(rf'^{name}\{{[^}}]*service="{service}"[^}}]*\}} (\S+)$', text, re.M)
    return None if found is None else float(found.group(1))


async def settled(mon: Monitor) -> None:
    """Checks a ping asked for have run."""
    while mon._checking:
        await asyncio.gather(*mon._checking.values())


async def test_pings_drive_a_push_service_up_down_and_up(
        monitor: tuple[Monitor, FakeClock]) -> None:
    mon, clock = monitor
    token = mon.pings.token("backup")
    assert token is not None and mon.pings.token("nightly") not in (None, token)
    base = f"http://127.0.0.1:{mon.port}"
    async with aiohttp.ClientSession() as session:
        assert await mon.scheduler.run_check("backup") is None  # never pinged: nodata
        assert await metric(session, base, "probe_success", "backup") is None
        async with session.get(f"{base}/ping/{token}/start") as resp:
            assert resp.status == 200 and await resp.text() == "OK\n"
        clock.advance(90)
        async with session.post(f"{base}/ping/{token}", data=b"log output") as resp:
            assert resp.status == 200
        await settled(mon)  # the first success is checked at once
        assert await metric(session, base, "probe_success", "backup") == 1.0
        assert await metric(session, base, "probe_duration_seconds", "backup") == 90.0
        assert await metric(session, base, "upwatch_push_last_ping_timestamp_seconds",
                            "backup") == (NOW + timedelta(seconds=90)).timestamp()
        clock.advance(65 * 60 + 1)
        result = await mon.scheduler.run_check("backup")
        assert result is not None and result.error is ErrorKind.MISSED_PING
        assert await metric(session, base, "probe_success", "backup") == 0.0
        async with session.get(f"{base}/ping/{token}/0") as resp:
            assert resp.status == 200
        await settled(mon)
        assert await metric(session, base, "probe_success", "backup") == 1.0
        clock.advance(1)
        async with session.get(f"{base}/ping/{token}/42") as resp:
            assert resp.status == 200
        await settled(mon)  # a failure is down at once, without waiting for the interval
        assert await metric(session, base, "probe_success", "backup") == 0.0
        await mon.writer.flush()
        last = await mon.writer.read(lambda ledger: ledger.last_check("backup"))
        assert last is not None and last.error is ErrorKind.JOB_FAILED
        assert last.detail.endswith("(exit status 42)")
        # the page follows: the failure in words, the other service never pinged
        clock.advance(61)
        await mon.rebuild_page()
        async with session.get(f"{base}/") as resp:
            page = await resp.text()
        async with session.get(f"{base}/status.json") as resp:
            summary = await resp.json()
    backup = page[page.index('id="svc-backup"'):page.index('id="svc-nightly"')]
    assert "The job reported a failure" in backup and "Down" in backup
    assert "No ping yet" in page[page.index('id="svc-nightly"'):]
    figures = {s["id"]: s for s in summary["upwatch"]["services"]}
    assert figures["backup"]["kind"] == "push" and figures["backup"]["state"] == "down"
    assert figures["backup"]["last_ping"] == "2026-11-02T13:06:32Z"
    assert figures["nightly"]["last_ping"] is None


async def test_bad_pings_get_a_json_4xx_and_change_nothing(
        monitor: tuple[Monitor, FakeClock]) -> None:
    mon, _ = monitor
    token = mon.pings.token("backup")
    base = f"http://127.0.0.1:{mon.port}"
    async with aiohttp.ClientSession() as session:
        for path, status in ((f"/ping/{'x' * 22}", 404), (f"/ping/{token}/256", 400),
                             (f"/ping/{token}/99999999999999999999", 400),
                             (f"/ping/{token}/restart", 404), ("/ping/a%20b", 404),
                             (f"/ping/{'a' * 200}", 404)):
            async with session.get(base + path) as resp:
                assert resp.status == status, path
                body = await resp.json()
                assert set(body) == {"error", "message"}
    assert mon.pings.state("backup") is None


async def test_pings_survive_a_restart(tmp_path: Path) -> None:
    cfg = tmp_path / "probes.yaml"
    cfg.write_text(CONFIG)
    clock = FakeClock(NOW)
    opts = RunOptions(config_path=cfg, db_path=tmp_path / "upwatch.db", port=0, schedule=False)
    mon = Monitor(opts, clock=clock)
    await mon.start()
    try:
        token = mon.pings.token("backup")
        async with aiohttp.ClientSession() as session:
            answers = await asyncio.gather(*(
                session.get(f"http://127.0.0.1:{mon.port}/ping/{token}") for _ in range(20)))
            for resp in answers:
                assert resp.status == 200
                resp.release()
    finally:
        await mon.stop()
    clock.advance(60)
    again = Monitor(opts, clock=clock)
    await again.start()
    try:
        assert again.pings.token("backup") == token
        result = await again.scheduler.run_check("backup")
        assert result is not None and result.ok and result.detail == (
            "last ping 2026-11-02T12:00:00Z")
    finally:
        await again.stop()


async def test_pings_a_failed_commit_held_get_503_and_the_next_save_stores_them(
        monitor: tuple[Monitor, FakeClock], monkeypatch: pytest.MonkeyPatch) -> None:
    mon, clock = monitor
    tokens = {name: mon.pings.token(name) for name in ("backup", "nightly")}
    base = f"http://127.0.0.1:{mon.port}"
    save_pings = mon.ledger.save_pings
    failures = [LedgerError("saving pings failed: disk I/O error")]

    def failing_once(states: Sequence[tuple[str, str, PingState]], now: datetime) -> None:
        if failures:
            raise failures.pop()
        save_pings(states, now)

    monkeypatch.setattr(mon.ledger, "save_pings", failing_once)
    async with aiohttp.ClientSession() as session:
        answers = await asyncio.gather(*(
            session.get(f"{base}/ping/{token}/fail") for token in tokens.values()))
        for resp in answers:  # both in the failed commit: neither is answered 200
            assert resp.status == 503
            assert (await resp.json())["error"] == "not_stored"
        clock.advance(30)
        async with session.get(f"{base}/ping/{tokens['backup']}") as resp:
            assert resp.status == 200
    stored = await mon.writer.read(lambda ledger: ledger.push_states())
    # the retry stored the failure of the service not pinged again too, and the later success
    assert stored["nightly"][1].last_fail == NOW
    assert stored["backup"][1].last_fail == NOW
    assert stored["backup"][1].last_success == NOW + timedelta(seconds=30)


async def test_a_ping_whose_client_left_leaves_the_others_answered_and_stored(
        monitor: tuple[Monitor, FakeClock]) -> None:
    mon, clock = monitor
    backup, nightly = mon.pings.token("backup"), mon.pings.token("nightly")
    assert backup is not None and nightly is not None
    gone = asyncio.create_task(mon.pings.ping(backup, PingKind.START))
    waits = asyncio.create_task(mon.pings.ping(nightly, PingKind.START))
    await asyncio.sleep(0)  # both wait for the same save
    assert not gone.done() and not waits.done()
    gone.cancel()
    assert await waits is True
    with pytest.raises(asyncio.CancelledError):
        await gone
    stored = await mon.writer.read(lambda ledger: ledger.push_states())
    assert stored["backup"][1].last_start == NOW  # in memory already: saved all the same
    assert stored["nightly"][1].last_start == NOW


def test_push_url_prints_each_push_services_url_and_renews_tokens(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "probes.yaml"
    cfg.write_text(CONFIG + "  - {name: web, url: 'http://127.0.0.1:9/'}\n")
    db = tmp_path / "upwatch.db"
    args = ["push-url", "--config", str(cfg), "--db", str(db),
            "--base-url", "https://status.example.com/"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    urls = dict(re.findall(r"^(\S+)\s+(https://status\.example\.com/ping/[A-Za-z0-9_-]{22})$",
                           out, re.M))
    assert set(urls) == {"backup", "nightly"}
    assert cli.main(args) == 0
    assert urls["backup"] in capsys.readouterr().out  # the same token every time
    assert cli.main([*args, "--renew", "backup"]) == 0
    out = capsys.readouterr().out
    assert urls["backup"] not in out and out.startswith("backup  https://status.example.com/")
    assert cli.main([*args, "web"]) == 2
    assert 'not a push service: "web" (push services: backup, nightly)' in (
        capsys.readouterr().err)
    con = sqlite3.connect(db)
    try:
        assert con.execute("SELECT count(*) FROM push_services").fetchone() == (2,)
    finally:
        con.close()


def test_push_services_are_judged_by_the_central_alone() -> None:
    config = parse_config("""\
locations: [{name: fra}, {name: cph}]
location: fra
services:
  - {name: web, url: 'https://example.com/'}
  - {name: job, kind: push, period: 1d}
""")
    assert [s.name for s in config.probes_here("fra")] == ["web", "job"]
    assert [s.name for s in config.probes_here("cph")] == ["web"]


def test_upwatch_probe_judges_a_push_service_on_the_pings_stored(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "probes.yaml"
    cfg.write_text(CONFIG)
    db = tmp_path / "upwatch.db"
    args = ["probe", "--config", str(cfg), "--db", str(db), "backup"]
    assert cli.main(args) == 1
    assert capsys.readouterr().out == "backup: NO DATA (no ping yet)  push every 1h (grace 5m)\n"
    ledger = Ledger(db)
    try:
        token = ledger.push_states(["backup"], NOW)["backup"][0]
        now = datetime.now(UTC)
        ledger.save_pings([("backup", token, pinged_at(now - timedelta(minutes=2)))], now)
    finally:
        ledger.close()
    assert cli.main(args) == 0
    assert capsys.readouterr().out.startswith("backup: UP  push every 1h (grace 5m)")


def pinged_at(when: datetime) -> PingState:
    return after_ping(PingState(), PingKind.SUCCESS, when)


def test_a_save_of_many_services_is_stored_whole(ledger_target: str | Path) -> None:
    """More rows than one statement takes, and one service twice (the later row wins)."""
    ledger = Ledger(ledger_target, clock=FakeClock(NOW))
    names = [f"job-{i}" for i in range(1_234)]
    try:
        tokens = {n: t for n, (t, _) in ledger.push_states(names, NOW).items()}
        rows = [(n, tokens[n], pinged((i % 60, PingKind.SUCCESS))) for i, n in enumerate(names)]
        rows.append(("job-0", tokens["job-0"], pinged((90, PingKind.SUCCESS))))
        ledger.save_pings(rows, NOW)
        stored = ledger.push_states()
    finally:
        ledger.close()
    assert len(stored) == 1_234
    assert stored["job-0"][1].last_success == at(90)
    assert stored["job-61"][1].last_success == at(1)
