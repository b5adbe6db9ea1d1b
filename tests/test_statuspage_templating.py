"""Compiled templates kept between processes (:func:`statuspage.templating.bytecode_cache`):
read back, they render the very pages compiling renders; each language (and each version of
its messages) has files of its own; a cache that cannot be read or written only costs the
compiling."""

from __future__ import annotations

import shutil
from pathlib import Path

import jinja2
import pytest
from test_statuspage_sample import sample_page

import statuspage.render
import statuspage.templating
from statuspage.i18n import LANGUAGES, LOCALE_DIR
from statuspage.render import render_files
from statuspage.templating import bytecode_cache, make_environment

PAGES = ("index.html", "service.html", "history.html", "history_service.html", "embed.html",
         "feed.xml", "subscribe.html")


def _kept_in(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pages rendered with environments whose compiled templates are kept in ``folder``."""
    monkeypatch.setattr(statuspage.render, "environment",
                        lambda lang: make_environment(lang, bytecode_cache(lang, str(folder))))


def test_templates_read_back_compiled_render_the_same_pages(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = sample_page()
    compiled = render_files(page, LANGUAGES)
    _kept_in(tmp_path, monkeypatch)
    assert render_files(page, LANGUAGES) == compiled  # compiled, and kept
    kept = sorted(p.name for p in tmp_path.iterdir())
    for lang in LANGUAGES:
        assert sum(f"__upwatch_{lang}_" in name for name in kept) >= len(PAGES) - 1

    def no_compiling(*args: object, **kwargs: object) -> None:
        raise AssertionError("compiled, although kept")

    monkeypatch.setattr(jinja2.Environment, "compile", no_compiling)
    assert render_files(page, LANGUAGES) == compiled  # read back, not compiled


def test_each_version_of_a_languages_messages_has_files_of_its_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def pattern() -> str:
        cache = bytecode_cache("de", str(tmp_path))
        assert isinstance(cache, jinja2.FileSystemBytecodeCache)
        return cache.pattern

    before = pattern()
    assert before != bytecode_cache("da", str(tmp_path)).pattern  # type: ignore[union-attr]
    changed = tmp_path / "locale"
    shutil.copytree(LOCALE_DIR, changed)
    po = changed / "de" / "LC_MESSAGES" / "messages.po"
    po.write_text(po.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    monkeypatch.setattr(statuspage.templating, "LOCALE_DIR", changed)
    assert pattern() != before


def test_a_cache_that_cannot_be_written_or_read_only_costs_the_compiling(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = sample_page()
    compiled = render_files(page, LANGUAGES)

    def full(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(jinja2.FileSystemBytecodeCache, "dump_bytecode", full)
    _kept_in(tmp_path, monkeypatch)
    assert render_files(page, LANGUAGES) == compiled
    assert not any(tmp_path.iterdir())
    monkeypatch.undo()

    _kept_in(tmp_path, monkeypatch)
    render_files(page, LANGUAGES)  # kept now
    monkeypatch.setattr(jinja2.FileSystemBytecodeCache, "load_bytecode", full)
    assert render_files(page, LANGUAGES) == compiled
