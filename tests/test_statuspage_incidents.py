"""Incidents on the status page: gathered from a real Ledger, the banner they raise, index.html
(open ones, latest update), history.html (90 days, every update), feed.atom, status.json in
Statuspage's shape; escaping of titles and bodies; a page without incidents.

The sample page (tests/test_statuspage_sample.py) has three incidents; its golden files show
them. Regenerate those with UPWATCH_REGEN_GOLDEN=1 (see tests/test_statuspage_views.py).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import pytest
from test_statuspage_render import Checked
from test_statuspage_sample import INCIDENTS, sample_page

from monitor.config import parse_config
from monitor.core.checks import State
from monitor.core.incidents import Impact, IncidentStatus
from monitor.incidents.markdown import render
from monitor.store.ledger import Ledger
from statuspage.data import IncidentData, PageData, UpdateData, gather
from statuspage.history import history_view
from statuspage.render import render_files
from statuspage.summary import status_json
from statuspage.views import index_view, page_banner

NOW = datetime(2026, 11, 3, 10, 30, 20, tzinfo=UTC)


def _incident(iid: int, impact: str, *, resolved: bool = False, title: str = "Trouble",
              body: str = "Looking into it.") -> IncidentData:
    at = datetime(2026, 10, 20, 11, 0, tzinfo=UTC)
    return IncidentData(
        iid, title, impact, "resolved" if resolved else "investigating", ("api",), at,
        at + timedelta(minutes=30) if resolved else None,
        (UpdateData(10 * iid, at, "investigating", body, render(body)),))


def _page(states: list[State], incidents: list[IncidentData]) -> PageData:
    base = sample_page(incidents=False)
    services = tuple(replace(base.services[0], name=f"s{i}", state=st, in_maintenance=False)
                     for i, st in enumerate(states))
    return replace(base, services=services, incidents=tuple(incidents))


U, G, D = State.UP, State.DEGRADED, State.DOWN


@pytest.mark.parametrize(
    ("states", "incidents", "banner", "indicator"),
    [
        ([U, U], [], "operational", "none"),
        ([U, U], [_incident(1, "minor")], "degraded", "minor"),
        ([U, U], [_incident(1, "major")], "partial", "major"),
        ([U, U], [_incident(1, "critical")], "major", "critical"),
        ([U, U], [_incident(1, "none")], "operational", "none"),
        ([U, U], [_incident(1, "critical", resolved=True)], "operational", "none"),
        ([D, D, U], [_incident(1, "minor")], "major", "critical"),
        ([U, U, D], [_incident(1, "minor")], "partial", "major"),
        ([U, G], [_incident(1, "major"), _incident(2, "minor")], "partial", "major"),
    ],
    ids=["no-incident", "open-minor", "open-major", "open-critical", "open-no-impact",
         "resolved-counts-not", "services-worse-than-incident", "one-of-three-down-wins",
         "worst-open-incident"],
)
def test_open_incidents_raise_the_banner(states: list[State], incidents: list[IncidentData],
                                         banner: str, indicator: str) -> None:
    page = _page(states, incidents)
    assert page_banner(page) == banner
    assert index_view(page, "en").banner == banner
    assert status_json(page)["status"]["indicator"] == indicator


def test_index_shows_open_incidents_with_their_latest_update_only() -> None:
    view = index_view(sample_page(), "en")
    [inc] = view.incidents
    assert (inc.anchor, inc.title, inc.impact_label, inc.status_label, inc.services) == (
        "incident-3", "Website unavailable", "Major impact", "Identified", "Website")
    assert inc.started == "Started 20 Oct 2026, 13:57 CEST" and inc.resolved is None
    [update] = inc.updates
    assert update.when == "20 Oct 2026, 13:59 CEST"
    assert "<strong>rolling it back</strong>" in update.html


def test_history_has_every_incident_of_ninety_days_with_every_update() -> None:
    view = history_view(sample_page(), "de")
    assert [(i.anchor, i.status_label, len(i.updates)) for i in view.incidents] == [
        ("incident-3", "Ursache identifiziert", 2), ("incident-2", "Behoben", 3),
        ("incident-1", "Behoben", 1)]
    assert view.incidents[1].resolved == "Behoben am 17. Okt. 2026, 08:50 MESZ"
    assert [u.status for u in view.incidents[1].updates] == [
        "resolved", "monitoring", "investigating"]


def test_status_json_incidents_in_statuspage_shape() -> None:
    page = sample_page()
    doc = status_json(page)
    [inc] = doc["incidents"]  # Statuspage's summary lists the unresolved ones
    assert list(inc) == [
        "id", "name", "status", "created_at", "updated_at", "monitoring_at", "resolved_at",
        "impact", "shortlink", "started_at", "page_id", "incident_updates", "components"]
    assert (inc["id"], inc["status"], inc["impact"], inc["resolved_at"]) == (
        "3", "identified", "major", None)
    assert inc["shortlink"] == "https://status.example.com/history.html#incident-3"
    assert [u["id"] for u in inc["incident_updates"]] == ["6", "5"]  # newest first
    assert inc["incident_updates"][1]["body"].startswith("upwatch detected that **web**")
    assert {"id", "status", "body", "created_at"} <= set(inc["incident_updates"][0])
    assert [c["id"] for c in inc["components"]] == ["web"]
    assert inc["components"][0]["status"] == "major_outage"
    # monitoring_at: when it went to monitoring; no shortlink without a site URL
    reopened = replace(INCIDENTS[1], status="monitoring", resolved_at=None,
                       updates=INCIDENTS[1].updates[1:])
    bare = replace(page, incidents=(reopened,), site=replace(page.site, url=None))
    [mon] = status_json(bare)["incidents"]
    assert (mon["monitoring_at"], mon["shortlink"]) == ("2026-10-17T06:40:00Z", "")


def test_feed_has_an_entry_per_incident_with_every_update() -> None:
    feed = feedparser.parse(render_files(sample_page(), ["en"])["feed.atom"])
    assert not feed.bozo
    entries = {e.title: e for e in feed.entries if e.title.startswith("Incident:")}
    assert list(entries) == [
        "Incident: Website unavailable", "Incident: Slow API responses", "Incident: API outage"]
    slow = entries["Incident: Slow API responses"]
    assert slow.link == "https://status.example.com/history.html#incident-2"
    assert slow.updated == "2026-10-17T06:50:00Z"
    assert slow.summary == "Resolved · Minor impact · Affects: API"
    html = slow.content[0].value
    assert html.index("Resolved") < html.index("Monitoring") < html.index("Investigating")
    assert "<em>slow</em>" in html


def test_a_page_without_incidents() -> None:
    page = sample_page(incidents=False)
    files = render_files(page, ["en", "da"])
    assert "Current incidents" not in files["index.html"]
    assert "incident" not in files["index.html"]
    assert "No incidents in the last 90 days." in files["history.html"]
    assert "Ingen hændelser de seneste 90 dage." in files["history.da.html"]
    for name in ("index.html", "history.html", "index.da.html"):
        assert Checked(files[name]).problems == []
    assert json.loads(files["status.json"])["incidents"] == []
    feed = feedparser.parse(files["feed.atom"])
    assert not feed.bozo and not [e for e in feed.entries if "incident" in e.tags[0].term]


PAYLOADS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>']


@pytest.mark.parametrize("payload", PAYLOADS, ids=["script", "attribute-breakout"])
def test_incident_title_and_body_are_escaped(payload: str) -> None:
    body = f"{payload}\n\n- {payload}\n- [click](javascript:alert(1)) **{payload}**"
    inc = _incident(1, "major", title=payload, body=body)
    page = replace(sample_page(incidents=False), incidents=(inc,))
    files = render_files(page, ["en"])
    for name in ("index.html", "history.html"):
        text = files[name]
        checked = Checked(text)
        assert checked.problems == [], name
        assert checked.tags["script"] == 0 and checked.tags["img"] == 0, name
        assert payload not in text and 'href="javascript' not in text, name
        assert "[click](javascript:alert(1))" in text, name  # an unsafe link stays text
    assert "&lt;script&gt;" in files["index.html"] or "&#34;&gt;&lt;img" in files["index.html"]
    feed_text = files["feed.atom"]
    assert payload not in feed_text and "<script" not in feed_text and "<img" not in feed_text
    feed = feedparser.parse(feed_text)
    assert not feed.bozo
    [entry] = [e for e in feed.entries if e.title.startswith("Incident:")]
    assert entry.title == f"Incident: {payload}"
    assert "<script" not in entry.content[0].value and "<img" not in entry.content[0].value
    doc_text = files["status.json"]
    assert "<" not in doc_text and ">" not in doc_text
    doc = json.loads(doc_text)
    assert doc["incidents"][0]["name"] == payload
    assert doc["incidents"][0]["incident_updates"][0]["body"] == body


CONFIG = """
site: {title: Example, language: en, timezone: Europe/Copenhagen}
services:
  - {name: api, title: API, url: "http://127.0.0.1:1/"}
  - {name: web, title: Website, url: "http://127.0.0.1:2/"}
