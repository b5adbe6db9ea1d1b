"""A build from nothing renders some languages' pages in forked children
(:mod:`statuspage.forked`): the same site byte for byte as in one process; a child's failure or
death raised with the languages it rendered, nothing published, no child left behind."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_statuspage_sample import sample_page

import statuspage.render as render
from monitor.cli.entry import main
from statuspage import build_site
from statuspage.forked import shares
from statuspage.fragments import Fragments
from statuspage.render import render_files

LANGS = ("en", "de", "da", "it", "es")


@pytest.mark.parametrize(("languages", "jobs", "mine", "theirs"), [
    (LANGS, 1, list(LANGS), []),
    (LANGS, 2, ["de", "it"], [["en", "da", "es"]]),  # the build also renders the service files
    (LANGS, 3, ["da"], [["en", "it"], ["de", "es"]]),
    (LANGS, 6, [], [["en"], ["de"], ["da"], ["it"], ["es"]]),
    (LANGS, 64, [], [["en"], ["de"], ["da"], ["it"], ["es"]]),  # no more than one per language
    (("en",), 2, [], [["en"]]),
    (("en",), 0, ["en"], []),
], ids=["one", "two", "three", "six", "many", "one-language", "zero"])
def test_the_languages_are_shared_out_evenly(
    languages: tuple[str, ...], jobs: int, mine: list[str], theirs: list[list[str]]
) -> None:
    assert shares(languages, jobs) == (mine, theirs)


@pytest.fixture
def forks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The children forked during the test (checked reaped at its end); forking allowed even
    if an earlier test left a thread running."""
    forked: list[int] = []
    real_fork = os.fork

    def fork() -> int:
        pid = real_fork()
        if pid:
            forked.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", fork)
    monkeypatch.setattr(render, "may_fork", lambda: True)
    yield forked
    for pid in forked:
        with pytest.raises(ChildProcessError):  # reaped: none left behind
            os.waitpid(pid, os.WNOHANG)


def test_pages_rendered_in_three_processes_are_those_of_one(forks: list[int]) -> None:
    alone = render_files(sample_page())
    fragments = Fragments()
    assert render_files(sample_page(), fragments=fragments, jobs=3) == alone
    assert len(forks) == 2 and fragments.processes == 3
    assert render_files(sample_page(), fragments=fragments, jobs=3) == alone  # kept: in line
    assert len(forks) == 2 and fragments.processes == 1


@pytest.mark.parametrize("allowed", [0, 1], ids=["no-child", "one-child-of-two"])
def test_a_child_the_system_refuses_is_rendered_by_the_build_itself(
    forks: list[int], monkeypatch: pytest.MonkeyPatch, allowed: int
) -> None:
    alone = render_files(sample_page())
    counting = os.fork  # the fixture's, which records the children

    def fork() -> int:
        if len(forks) >= allowed:
            raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")
        return counting()

    monkeypatch.setattr(os, "fork", fork)
    fragments = Fragments()
    assert render_files(sample_page(), fragments=fragments, jobs=3) == alone
    assert len(forks) == allowed and fragments.processes == 1 + allowed


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_a_site_built_in_two_processes_is_the_site_built_in_one(
    tmp_path: Path, forks: list[int]
) -> None:
    report = build_site(sample_page(), tmp_path / "two", jobs=2)
    assert report.processes == 2 and len(forks) == 1
    assert build_site(sample_page(), tmp_path / "one").processes == 1
    assert _tree(tmp_path / "two") == _tree(tmp_path / "one")
    assert len(report.files) == len(_tree(tmp_path / "two"))


def _failing(monkeypatch: pytest.MonkeyPatch, lang: str,
             fail: Callable[[], None]) -> None:
    real = render._language_files

    def language_files(data, this, *args):  # type: ignore[no-untyped-def]
        if this == lang:
            fail()
        real(data, this, *args)

    monkeypatch.setattr(render, "_language_files", language_files)


