"""Rebuilding the status page in one process (:class:`statuspage.builder.SiteBuilder`): the
days and months that did not change are kept, a service whose page pieces did not change is
not rendered again, a file whose bytes did not change is linked rather than written, what the
five languages share is worked out once; and the site is byte for byte a build from nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2
import pytest
from test_statuspage_sample import sample_page

import statuspage.render
from monitor.config import Config, parse_config
from monitor.core.checks import CheckResult, Observation, State
from monitor.core.windows import Window
from monitor.store.ledger import Ledger
from statuspage import charts
from statuspage.builder import SiteBuilder
from statuspage.i18n import LANGUAGES, translations
from statuspage.render import render_files
from statuspage.templating import TEMPLATE_DIR
from statuspage.uptimes import tally

NOW = datetime(2026, 10, 20, 12, 0, 30, tzinfo=UTC)
STEP = timedelta(hours=6)

CONFIG = """
site: {title: Example status, language: en, timezone: Europe/Copenhagen, url: "https://s.example"}
services:
  - {name: api, title: API, url: "http://127.0.0.1:1/", interval: 6h}
  - {name: web, title: Website, url: "http://127.0.0.1:2/", interval: 6h}
  - name: desk
    title: Help desk
    url: http://127.0.0.1:3/
    interval: 6h
    sla: {target: 99.95, timezone: Europe/Copenhagen,
          coverage: {days: mon-fri, hours: "09:00-17:00", holidays: [DK]}}
maintenance:
  - services: [api, web, desk]
    title: Weekly patching
    rrule: FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0
    duration: 1h
    timezone: Europe/Copenhagen