"""


def test_gather_reads_incidents_from_the_ledger(tmp_path: Path) -> None:
    config = parse_config(CONFIG)
    led = Ledger(tmp_path / "upwatch.db")
    try:
        def opened(title: str, at: datetime, body: str) -> int:
            inc, _ = led.open_incident(
                title=title, impact=Impact.MAJOR, severity="severity 2", services=["web"],
                detected_at=at, at=at, author="cli:alice", human=True, body=body)
            return inc.id

        def resolve(iid: int, at: datetime) -> None:
            led.post_incident_update(iid, at=at, status=IncidentStatus.RESOLVED, body="Fixed.",
                                     author="cli:alice", human=True)

        old = opened("Long ago", NOW - timedelta(days=120), "old")
        resolve(old, NOW - timedelta(days=119))
        recent = opened("Last month", NOW - timedelta(days=20), "x")
        resolve(recent, NOW - timedelta(days=20) + timedelta(hours=1))
        current = opened("Now", NOW - timedelta(minutes=30), "<b>so</b> **bad**")
        led.post_incident_update(current, at=NOW - timedelta(minutes=5),
                                 status=IncidentStatus.MONITORING, body="A fix is out.",
                                 author="cli:alice", human=True)
        data = gather(config, led, NOW)
    finally:
        led.close()
    assert [(i.title, i.status, i.open) for i in data.incidents] == [
        ("Now", "monitoring", True), ("Last month", "resolved", False)]
    now_inc = data.incidents[0]
    assert now_inc.updated_at == NOW - timedelta(minutes=5)
    assert [u.html for u in now_inc.updates] == [
        "<p>A fix is out.</p>", "<p>&lt;b&gt;so&lt;/b&gt; <strong>bad</strong></p>"]
    assert data.open_incidents == (now_inc,)
    assert data.incidents[1].resolved_at == NOW - timedelta(days=20) + timedelta(hours=1)
    assert page_banner(data) in ("partial", "major")  # no data yet, an open major incident
