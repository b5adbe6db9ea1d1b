"""The site's files are written in a thread while the build renders (:mod:`statuspage.writing`):
the per-service files first, nothing published unless every file was written, the version
removed and the lock released when writing or rendering fails."""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from test_statuspage_sample import NOW, sample_page

from statuspage import BuildError, build_site
from statuspage.publish import NewVersion, Published
from statuspage.render import render_files
from statuspage.writing import writing


def _versions(parent: Path) -> list[Path]:
    return sorted(p for p in parent.iterdir() if p.name.startswith(".site.build-"))


def _writer_threads() -> int:
    return sum(t.name == "upwatch-site-writer" for t in threading.enumerate())


def test_the_per_service_files_come_before_the_languages_pages() -> None:
    order: list[str] = []
    assert render_files(sample_page(), ("en", "de"), emit=lambda rel, _: order.append(rel)) == {}
    files = render_files(sample_page(), ("en", "de"))
    assert order == list(files)  # each file handed over once, as it was rendered
    first_page = order.index("index.html")
    assert {rel for rel in order[:first_page]} == {
        rel for rel in files if rel.startswith(("badges/", "services/", "feeds/"))
    } | {"feed.atom", "status.json"}


def test_a_file_that_cannot_be_written_publishes_nothing_and_names_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "site"
    build_site(sample_page(), out, languages=("en",))
    before = (out / "status.json").read_text()
    add = NewVersion.add

    def full_disk(self: NewVersion, rel: str, blob: bytes) -> None:
        if rel.startswith("services/"):
            raise OSError(28, "No space left on device")
        add(self, rel, blob)

    monkeypatch.setattr(NewVersion, "add", full_disk)
    later = replace(sample_page(), now=NOW + timedelta(minutes=1))
    with pytest.raises(BuildError, match="No space left on device"):
        build_site(later, out, languages=("en",))
    assert (out / "status.json").read_text() == before  # the site as it was
    assert len(_versions(tmp_path)) == 1  # the half-written version is gone
    assert sys.getswitchinterval() == pytest.approx(0.005)

    monkeypatch.setattr(NewVersion, "add", add)  # the disk has room again: the lock is free
    build_site(later, out, languages=("en",))
    assert json.loads((out / "status.json").read_text())["page"]["updated_at"] \
        == "2026-10-20T12:01:30Z"


def test_a_build_that_fails_while_rendering_leaves_no_version_behind(tmp_path: Path) -> None:
    out = tmp_path / "site"
    with pytest.raises(RuntimeError, match="a bug"), \
            writing(out, Published(), folders=("badges",)) as writer:
        writer.put("index.html", "<p>half a site</p>")
        raise RuntimeError("a bug")
    assert not out.exists() and _versions(tmp_path) == []
    assert sys.getswitchinterval() == pytest.approx(0.005)
    with writing(out, Published()) as writer:  # the lock was released
        writer.put("index.html", "<p>whole</p>")
    assert (out / "index.html").read_text() == "<p>whole</p>"
    assert writer.report is not None and writer.report.files == ("index.html",)


def test_the_thread_switch_interval_is_short_only_while_writing(tmp_path: Path) -> None:
    before = sys.getswitchinterval()
    with writing(tmp_path / "site", Published()) as writer:
        assert _writer_threads() == 0  # no thread before the first file
        writer.put("a.txt", b"a")
        assert sys.getswitchinterval() == pytest.approx(0.0001)
        writer.put("b.txt", b"b")
    assert sys.getswitchinterval() == before
    assert _writer_threads() == 0


def test_a_rebuild_writes_in_line_and_links_what_did_not_change(tmp_path: Path) -> None:
    out, before = tmp_path / "site", Published()
    with writing(out, before) as first:
        first.put("a.txt", b"same")
    assert first.threaded  # a build from nothing: every file is new
    with writing(out, before) as again:
        assert not again.threaded
        assert sys.getswitchinterval() == pytest.approx(0.005)
        again.put("a.txt", b"same")
        again.put("b.txt", "new")
    assert again.report is not None and again.report.written == 1  # a.txt linked
    assert first.report is not None
    assert (out / "a.txt").stat().st_ino == (first.report.version_dir / "a.txt").stat().st_ino