"""


def check(name: str, at: datetime, state: State = State.UP, ms: float = 90.0) -> Observation:
    ok = state != State.DOWN
    return Observation(CheckResult(name, at, ok, ms if ok else None, 200 if ok else 503),
                       state, 6 * 3600 * 1000)


@pytest.fixture
def config() -> Config:
    return parse_config(CONFIG)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    """120 days of a check every 6 hours; api down for 40 minutes 30 days ago."""
    led = Ledger(tmp_path / "upwatch.db")
    for name in ("api", "web", "desk"):
        t, events = NOW - timedelta(days=120), []
        while t < NOW:
            events.append(check(name, t))
            t += STEP
        if name == "api":
            down = NOW - timedelta(days=30, hours=1)
            events += [check(name, down, State.DOWN), check(name, down + timedelta(minutes=40))]
        led.record(sorted(events, key=lambda o: o.result.time))
    yield led
    led.close()


def site_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_a_rebuild_is_the_build_from_nothing_and_writes_only_what_changed(
    config: Config, ledger: Ledger, tmp_path: Path
) -> None:
    builder = SiteBuilder()
    first = builder.build(config, ledger, [], NOW, tmp_path / "site")
    assert first.written == len(first.files)  # the first build writes every file
    ledger.record([check("api", NOW + timedelta(seconds=30), State.DOWN)])
    later = NOW + timedelta(minutes=1)
    again = builder.build(config, ledger, [], later, tmp_path / "site")
    cold = SiteBuilder().build(config, ledger, [], later, tmp_path / "cold")
    assert site_bytes(tmp_path / "site") == site_bytes(tmp_path / "cold")
    assert cold.written == len(cold.files)

    # written: the files whose bytes changed (the pages say when they were updated; api's
    # own files, and every services/*.json: this month's minutes grew); linked: the others
    before, after = first.version_dir, again.version_dir
    changed = {rel for rel in again.files
               if not (before / rel).exists() or (before / rel).read_bytes()
               != (after / rel).read_bytes()}
    assert again.written == len(changed) < len(again.files)
    assert {"index.html", "badges/api-status.svg", "embed/api.html"} <= changed
    for rel in ("badges/web-status.svg", "embed/web.html", "static/style.css"):
        assert rel not in changed
        old, new = (before / rel).stat(), (after / rel).stat()
        assert (new.st_ino, new.st_mtime_ns) == (old.st_ino, old.st_mtime_ns)  # linked

    # rendered again: api's piece of index.html in each language and its embed page (its
    # down minute is under way: history.html does not count it yet); the rest was kept
    rendered = len(LANGUAGES) + 1
    assert builder.fragments.counts == {"rendered": rendered,
                                        "reused": 3 * (2 * len(LANGUAGES) + 1) - rendered}


def test_a_check_that_changes_only_the_line_on_it_renders_no_piece_again(
    config: Config, ledger: Ledger, tmp_path: Path
) -> None:
    """A service probed every minute has a new check at every build: the line on it changes
    ("Answered in 89 ms"), and its response times a little, but as long as the charts read the
    same its pieces are kept, and the line is put in anew."""
    builder = SiteBuilder()
    ledger.record([check("web", NOW + timedelta(seconds=30), ms=90.0)])
    builder.build(config, ledger, [], NOW + timedelta(minutes=1), tmp_path / "site")
    # 89 ms falls in the same bucket of the hour's histogram as 90 ms, below its maximum: the
    # hour's percentiles, and so the charts, read the same
    ledger.record([check("web", NOW + timedelta(seconds=90), ms=89.0)])
    later = NOW + timedelta(minutes=2)
    builder.build(config, ledger, [], later, tmp_path / "site")
    assert builder.fragments.counts["rendered"] == 0
    page = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    web = page[page.index('id="svc-web"'):]
    web = web[:web.index("</li>")]
    assert web.count("Answered in 89 ms") == 1 and "Answered in 90" not in web
    assert "89" in (tmp_path / "site" / "index.de.html").read_text(encoding="utf-8")
    SiteBuilder().build(config, ledger, [], later, tmp_path / "cold")
    assert site_bytes(tmp_path / "site") == site_bytes(tmp_path / "cold")


def test_a_check_that_moves_only_the_charts_renders_only_the_charts_again(
    config: Config, ledger: Ledger, tmp_path: Path
) -> None:
    """A slow answer moves web's charts (its hour's p95, the top of the chart): its charts are
    drawn and said again in each language, its pieces are kept."""
    builder = SiteBuilder()
    ledger.record([check("web", NOW + timedelta(seconds=30), ms=90.0)])
    builder.build(config, ledger, [], NOW + timedelta(minutes=1), tmp_path / "site")
    before = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    ledger.record([check("web", NOW + timedelta(seconds=90), ms=900.0)])
    later = NOW + timedelta(minutes=2)
    builder.build(config, ledger, [], later, tmp_path / "site")
    assert builder.fragments.counts["rendered"] == 0  # no piece: web said nothing else new
    assert builder.fragments.uncounted["rendered"] >= len(LANGUAGES)  # its charts, each language
    after = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")

    def charts_of_web(page: str) -> str:
        web = page[page.index('id="svc-web"'):]
        return web[web.index('<details class="latency">'):web.index("</details>")]
    assert charts_of_web(after) != charts_of_web(before)
    said = re.findall(r"<figcaption><strong>Last 24 hours</strong>: (.*?) <span",
                      charts_of_web(after))
    assert said == ["Median 90 ms (90 ms – 93 ms); 95th percentile up to 893 ms"]
    SiteBuilder().build(config, ledger, [], later, tmp_path / "cold")
    assert site_bytes(tmp_path / "site") == site_bytes(tmp_path / "cold")


def test_the_days_and_months_that_did_not_change_are_kept(
    config: Config, ledger: Ledger
) -> None:
    builder = SiteBuilder()
    first = {s.name: s for s in builder.gather(config, ledger, NOW).services}
    ledger.record([check("api", NOW + timedelta(seconds=30), State.DOWN),  # today
                   check("web", NOW - timedelta(days=2), State.DOWN)])  # late, 2 days ago
    later = NOW + timedelta(minutes=1)
    second = {s.name: s for s in builder.gather(config, ledger, later).services}
    cold = {s.name: s for s in SiteBuilder().gather(config, ledger, later).services}
    assert second == cold  # the same figures as from nothing
    api, desk = second["api"], second["desk"]
    assert all(a is b for a, b in zip(first["api"].days[:-1], api.days[:-1], strict=True))
    assert all(a is b for a, b in zip(first["desk"].history, desk.history, strict=True))
    # web's late check changed a day before today: its days were computed again
    assert first["web"].days[-3] is not second["web"].days[-3]
    assert second["web"].days[-3].uptime.down_minutes > 0
    # the days' tally, kept with them, is the one they have now
    for name, s in second.items():
        assert s.past is not None and s.past == cold[name].past == tally(s.days[:-1])
    assert second["api"].past is first["api"].past
    assert second["web"].past.down_days[-1:] == (len(second["web"].days) - 3,)


def test_a_window_declared_between_two_builds_counts_in_the_second(
    config: Config, ledger: Ledger
) -> None:
    builder = SiteBuilder()
    builder.gather(config, ledger, NOW)
    window = Window("7", "maintenance", ("api",), NOW - timedelta(days=3),
                    NOW - timedelta(days=3) + timedelta(hours=2), "Database upgrade",
                    NOW - timedelta(days=4), "cli:ops")
    later = NOW + timedelta(minutes=1)
    second = {s.name: s for s in builder.gather(config, ledger, later, [window]).services}
    cold = {s.name: s for s in SiteBuilder().gather(config, ledger, later, [window]).services}
    assert second == cold
    assert second["api"].month.uptime.maintenance_minutes \
        >= 120 + cold["web"].month.uptime.maintenance_minutes
    assert any(w.id == "7" for w in second["api"].month.uptime.maintenance)
    assert not any(w.id == "7" for w in second["web"].month.uptime.maintenance)


def test_a_key_that_did_not_change_is_the_same_object(
    config: Config, ledger: Ledger, tmp_path: Path
) -> None:
    """Eleven pieces of a service look its keys up every build: a key equal to the last
    build's is that very object, compared by identity; a changed one is new."""
    builder = SiteBuilder()
    builder.build(config, ledger, [], NOW, tmp_path / "site")
    web, api = builder.fragments.key("web"), builder.fragments.key("api")
    ledger.record([check("api", NOW + timedelta(seconds=30), State.DOWN)])
    builder.build(config, ledger, [], NOW + timedelta(minutes=1), tmp_path / "site")
    assert builder.fragments.key("web")[0] is web[0]
    assert builder.fragments.key("web")[1] is web[1]
    assert builder.fragments.key("api")[0] is not api[0]  # api is down now
    assert builder.fragments.key("api")[0] != api[0]


