"""The garbage collector is tuned while a command works (import, build-page) and put back as
it was when it returns, so that a caller in the same process is left alone; a status page build
runs with it paused, and the serving builder collects after each page is out."""

from __future__ import annotations

import gc
import io
import sys
from pathlib import Path
from typing import Any

import pytest

from monitor.cli.entry import main
from monitor.run import collector
from monitor.run.collector import GC_THRESHOLD0, paused_collector, tuned_collector
from statuspage import builder
from statuspage.builder import SiteBuilder
from statuspage.data import PageData
from statuspage.publish import BuildReport

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


def test_the_collector_is_paused_inside_the_block_and_as_it_was_after() -> None:
    assert gc.isenabled()
    with paused_collector():
        assert not gc.isenabled()
        with paused_collector():  # nested: still paused when the inner block ends
            pass
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), paused_collector():
        raise RuntimeError("a failed build")
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_collector():
            pass
        assert not gc.isenabled()  # left as it was: off
    finally:
        gc.enable()


def test_a_build_runs_paused_and_the_serving_builder_collects_after_each_page(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "probes.yaml").write_text(CONFIG)
    monkeypatch.setenv("UPWATCH_CONFIG", str(tmp_path / "probes.yaml"))
    monkeypatch.setenv("UPWATCH_DB", str(tmp_path / "upwatch.db"))
    monkeypatch.setattr(builder, "SETTLE_FULL", 2)
    events: list[str] = []
    gather, build_data = SiteBuilder.gather, SiteBuilder.build_data

    def watched_gather(self: SiteBuilder, *args: Any) -> PageData:
        events.append(f"gather, collector {'on' if gc.isenabled() else 'off'}")
        return gather(self, *args)

    def watched_build(self: SiteBuilder, *args: Any) -> BuildReport:
        events.append(f"render, collector {'on' if gc.isenabled() else 'off'}")
        return build_data(self, *args)

    def collect(generation: int = 2) -> int:
        events.append(f"collect {generation}")
        return 0

    monkeypatch.setattr(SiteBuilder, "gather", watched_gather)
    monkeypatch.setattr(SiteBuilder, "build_data", watched_build)
    monkeypatch.setattr(builder.gc, "collect", collect)
    monkeypatch.setattr(sys, "stdin", io.StringIO(
        "2026-10-01T12:00:00+00:00\n2026-10-01T12:01:00+00:00\n"))
    assert main(["build-page", "--serve", "--out", str(tmp_path / "site")]) == 0
    # tuning collects once first; the second build's settling collects every generation
    # (SETTLE_FULL builds)
    assert events == ["collect 2", "gather, collector off", "render, collector off", "collect 1",
                      "gather, collector off", "render, collector off", "collect 2"]
    assert gc.isenabled()
