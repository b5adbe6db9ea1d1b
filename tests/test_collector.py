"""The garbage collector is tuned while a command works (import, build-page) and put back as
it was when it returns, so that a caller in the same process is left alone."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from monitor.cli.entry import main
from monitor.run import collector
from monitor.run.collector import GC_THRESHOLD0, tuned_collector

CONFIG = "services:\n  - {name: api, url: 'http://127.0.0.1:9/'}\n"


def test_the_collector_is_tuned_inside_the_block_and_put_back_after() -> None:
    before = gc.get_threshold()
    with tuned_collector():
        assert gc.get_threshold() == (GC_THRESHOLD0, *before[1:])
        assert gc.get_freeze_count() > 0  # what was alive is out of the scans
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_it_is_put_back_when_the_block_fails() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), tuned_collector():
        raise RuntimeError("a failed build")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


@pytest.mark.parametrize("command", [
    ["import", "{dir}/checks.jsonl"],
    ["build-page", "--out", "{dir}/site", "--at", "2026-10-01T12:00:00Z"],
])
def test_commands_work_with_it_tuned_and_leave_it_as_it_was(
        command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "probes.yaml").write_text(CONFIG)
    (tmp_path / "checks.jsonl").write_text(
        '{"service": "api", "time": "2026-10-01T00:00:00Z", "ok": true}\n')
    monkeypatch.setenv("UPWATCH_CONFIG", str(tmp_path / "probes.yaml"))
    monkeypatch.setenv("UPWATCH_DB", str(tmp_path / "upwatch.db"))
    seen: list[tuple[int, int, int]] = []
    tune = collector.tune_collector

    def watched() -> tuple[int, int, int]:
        before = tune()
        seen.append(gc.get_threshold())
        return before

    monkeypatch.setattr(collector, "tune_collector", watched)
    before = gc.get_threshold()
    assert main([part.format(dir=tmp_path) for part in command]) == 0
    assert seen == [(GC_THRESHOLD0, *before[1:])]
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
