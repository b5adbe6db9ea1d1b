"""Two ``upwatch run`` replicas on one PostgreSQL ledger, in-process on one fake clock: who
leads, what each does, and a prober's pushes to the standby reaching the leader's detector."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from monitor.core.clock import FakeClock
from monitor.run.runner import Monitor, RunOptions

NOW = datetime(2026, 11, 10, 10, 0, 5, tzinfo=UTC)
TOKEN = "cph-token-0123456789abcdef"
CONFIG = """\
location: fra
locations: [{name: fra, title: Frankfurt}, {name: cph, title: Copenhagen}]
services:
  - {name: far, url: 'http://127.0.0.1:9/far', interval: 60s, locations: [cph]}
incident: {open_after: 1, resolve_after: 0}
"""


async def test_pushes_to_the_standby_reach_the_leaders_detector(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UPWATCH_TOKEN_CPH", TOKEN)
    (tmp_path / "probes.yaml").write_text(CONFIG)
    clock = FakeClock(NOW)
    replicas = [Monitor(RunOptions(config_path=tmp_path / "probes.yaml", db_path=pg_url,
                                   port=0, schedule=False), clock=clock) for _ in range(2)]
    for replica in replicas:
        await replica.start()
    try:
        leader, standby = replicas
        assert (leader.leading(), standby.leading()) == (True, False)
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{standby.port}/healthz") as resp:
                health = await resp.json()
            assert (health["status"], health["role"]) == ("ok", "standby")
            assert health["leader"].startswith(leader.lead.health()["leader"])
            for minute in range(3):  # cph pushes "far is down" to the standby only
                at = NOW + timedelta(minutes=minute)
                clock.set(at + timedelta(seconds=2))
                line = json.dumps({"service": "far", "ok": False, "error": "connect",
                                   "time": at.strftime("%Y-%m-%dT%H:%M:%SZ")})
                async with session.post(
                        f"http://127.0.0.1:{standby.port}/api/v1/results",
                        data=line.encode() + b"\n",
                        headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
                    assert resp.status == 200, await resp.text()
                await leader.central.replay_recorded(leader.writer)
                await leader.incidents.drain()
        # the standby detected nothing; the leader, from the ledger, opened the incident
        found = await leader.writer.read(lambda led: led.incidents())
        assert [(i.title, i.created_by) for i in found] == [("far down", "detector")]
    finally:
        for replica in replicas:
            await replica.stop()