def test_the_feeds_entries_that_did_not_change_are_the_same_objects(
    config: Config, ledger: Ledger, tmp_path: Path
) -> None:
    """Each service's feed is kept while its entries are the same (compared by identity: a
    window of every service is in every service's entries); an entry that changed is new."""
    builder = SiteBuilder()
    builder.build(config, ledger, [], NOW, tmp_path / "site")
    first = dict(builder.fragments._entries)
    assert any(e.categories[0] == "maintenance" for _, e in first.values())
    ledger.record([check("api", NOW + timedelta(seconds=30), State.DOWN)])
    builder.build(config, ledger, [], NOW + timedelta(minutes=1), tmp_path / "site")
    second = builder.fragments._entries
    assert second.keys() >= first.keys()
    assert all(second[key] is first[key] for key in first)  # nothing they say changed
    moved = [(at, replace(e, title=e.title + " (moved)")) for at, e in second.values()]
    again = builder.fragments.same_entries(moved)
    assert all(entry is new for entry, new in zip(again, moved, strict=True))


def test_another_process_publishing_between_two_builds_means_writing_everything(
    config: Config, ledger: Ledger, tmp_path: Path
) -> None:
    builder = SiteBuilder(languages=("en",))
    builder.build(config, ledger, [], NOW, tmp_path / "site")
    SiteBuilder(languages=("en",)).build(config, ledger, [], NOW, tmp_path / "site")
    again = builder.build(config, ledger, [], NOW, tmp_path / "site")
    assert again.written == len(again.files)


def test_the_languages_share_the_charts_drawings(monkeypatch: pytest.MonkeyPatch) -> None:
    charts.forget()
    made: list[object] = []
    draw = charts._drawn

    def counted(*args: Any) -> Any:
        made.append(args[0])
        return draw(*args)

    monkeypatch.setattr(charts, "_drawn", counted)
    files = render_files(sample_page(), LANGUAGES)
    drawn = files["index.html"].count('<svg class="latency-chart"')
    assert drawn > 0
    assert len(made) == drawn  # drawn once for the five languages


def test_messages_translated_at_compile_time_read_as_gettext_has_them(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every page in every language, rendered with :class:`statuspage.templating.Translated`
    and with plain ``_()`` calls, is the same text."""
    page = replace(sample_page(), now=NOW + timedelta(days=1))
    fast = render_files(page, LANGUAGES)

    def plain(lang: str) -> jinja2.Environment:
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
            autoescape=jinja2.select_autoescape(("html", "xml")),
            extensions=["jinja2.ext.i18n"], undefined=jinja2.StrictUndefined,
            trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
        env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
        return env

    monkeypatch.setattr(statuspage.render, "environment", plain)
    assert render_files(page, LANGUAGES) == fast


def test_runs_before_this_month_are_read_again_every_hour(
    config: Config, ledger: Ledger
) -> None:
    """A rebuild reads this month's runs only; a check for last month that arrives late
    (a prober's backlog) reaches the page at the next full read, within the hour. A late
    check for this month is seen at once."""
    def figures(at: datetime, builder: SiteBuilder) -> dict[str, tuple[int, int]]:
        """Each service's down minutes in September and in October to date."""
        data = builder.gather(config, ledger, at)
        return {s.name: (s.history[0].uptime.down_minutes, s.month.uptime.down_minutes)
                for s in data.services}

    builder = SiteBuilder()
    before = figures(NOW, builder)
    ledger.record([check("web", datetime(2026, 9, 20, 8, 0, tzinfo=UTC), State.DOWN),
                   check("api", datetime(2026, 10, 5, 8, 0, tzinfo=UTC), State.DOWN)])
    minute, hour = NOW + timedelta(minutes=1), NOW + timedelta(hours=1)
    cold = figures(minute, SiteBuilder())
    assert cold["web"][0] > before["web"][0] and cold["api"][1] > before["api"][1]
    soon = figures(minute, builder)
    assert soon["api"] == cold["api"]  # this month: at once
    assert soon["web"] == before["web"]  # September: not yet
    assert figures(hour, builder) == figures(hour, SiteBuilder())  # an hour on: read again
