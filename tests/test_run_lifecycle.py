"""``upwatch run`` starts once per ledger, and a start that fails leaves nothing open."""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.core.clock import FakeClock
from monitor.notify import ChannelSetupError
from monitor.run.runner import Monitor, RunOptions, serve
from monitor.store.runlock import RunLock
from monitor.store.schema import LedgerError
from monitor.web.admin import AdminTokenError

NOW = datetime(2026, 10, 1, 10, 0, tzinfo=UTC)
CONFIG = "services:\n  - {name: api, url: 'http://127.0.0.1:9/'}\n"


@pytest.fixture
def opts(tmp_path: Path) -> RunOptions:
    cfg = tmp_path / "probes.yaml"
    cfg.write_text(CONFIG)
    return RunOptions(config_path=cfg, db_path=tmp_path / "upwatch.db", port=0, schedule=False)


async def test_a_second_run_on_the_same_ledger_is_refused_naming_the_pid(
    opts: RunOptions,
) -> None:
    first = Monitor(opts, FakeClock(NOW))
    await first.start()
    try:
        with pytest.raises(LedgerError) as err:
            Monitor(opts, FakeClock(NOW))
        assert str(err.value) == (
            f"upwatch.db is in use by another upwatch run (pid {os.getpid()}); stop that one "
            "first, or give this one another --db")
    finally:
        await first.stop()
    second = Monitor(opts, FakeClock(NOW))  # free again once the first has stopped
    await second.stop()


def test_a_killed_holder_leaves_no_lock_behind(tmp_path: Path) -> None:
    db = tmp_path / "upwatch.db"
    code = ("import os, sys; sys.path.insert(0, sys.argv[2]);"
            "from pathlib import Path; from monitor.store.runlock import RunLock;"
            "RunLock(Path(sys.argv[1])).acquire(); os.kill(os.getpid(), 9)")
    root = str(Path(__file__).resolve().parent.parent)
    done = subprocess.run([sys.executable, "-c", code, str(db), root], timeout=60)
    assert done.returncode == -9
    assert (tmp_path / "upwatch.db.run.lock").exists()  # the file stays; its lock does not
    with RunLock(db):
        pass


async def test_a_bad_admin_token_opens_nothing(
    opts: RunOptions, monkeypatch: pytest.MonkeyPatch, recwarn: pytest.WarningsRecorder
) -> None:
    monkeypatch.setenv("UPWATCH_ADMIN_TOKEN", "short")
    with pytest.raises(AdminTokenError):
        Monitor(opts, FakeClock(NOW))
    gc.collect()
    assert [str(w.message) for w in recwarn] == []
    assert not opts.db_path.exists()  # refused before the ledger was opened
    with RunLock(opts.db_path):  # and the lock is free
        pass


async def test_a_channel_without_its_secret_closes_what_it_opened(
    opts: RunOptions, monkeypatch: pytest.MonkeyPatch, recwarn: pytest.WarningsRecorder
) -> None:
    monkeypatch.delenv("HOOK_SECRET", raising=False)
    opts.config_path.write_text(CONFIG + (
        "notifications:\n"
        "  - {name: hook, kind: webhook, url: 'http://127.0.0.1:9/h', secret_env: HOOK_SECRET}\n"))
    with pytest.raises(ChannelSetupError):
        Monitor(opts, FakeClock(NOW))
    gc.collect()
    assert [str(w.message) for w in recwarn] == []  # no "Unclosed client session"
    with RunLock(opts.db_path):
        pass


async def test_a_port_in_use_fails_the_start_and_closes_everything(
    opts: RunOptions, recwarn: pytest.WarningsRecorder
) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        busy = RunOptions(config_path=opts.config_path, db_path=opts.db_path,
                          port=taken.getsockname()[1], schedule=False)
        with pytest.raises(OSError):
            await serve(busy, clock=FakeClock(NOW))
    finally:
        taken.close()
    gc.collect()
    assert [str(w.message) for w in recwarn] == []
    with RunLock(opts.db_path):
        pass
