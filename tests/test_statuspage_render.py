"""The built site: files, valid HTML/SVG/Atom/JSON, escaping, languages, atomic publishing.

Golden files: see tests/test_statuspage_views.py (UPWATCH_REGEN_GOLDEN=1).
"""

from __future__ import annotations

import json
import re
import threading
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import feedparser
import pytest
from test_statuspage_sample import NOW, check_golden, sample_page, with_titles

from monitor.config import parse_config
from monitor.core.checks import CheckResult, Observation, State
from monitor.store.ledger import Ledger
from monitor.web.site import site_file
from statuspage import BuildError, build_from_ledger, build_site
from statuspage.badges import badge_svg, text_width
from statuspage.render import STATIC_DIR, render_files
from statuspage.summary import LATENCY_HOLE, json_text, latency_json, service_json, status_json

PAYLOADS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>']
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class Checked(HTMLParser):
    """Records what a page holds and every tag that is not properly nested or closed."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.tags: Counter[str] = Counter()
        self.ids: Counter[str] = Counter()
        self.urls: list[tuple[str, str]] = []
        self.html_lang: str | None = None
        self.feed(text)
        self.close()
        if self.stack:
            self.problems.append(f"never closed: {self.stack}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        a = dict(attrs)
        if a.get("id"):
            self.ids[str(a["id"])] += 1
        for key in ("href", "src", "action", "srcset"):
            if a.get(key) is not None:
                self.urls.append((tag, str(a[key])))
        if tag == "html":
            self.html_lang = a.get("lang")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            self.problems.append(f"end tag for void element {tag}")
        elif not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    return render_files(sample_page(), asset_version="test")


def test_files_of_a_site(tmp_path: Path) -> None:
    report = build_site(sample_page(), tmp_path / "site")
    names = set(report.files)
    assert {"index.html", "index.de.html", "index.da.html", "index.it.html", "index.es.html",
            "history.html", "history.de.html", "history.es.html", "status.json", "feed.atom",
            "badges/api-uptime.svg", "badges/api-status.svg", "badges/batch-status.svg",
            "static/style.css"} <= names
    assert "index.en.html" not in names  # English is the site's language: it is index.html
    assert (tmp_path / "site" / "index.html").read_text().startswith("<!doctype html>")
    assert report.sizes["index.html"] == (tmp_path / "site" / "index.html").stat().st_size
    assert (tmp_path / "site").is_symlink()


@pytest.mark.parametrize("name", ["index.html", "index.de.html", "history.html",
                                  "history.it.html"])
def test_pages_are_well_formed_and_accessible_by_structure(files: dict[str, str],
                                                           name: str) -> None:
    page = Checked(files[name])
    assert page.problems == []
    assert page.tags["h1"] == 1
    for landmark in ("header", "main", "footer", "nav"):
        assert page.tags[landmark] >= 1, landmark
    assert [i for i, n in page.ids.items() if n > 1] == []
    lang = name.split(".")[1] if name.count(".") == 2 else "en"
    assert page.html_lang == lang


def test_no_external_requests(files: dict[str, str]) -> None:
    for name, text in files.items():
        if not name.endswith(".html"):
            continue
        for tag, url in Checked(text).urls:
            if tag == "a":
                continue  # a link (in an incident update) is followed, not fetched
            assert not re.match(r"^(https?:)?//", url), (name, tag, url)
    css = (STATIC_DIR / "style.css").read_text()
    assert "url(" not in css and "@import" not in css and "@font-face" not in css
    assert "prefers-color-scheme: dark" in css


def test_each_page_links_to_the_others(files: dict[str, str]) -> None:
    for name in ("index.html", "index.de.html", "index.da.html", "index.it.html",
                 "index.es.html"):
        text = files[name]
        for lang, href in [("en", "index.html"), ("de", "index.de.html"),
                           ("da", "index.da.html"), ("it", "index.it.html"),
                           ("es", "index.es.html")]:
            assert f'<a href="{href}" hreflang="{lang}" lang="{lang}"' in text, (name, lang)
            assert f'<link rel="alternate" hreflang="{lang}" href="{href}">' in text


def test_index_shows_what_the_issue_asks(files: dict[str, str]) -> None:
    text = files["index.html"]
    assert '<section class="banner b-partial"' in text and "Partial outage" in text
    assert "Current outages" in text and 'href="#svc-web">Website</a>: Down' in text
    assert "Queue migration" in text and "In progress" in text
    assert "Database upgrade" in text and "Scheduled" in text
    assert "15 mins of error budget left" in text
    assert '<ol class="bar" aria-label="Last 90 days: 99.98% up">' in text
    assert '<li class="ma"><span class="vh">10 Oct: 99.16% up, 12 minutes down</span></li>' in text
    assert "Last updated: 20 Oct 2026, 14:00 CEST" in text
    assert '<time datetime="2026-10-20T12:00:30Z">' in text
    de = files["index.de.html"]
    assert "99,95\xa0%" in de and "Teilweiser Ausfall" in de


def test_golden_pages(files: dict[str, str]) -> None:
    check_golden("index.html", files["index.html"])
    check_golden("history.de.html", files["history.de.html"])
    check_golden("feed.atom", files["feed.atom"])


@pytest.mark.parametrize("payload", PAYLOADS, ids=["script", "attribute-breakout"])
def test_user_text_is_escaped_everywhere(payload: str) -> None:
    out = render_files(with_titles(sample_page(), payload), asset_version="x")
    for name, text in out.items():
        assert payload not in text, name
        assert "<script" not in text and "<img" not in text, name
    html = out["index.html"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html or "&#34;&gt;&lt;img" in html
    history = Checked(out["history.html"])
    assert history.problems == []
    assert history.tags["script"] == 0 and history.tags["img"] == 0
    for name, text in out.items():
        if name.endswith(".svg"):
            root = ET.fromstring(text)
            assert payload in "".join(root.itertext())
    feed = feedparser.parse(out["feed.atom"])
    assert not feed.bozo
    assert feed.feed.title.startswith(payload)
    doc = json.loads(out["status.json"])
    assert doc["page"]["name"] == payload
    assert {c["name"] for c in doc["components"]} == {payload}


def test_the_json_documents_read_as_if_encoded_whole(files: dict[str, str]) -> None:
    """status.json and services/*.json have each service's response times encoded once and
    put in their place: the same text as the whole document encoded at once."""
    page = sample_page()
    assert files["status.json"] == json_text(status_json(page)) + "\n"
    for s in page.services:
        assert files[f"services/{s.name}.json"] == json_text(service_json(page, s)) + "\n"
        assert json.loads(files[f"services/{s.name}.json"])["latency"] == latency_json(s, NOW)


def test_a_title_shaped_like_the_response_times_place_stays_a_title() -> None:
    """The place's name is drawn at random when upwatch starts: a title cannot name it."""
    lookalike = "\0latency " + "0" * 32 + "\0"
    assert LATENCY_HOLE != lookalike and len(LATENCY_HOLE) == len(lookalike)
    page = with_titles(sample_page(), lookalike)
    doc = json.loads(render_files(page, ("en",))["status.json"])
    assert {c["name"] for c in doc["components"]} == {lookalike}
    assert all("hours" in s["latency"] for s in doc["upwatch"]["services"])
    with pytest.raises(ValueError, match="2 places for response times, 1 given"):
        json_text([LATENCY_HOLE, LATENCY_HOLE], ["{}"])


def test_a_title_shaped_like_the_pieces_place_stays_a_title() -> None:
    """index.html and history.html are joined around a place drawn at random when upwatch
    starts (statuspage.render._filled): a title like it is a title, and each piece is there."""
    lookalike = "\0pieces " + "0" * 32 + " group-1\0"
    out = render_files(with_titles(sample_page(), lookalike), ("en",))
    plain = render_files(with_titles(sample_page(), "Plain"), ("en",))
    for rel in ("index.html", "history.html"):
        assert lookalike in out[rel]
        as_plain = out[rel].replace(lookalike, "Plain")
        # an incident's update is Markdown, which drops the NULs
        assert as_plain.replace(lookalike.strip("\0"), "Plain") == plain[rel]


def test_atom_feed(files: dict[str, str]) -> None:
    feed = feedparser.parse(files["feed.atom"])
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    titles = [e.title for e in feed.entries]
    assert titles == [  # newest first: outages by their last down minute, maintenance by
        "Website: 5 minutes down on 20 Oct 2026",  # when it was declared (or, from
        "Incident: Website unavailable",  # probes.yaml, 7 days before it starts), incidents
        "Maintenance: Database upgrade",  # by their latest update
        "Incident: Slow API responses",
        "API: 1 minute down on 15 Oct 2026",
        "Maintenance: Queue migration",
        "Incident: API outage",
        "API: 12 minutes down on 10 Oct 2026",
    ]
    api = feed.entries[7]
    assert api.summary == ("API was down for 12 minutes on 10 Oct 2026, between 12:00 and "
                           "12:12 CEST; uptime that day: 99.16%.")
    assert api.link == "https://status.example.com/index.html#svc-api"
    assert api.published == "2026-10-10T10:00:00Z"
    assert all(e.id.startswith("urn:uuid:") for e in feed.entries)
    assert len({e.id for e in feed.entries}) == len(feed.entries)


def test_each_service_has_a_feed_of_its_own(files: dict[str, str]) -> None:
    whole = feedparser.parse(files["feed.atom"])
    api = feedparser.parse(files["feeds/api.atom"])
    assert not api.bozo, api.get("bozo_exception")
    assert api.feed.title == "API – Example status: outages and maintenance"
    assert api.feed.link == "https://status.example.com/index.html#svc-api"
    assert [e.title for e in api.entries] == [
        "Maintenance: Database upgrade",  # of the website and the API
        "Incident: Slow API responses",
        "API: 1 minute down on 15 Oct 2026",
        "Incident: API outage",
        "API: 12 minutes down on 10 Oct 2026",
    ]
    assert {e.id for e in api.entries} <= {e.id for e in whole.entries}  # the same entries
    assert api.feed.id != whole.feed.id
    docs = feedparser.parse(files["feeds/docs.atom"])
    assert docs.entries == [] and not docs.bozo  # nothing happened: a valid, empty feed
    assert docs.feed.updated == "2026-10-20T00:00:00Z"  # the day's start, not the build's time
    later = render_files(replace(sample_page(), now=NOW + timedelta(hours=3)))
    assert later["feeds/docs.atom"] == files["feeds/docs.atom"]  # unchanged all day
    assert '<a href="feeds/api.atom" type="application/atom+xml">Atom feed' in files[
        "index.html"]


def test_feed_ids_are_stable_from_build_to_build() -> None:
    first = feedparser.parse(render_files(sample_page())["feed.atom"])
    later = replace(sample_page(), now=NOW + timedelta(minutes=3))
    second = feedparser.parse(render_files(later)["feed.atom"])
    assert [e.id for e in first.entries] == [e.id for e in second.entries]


def test_badges(files: dict[str, str]) -> None:
    def texts(name: str) -> list[str]:
        return [t.text or "" for t in ET.fromstring(files[name]).iter(
            "{http://www.w3.org/2000/svg}text")]

    assert texts("badges/api-uptime.svg")[1::2] == ["API uptime", "99.95%"]
    assert texts("badges/web-status.svg")[1::2] == ["Website", "down"]
    assert texts("badges/batch-status.svg")[1::2] == ["Batch jobs", "maintenance"]
    assert texts("badges/batch-uptime.svg")[1::2] == ["Batch jobs uptime", "100.00%"]
    assert 'fill="#cf222e"' in files["badges/web-status.svg"]


def test_badge_width_follows_the_text() -> None:
    assert text_width("iiii") < text_width("WWWW")
    short, long = badge_svg("a", "b", "green"), badge_svg("a much longer label", "b", "green")
    width = re.compile(r'<svg[^>]* width="(\d+)"')
    m1, m2 = width.search(short), width.search(long)
    assert m1 and m2 and int(m1.group(1)) < int(m2.group(1))
    assert "…" in badge_svg("x" * 80, "y", "grey")


def test_index_for_twenty_services_is_small() -> None:
    base = sample_page()
    services = tuple(replace(s, name=f"{s.name}{i}") for i in range(5) for s in base.services)
    page = replace(base, services=services)
    assert len(page.services) == 20
    size = len(render_files(page, ("en",))["index.html"].encode())
    # 50 KB until each service got its charts, its days in words and its own feed link
    assert size < 56_000, size


def test_unknown_language_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match='unknown language "fr"'):
        build_site(sample_page(), tmp_path / "site", languages=("en", "fr"))


def test_site_language_page_is_always_built() -> None:
    page = sample_page()
    page = replace(page, site=replace(page.site, language="da"))
    out = render_files(page, ("en",))
    assert {"index.html", "index.en.html", "history.html", "history.en.html"} <= set(out)
    assert '<html lang="da">' in out["index.html"]


# ---- atomic publishing --------------------------------------------------------------------


def _versions(parent: Path) -> list[Path]:
    return sorted(p for p in parent.iterdir() if p.name.startswith(".site.build-"))


def test_a_reader_never_sees_a_missing_page(tmp_path: Path) -> None:
    out = tmp_path / "site"
    pages = [replace(sample_page(), now=NOW + timedelta(minutes=i)) for i in range(50)]
    build_site(pages[0], out, languages=("en",))
    stop = threading.Event()
    seen: Counter[str] = Counter()
    problems: list[str] = []

    def read() -> None:
        while not stop.is_set():
            try:
                text = (out / "index.html").read_text()
                status = json.loads((out / "status.json").read_text())
            except (OSError, ValueError) as exc:
                problems.append(repr(exc))
                continue
            if not text.endswith("</html>\n"):
                problems.append("half a page")
            seen[status["page"]["updated_at"]] += 1

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for page in pages[1:]:
            build_site(page, out, languages=("en",))
    finally:
        stop.set()
        reader.join(timeout=10)
    assert problems == []
    assert sum(seen.values()) > 0
    assert len(_versions(tmp_path)) == 3  # the current version and the two before
    final = json.loads((out / "status.json").read_text())
    assert final["page"]["updated_at"] == "2026-10-20T12:49:30Z"


def test_an_empty_directory_is_taken_over(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    build_site(sample_page(), tmp_path / "site", languages=("en",))
    assert (tmp_path / "site").is_symlink()
    assert (tmp_path / "site" / "index.html").is_file()


def test_a_directory_with_content_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "site"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    with pytest.raises(BuildError, match="is not a site published by upwatch"):
        build_site(sample_page(), out, languages=("en",))
    assert (out / "precious.txt").read_text() == "keep me"
    assert _versions(tmp_path) == []  # the unpublished build was removed


def test_a_missing_parent_is_reported(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="does not exist"):
        build_site(sample_page(), tmp_path / "nowhere" / "site")


def test_build_from_a_real_ledger(tmp_path: Path) -> None:
    config = parse_config("""
site: {title: Ledger site, language: it, timezone: Europe/Rome}
services:
  - {name: api, title: API, url: "http://127.0.0.1:1/", interval: 60s, timeout: 5s}
""")
    ledger = Ledger(tmp_path / "u.db")
    start = datetime(2026, 10, 19, 22, 0, tzinfo=UTC)
    ledger.record([
        Observation(CheckResult("api", start + timedelta(minutes=i), i != 30, 50.0),
                    State.UP if i != 30 else State.DOWN, 60_000)
        for i in range(120)
    ])
    now = start + timedelta(minutes=120, seconds=5)
    report = build_from_ledger(config, ledger, [], now, tmp_path / "site")
    ledger.close()
    text = (tmp_path / "site" / "index.html").read_text()
    assert '<html lang="it">' in text and "Operativo" in text
    assert "1 minuto di disservizio" in text
    status = json.loads((tmp_path / "site" / "status.json").read_text())
    assert status["components"][0]["status"] == "operational"
    assert status["upwatch"]["services"][0]["down_minutes"] == 1
    assert "badges/api-status.svg" in report.files


@pytest.mark.parametrize(
    ("path", "found"),
    [
        ("", "index.html"),
        ("/", "index.html"),
        ("index.de.html", "index.de.html"),
        ("static/style.css", "static/style.css"),
        ("badges/../history.html", "history.html"),
        ("badges", None),
        ("nothing.html", None),
        ("../outside.txt", None),
        ("/../outside.txt", None),
        ("static/../../outside.txt", None),
        ("index.html\x00.txt", None),
    ],
    ids=["root", "slash", "language", "asset", "dot-dot-inside", "directory", "missing",
         "dot-dot-out", "slash-dot-dot-out", "nested-dot-dot-out", "nul-byte"],
)
def test_site_file(tmp_path: Path, path: str, found: str | None) -> None:
    (tmp_path / "outside.txt").write_text("secret")
    build_site(sample_page(), tmp_path / "site", languages=("en", "de"))
    got = site_file(tmp_path / "site", path)
    version = (tmp_path / "site").resolve()
    assert got == (None if found is None else version / found)