def test_a_child_that_fails_is_raised_with_its_languages_and_nothing_is_published(
    tmp_path: Path, forks: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    def bug() -> None:
        raise ValueError("a bug in the Danish pages")

    _failing(monkeypatch, "da", bug)
    with pytest.raises(RuntimeError) as raised:
        build_site(sample_page(), tmp_path / "site", jobs=2)
    told = str(raised.value)
    assert told.startswith("the child process rendering the pages in en, da, es failed:\n")
    assert "ValueError: a bug in the Danish pages" in told and "Traceback" in told
    assert not (tmp_path / "site").exists()
    assert [p.name for p in tmp_path.iterdir()] == [".site.lock"]  # no version left


def test_a_child_killed_is_named_with_its_signal(
    tmp_path: Path, forks: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    _failing(monkeypatch, "it", lambda: os.kill(os.getpid(), signal.SIGKILL))
    with pytest.raises(RuntimeError, match=(
            r"^the child process rendering the pages in en, it was killed by signal 9 "
            r"\(SIGKILL\); build again, or with --jobs 1$")):
        build_site(sample_page(), tmp_path / "site", jobs=3)
    assert not (tmp_path / "site").exists()


def test_when_the_build_fails_its_children_are_killed_and_reaped(
    tmp_path: Path, forks: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    never, held = os.pipe()  # a child rendering Spanish waits on it for ever

    def stuck() -> None:
        os.read(never, 1)

    def broken(*_: object) -> None:
        raise OSError(28, "No space left on device")

    _failing(monkeypatch, "es", stuck)
    monkeypatch.setattr(render, "_service_files", broken)
    try:
        with pytest.raises(Exception, match="No space left on device"):
            build_site(sample_page(), tmp_path / "site", jobs=2)
    finally:
        os.close(never)
        os.close(held)
    assert len(forks) == 1  # and reaped (the fixture checks)


def test_a_process_running_another_thread_renders_everything_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from statuspage import forked
    monkeypatch.setattr(render, "may_fork", forked.may_fork)
    done = threading.Event()
    other = threading.Thread(target=done.wait)
    other.start()
    try:
        fragments = Fragments()
        render_files(sample_page(), ("en", "de"), fragments=fragments, jobs=2)
        assert fragments.processes == 1
    finally:
        done.set()
        other.join()


def test_jobs_must_be_a_whole_number_of_one_or_more(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for bad in ("0", "-2", "two"):
        with pytest.raises(SystemExit) as ended:
            main(["build-page", "--out", str(tmp_path / "site"), "--jobs", bad])
        assert ended.value.code == 2
        assert capsys.readouterr().err.splitlines()[-1] == (
            f"upwatch build-page: error: argument --jobs: must be a whole number of 1 or more, "
            f"got '{bad}'")


CONFIG = """\
site: {title: Forked, timezone: Europe/Copenhagen}
services:
  - {name: api, url: "http://127.0.0.1:9/api", interval: 60s, sla: {target: 99.9}}
  - {name: web, url: "http://127.0.0.1:9/web", interval: 60s, sla: {target: 99.5}}
"""


def test_upwatch_build_page_renders_in_the_processes_asked_for(tmp_path: Path) -> None:
    (tmp_path / "probes.yaml").write_text(CONFIG)
    lines = [{"service": name, "time": f"2026-10-{day:02d}T{hour:02d}:{minute:02d}:00Z",
              **({"ok": False, "error": "connect"} if name == "web" and day == 12 and hour == 3
                 else {"ok": True, "latency_ms": 80 + hour, "status": 200})}
             for name in ("api", "web") for day in range(1, 21) for hour in range(24)
             for minute in range(0, 60, 30)]
    (tmp_path / "checks.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    env = {**os.environ, "UPWATCH_CONFIG": "probes.yaml", "UPWATCH_DB": "ledger.db"}

    def upwatch(*argv: str) -> str:
        done = subprocess.run([sys.executable, "-m", "monitor.cli", *argv], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    upwatch("import", "checks.jsonl")
    at = "2026-10-20T12:00:00Z"
    assert "(3 processes, writing" in upwatch("build-page", "--out", "three", "--at", at,
                                              "--jobs", "3")
    assert "processes" not in upwatch("build-page", "--out", "one", "--at", at, "--jobs", "1")
    assert _tree(tmp_path / "three") == _tree(tmp_path / "one")
    assert b"web" in _tree(tmp_path / "three")["index.da.html"]
