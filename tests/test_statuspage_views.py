"""View models and status.json: pure functions of a hand-built PageData.

Golden files live in tests/golden/statuspage/. After an intended change regenerate them with

    UPWATCH_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/test_statuspage_views.py \
        tests/test_statuspage_render.py

and review the diff like code. They hold dates and numbers formatted by Babel from its CLDR
data, so they are made with the Babel pinned in requirements.lock; when ``make lock`` brings a
Babel whose CLDR data formats differently, regenerate them the same way (the diff should then
show only formatting, e.g. Babel 2.19's thin spaces around the en dash of ``11 – 14 Oct``).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from babel import Locale
from babel.dates import format_interval, format_skeleton
from test_statuspage_sample import NOW, as_json, check_golden, sample_page

from monitor.config import ConfigError, parse_config
from monitor.core.checks import State
from monitor.core.minutes import Run
from monitor.core.sla import Uptime, period_uptime
from monitor.core.windows import Window
from monitor.times import minute_start
from statuspage.bar import bar_segments
from statuspage.data import Day, Month, ServiceData
from statuspage.history import history_view
from statuspage.i18n import formatter
from statuspage.summary import COMPONENT_STATUSES, INDICATORS, component_status, status_json
from statuspage.views import index_view, overall, percent_places

# ---- golden files -------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "de"])
def test_index_view_golden(lang: str) -> None:
    check_golden(f"index_view.{lang}.json", as_json(index_view(sample_page(), lang)))


@pytest.mark.parametrize("lang", ["en", "es"])
def test_history_view_golden(lang: str) -> None:
    check_golden(f"history_view.{lang}.json", as_json(history_view(sample_page(), lang)))


def test_status_json_golden() -> None:
    text = json.dumps(status_json(sample_page()), indent=2, ensure_ascii=False) + "\n"
    check_golden("status.json", text)


def test_views_are_deterministic() -> None:
    assert index_view(sample_page(), "da") == index_view(sample_page(), "da")
    assert status_json(sample_page()) == status_json(sample_page())


# ---- banner and component statuses ------------------------------------------------------


def _svc(state: State, maintenance: bool = False) -> ServiceData:
    base = sample_page().services[0]
    return replace(base, state=state, in_maintenance=maintenance)


U, G, D, N = State.UP, State.DEGRADED, State.DOWN, State.NODATA


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ([U, U, U], "operational"),
        ([U, G, U], "degraded"),
        ([U, N, U], "degraded"),
        ([U, U, D], "partial"),
        ([U, D, D], "major"),
        ([D], "major"),
        ([U, D], "partial"),
        ([(U, True), U], "maintenance"),
        ([(D, True), U], "maintenance"),
        ([(U, True), D], "major"),
        ([(U, True), G], "degraded"),
    ],
    ids=["all-up", "one-degraded", "one-without-data", "one-of-three-down", "two-of-three-down",
         "only-service-down", "half-down-is-partial", "one-in-maintenance",
         "down-but-in-maintenance", "maintenance-and-the-rest-down",
         "maintenance-and-degraded"],
)
def test_banner(states: list[State | tuple[State, bool]], expected: str) -> None:
    services = tuple(_svc(*s) if isinstance(s, tuple) else _svc(s) for s in states)
    assert overall(services) == expected


@pytest.mark.parametrize(
    ("state", "maintenance", "expected"),
    [
        (U, False, "operational"),
        (G, False, "degraded_performance"),
        (D, False, "major_outage"),
        (N, False, "degraded_performance"),
        (D, True, "under_maintenance"),
    ],
    ids=["up", "degraded", "down", "nodata-is-not-operational", "maintenance-wins"],
)
def test_component_status(state: State, maintenance: bool, expected: str) -> None:
    assert component_status(_svc(state, maintenance)) == expected


def test_status_json_shape_and_enums() -> None:
    doc = status_json(sample_page())
    assert list(doc) == [
        "page", "status", "components", "incidents", "scheduled_maintenances", "upwatch"]
    assert doc["page"] == {
        "id": doc["page"]["id"], "name": "Example status", "url": "https://status.example.com",
        "time_zone": "Europe/Copenhagen", "updated_at": "2026-10-20T12:00:30Z",
    }
    assert doc["status"] == {"indicator": "major", "description": "Partial System Outage"}
    assert doc["status"]["indicator"] in INDICATORS
    assert [i["id"] for i in doc["incidents"]] == ["3"]  # the unresolved ones, as Statuspage
    for comp in doc["components"]:
        assert comp["status"] in COMPONENT_STATUSES
        assert comp["page_id"] == doc["page"]["id"]
    groups = [c for c in doc["components"] if c["group"]]
    assert [(g["name"], g["components"], g["status"]) for g in groups] == [
        ("Core", ["api", "web", "batch"], "major_outage")]
    children = {c["id"]: c["group_id"] for c in doc["components"] if not c["group"]}
    assert children == {"api": groups[0]["id"], "web": groups[0]["id"], "docs": None,
                        "batch": groups[0]["id"]}
    maint = {m["id"]: m for m in doc["scheduled_maintenances"]}
    assert maint["cfg-m0"]["status"] == "in_progress"
    assert maint["7"]["status"] == "scheduled"
    assert maint["7"]["scheduled_for"] == "2026-10-23T00:00:00Z"
    assert maint["7"]["scheduled_until"] == "2026-10-23T02:00:00Z"
    assert [c["id"] for c in maint["7"]["components"]] == ["web", "api"]
    assert maint["7"]["impact"] == "maintenance"
    figures = {s["id"]: s for s in doc["upwatch"]["services"]}
    assert figures["web"]["state"] == "down"
    assert figures["batch"]["state"] == "nodata"
    assert figures["api"]["month"] == "2026-10"
    assert figures["api"]["target_percent"] == 99.9
    assert figures["api"]["down_minutes"] == 13
    assert doc["upwatch"]["generated_at"] == "2026-10-20T12:00:30Z"
    json.dumps(doc, allow_nan=False)  # plain JSON, no NaN or objects


# ---- the 90-day bar ---------------------------------------------------------------------

M = 29_000_000  # an epoch minute at a local midnight is not needed here: periods are arbitrary


def _uptime(runs: list[Run], covered: list[tuple[int, int]] | None = None,
            maintenance: int = 0) -> Uptime:
    """One day's uptime (minutes ``M`` to ``M + 1440``), optionally with maintenance first."""
    windows = () if not maintenance else (Window(
        "m", "maintenance", ("x",), minute_start(M), minute_start(M + maintenance), "work",
        None, "probes.yaml"),)
    return period_uptime(service="x", target=99.9, start=M, end=M + 1440,
                         covered=[(M, M + 1440)] if covered is None else covered, runs=runs,
                         windows=windows)


@pytest.mark.parametrize(
    ("uptime", "css", "text"),
    [
        (_uptime([Run(M, M + 1440, U)]), "up", "1 Oct: 100.00% up"),
        (_uptime([Run(M, M + 1439, U), Run(M + 1439, M + 1440, D)]), "mi",
         "1 Oct: 99.93% up, 1 minute down"),
        (_uptime([Run(M, M + 1428, U), Run(M + 1428, M + 1440, D)]), "ma",
         "1 Oct: 99.16% up, 12 minutes down"),
        (_uptime([Run(M, M + 1410, U), Run(M + 1410, M + 1440, G)]), "dg",
         "1 Oct: 100.00% up, 30 minutes degraded"),
        (_uptime([]), "nd", "1 Oct: no data"),
        (_uptime([Run(M, M + 720, U)]), "up", "1 Oct: 100.00% up, no data for 12 hrs"),
        (_uptime([], covered=[]), "off", "1 Oct: outside service hours"),
        (_uptime([Run(M, M + 1440, D)], maintenance=1440), "mt", "1 Oct: maintenance"),
        (_uptime([Run(M, M + 1440, U)], maintenance=120), "up m",
         "1 Oct: 100.00% up, maintenance 2 hrs"),
    ],
    ids=["all-up", "one-minute-down-within-target", "below-target", "degraded-only", "no-data",
         "half-day-without-data", "not-covered", "all-maintenance", "some-maintenance"],
)
def test_day_segment(uptime: Uptime, css: str, text: str) -> None:
    day = Day(date(2026, 10, 1), uptime)
    (seg,) = bar_segments((day,), 2, date(2026, 10, 20), formatter("en"))
    assert (seg.css, seg.label, seg.span, seg.cls) == (css, text, 1, css)


EN_GB = Locale.parse("en_GB")  # the page's English: day before month


def cldr_days(first: date, last: date, skeleton: str = "MMMd") -> str:
    """The days ``first`` to ``last`` (inclusive) as Babel writes them in en_GB: one day is the
    date, more are CLDR's interval (``23 Jul – 20 Aug``; its spacing is CLDR's, so it follows
    the Babel pinned in requirements.lock)."""
    if first == last:
        return format_skeleton(skeleton, first, locale=EN_GB)
    return format_interval(first, last, skeleton, locale=EN_GB)


def test_alike_days_are_one_segment_and_spans_add_up() -> None:
    api = sample_page().services[0]
    segs = bar_segments(api.days, 2, date(2026, 10, 20), formatter("en"))
    assert sum(s.span for s in segs) == 90
    runs = [  # css, first and last day, what they say
        ("nd", date(2026, 7, 23), date(2026, 8, 20), "no data"),
        ("up", date(2026, 8, 21), date(2026, 10, 9), "100.00% up"),
        ("ma", date(2026, 10, 10), date(2026, 10, 10), "99.16% up, 12 minutes down"),
        ("up", date(2026, 10, 11), date(2026, 10, 14), "100.00% up"),
        ("mi", date(2026, 10, 15), date(2026, 10, 15), "99.93% up, 1 minute down"),
        ("up", date(2026, 10, 16), date(2026, 10, 16), "100.00% up"),
        ("dg", date(2026, 10, 17), date(2026, 10, 17), "100.00% up, 30 minutes degraded"),
        ("up", date(2026, 10, 18), date(2026, 10, 20), "100.00% up"),
    ]
    assert [(s.css, s.span, s.label) for s in segs] == [
        (css, (last - first).days + 1, f"{cldr_days(first, last)}: {text}")
        for css, first, last, text in runs
    ]
    assert segs[0].cls == "nd w29"


def test_a_segment_names_the_year_when_it_is_not_this_year() -> None:
    runs = [Run(M, M + 1440, U)]
    days = (Day(date(2025, 12, 31), _uptime(runs)), Day(date(2026, 1, 1), _uptime(runs)))
    (seg,) = bar_segments(days, 2, date(2026, 1, 1), formatter("en"))
    when = cldr_days(date(2025, 12, 31), date(2026, 1, 1), "yMMMd")  # 31 Dec 2025 – 1 Jan 2026
    assert seg.label == f"{when}: 100.00% up"


def test_a_day_without_data_is_never_green() -> None:
    for s in sample_page().services:
        for d in s.days:
            if d.uptime.eligible_minutes == 0:
                (seg,) = bar_segments((d,), 2, date(2026, 10, 20), formatter("en"))
                assert seg.css in ("nd", "off", "mt")


# ---- locale formatting ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "value", "places", "expected"),
    [
        ("en", 99.99, 2, "99.99%"),
        ("de", 99.99, 2, "99,99\xa0%"),
        ("da", 99.99, 2, "99,99\xa0%"),
        ("it", 99.99, 2, "99,99%"),
        ("es", 99.99, 2, "99,99\xa0%"),
        ("en", 99.996, 2, "99.99%"),
        ("en", 100.0, 2, "100.00%"),
        ("en", 99.9, 0, "99%"),
        ("de", 99.995, 3, "99,995\xa0%"),
        ("en", 0.0, 2, "0.00%"),
    ],
    ids=["en", "de", "da", "it", "es", "truncated-not-rounded-up", "hundred", "no-decimals",
         "three-places", "zero"],
)
def test_percent(lang: str, value: float, places: int, expected: str) -> None:
    assert formatter(lang).percent(value, places) == expected


@pytest.mark.parametrize(
    ("target", "places"), [(99.9, 2), (99.99, 2), (99.995, 3), (99.9999, 4), (99.0, 2)],
    ids=["99.9", "99.99", "99.995", "99.9999", "99"],
)
def test_percent_places_follow_the_target(target: float, places: int) -> None:
    assert percent_places(target) == places


def test_german_page_formats_numbers_dates_and_words() -> None:
    view = index_view(sample_page(), "de")
    api = view.groups[0].services[0]
    assert api.uptime == "99,95\xa0%"
    assert api.target == "99,9\xa0%"
    assert api.verdict_label == "Erfüllt"
    assert api.bar[2].label == "10. Okt.: 99,16\xa0% verfügbar, 12 Minuten Ausfall"
    assert view.banner_text == "Teilweiser Ausfall"
    assert view.chrome.updated == "20. Okt. 2026, 14:00 MESZ"


def test_month_figures_budget_and_verdict() -> None:
    view = index_view(sample_page(), "en")
    api, web, batch = view.groups[0].services
    assert (api.uptime, api.target, api.verdict, api.verdict_label) == (
        "99.95%", "99.9%", "met", "Met")
    assert api.budget == "15 mins of error budget left"
    assert web.state == "down" and web.since == "since 20 Oct 2026, 13:55 CEST"
    assert (batch.state, batch.state_label, batch.since) == (
        "maintenance", "Under maintenance", None)
    breached = replace(sample_page().services[0],
                       month=replace(sample_page().services[0].month, uptime=_uptime(
                           [Run(M, M + 1400, U), Run(M + 1400, M + 1440, D)])))
    page = replace(sample_page(), services=(breached,))
    (svc,) = index_view(page, "en").groups[0].services
    assert (svc.verdict, svc.verdict_label) == ("breached", "Breached")
    assert svc.budget == "Error budget overspent by 38 mins"


def test_maintenance_and_outage_lists() -> None:
    view = index_view(sample_page(), "en")
    assert [(o.id, o.since) for o in view.outages] == [("web", "since 20 Oct 2026, 13:55 CEST")]
    assert [(m.title, m.active, m.status, m.when, m.services) for m in view.maintenance] == [
        ("Queue migration", True, "In progress", "20 Oct 2026, 13:00 – 15:00 CEST",
         "Batch jobs"),
        ("Database upgrade", False, "Scheduled", "23 Oct 2026, 02:00 – 04:00 CEST",
         "Website and API"),
    ]


@pytest.mark.parametrize(("start", "end", "lang", "when"), [
    (datetime(2026, 10, 25, 0, 0, tzinfo=UTC), datetime(2026, 10, 25, 1, 0, tzinfo=UTC), "en",
     "25 Oct 2026, 02:00 CEST – 02:00 CET"),
    (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 25, 2, 0, tzinfo=UTC), "de",
     "25. Okt. 2026, 02:30 MESZ – 03:00 MEZ"),
    (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), datetime(2026, 10, 25, 3, 0, tzinfo=UTC), "en",
     "25 Oct 2026, 02:30 – 04:00 CET"),
], ids=["clocks-go-back-02:00-twice", "across-the-change-de", "after-the-change"])
def test_a_window_on_the_night_the_clocks_go_back_names_both_zones(
    start: datetime, end: datetime, lang: str, when: str
) -> None:
    window = Window(id="9", kind="maintenance", services=("api",), start=start, end=end,
                    title="Patching", declared_at=None, declared_by=None)
    page = replace(sample_page(), maintenance=(window,))
    assert [m.when for m in index_view(page, lang).maintenance] == [when]


def test_language_links() -> None:
    page = sample_page()
    page = replace(page, site=replace(page.site, language="da"))
    links = index_view(page, "it").chrome.languages
    assert [(lk.lang, lk.name, lk.href, lk.current) for lk in links] == [
        ("en", "English", "index.en.html", False), ("de", "Deutsch", "index.de.html", False),
        ("da", "Dansk", "index.html", False), ("it", "Italiano", "index.it.html", True),
        ("es", "Español", "index.es.html", False),
    ]
    assert history_view(page, "da").chrome.history_href == "history.html"


def test_history_rows_and_notes() -> None:
    view = history_view(sample_page(), "en")
    api = view.services[0]
    assert [r.label for r in api.rows[:3]] == ["October 2026", "September 2026", "August 2026"]
    assert api.rows[0].to_date and not api.rows[1].to_date
    assert (api.rows[0].uptime, api.rows[0].down, api.rows[0].verdict) == ("99.95%", "13", "met")
    assert (api.rows[2].uptime, api.rows[2].verdict) == ("100.00%", "met")
    assert len(api.rows) == 3  # July and before had no data: the history starts in August
    assert api.rows[1].excluded == "60"
    assert api.notes == (
        ("September 2026", "Excluded: Upstream DNS provider outage, 8 Sept 2026, 05:00 CEST – "
                           "8 Sept 2026, 06:00 CEST: 60 minutes (declared 9 Sept 2026, "
                           "10:00 CEST)"),
    )


def test_recurring_maintenance_is_one_note_per_month() -> None:
    start = sample_page().services[0].history[0].uptime.period_start
    windows = tuple(
        Window(f"cfg-m0@{i}", "maintenance", ("api",), minute_start(start + i * 10080 + 120),
               minute_start(start + i * 10080 + 180), "Weekly patching", None, "probes.yaml")
        for i in range(4)
    )
    u = period_uptime(service="api", target=99.9, start=start, end=start + 43200,
                      covered=[(start, start + 43200)], runs=[], windows=windows)
    api = sample_page().services[0]
    page = replace(sample_page(), services=(replace(
        api, history=(replace(api.history[0], uptime=u), *api.history[1:])),))
    notes = history_view(page, "de").services[0].notes
    assert notes == (("September 2026", "Wartung „Weekly patching“: 4 Fenster, 240 Minuten "
                                        "(in der Konfiguration festgelegt)"),)


def test_today_counts_up_to_now() -> None:
    today = sample_page().services[0].days[-1]
    assert today.date == NOW.date()
    assert today.uptime.total_minutes == 14 * 60  # local midnight (22:00Z) to 12:00Z


def test_history_starts_with_the_first_month_with_data_but_keeps_a_gap() -> None:
    page = sample_page()
    api = page.services[0]
    def empty(month: Month) -> Month:
        return replace(month, uptime=replace(month.uptime, eligible_minutes=0))

    september, august = api.history[0], api.history[1]
    gap = replace(api, history=(empty(september), august, *api.history[2:]))
    (svc,) = history_view(replace(page, services=(gap,)), "en").services
    assert [r.label for r in svc.rows] == ["October 2026", "September 2026", "August 2026"]
    late = replace(api, history=(september, empty(august), *api.history[2:]))
    (svc,) = history_view(replace(page, services=(late,)), "en").services
    assert [r.label for r in svc.rows] == ["October 2026", "September 2026"]
    fresh = replace(api, month=empty(api.month), history=tuple(map(empty, api.history)))
    (svc,) = history_view(replace(page, services=(fresh,)), "en").services
    assert [r.label for r in svc.rows] == ["October 2026"]  # this month is always there


def test_since_in_probes_yaml_sets_where_the_history_starts() -> None:
    page = sample_page()
    api = page.services[0]
    (svc,) = history_view(replace(page, services=(
        replace(api, history_from=date(2026, 8, 20)),)), "en").services
    assert [r.label for r in svc.rows] == ["October 2026", "September 2026", "August 2026"]
    empty = replace(api.history[0], uptime=replace(api.history[0].uptime, eligible_minutes=0))
    quiet = replace(api, history=(empty, *api.history[1:]), history_from=date(2026, 9, 1))
    (svc,) = history_view(replace(page, services=(quiet,)), "en").services
    assert [r.label for r in svc.rows] == ["October 2026", "September 2026"]  # shown, no data
    (svc,) = history_view(replace(page, services=(
        replace(api, history_from=date(2027, 1, 1)),)), "en").services
    assert [r.label for r in svc.rows] == ["October 2026"]  # this month is always there
    assert parse_config("services:\n  - {name: a, url: 'http://127.0.0.1/', since: 2026-09-01}"
                        ).services[0].since == date(2026, 9, 1)
    with pytest.raises(ConfigError, match="since: expected a date like 2026-09-01, got \"soon\""):
        parse_config("services:\n  - {name: a, url: 'http://127.0.0.1/', since: soon}")


@pytest.mark.parametrize(("eligible", "down", "expected"), [
    (1, 0, "No downtime allowed yet"),  # 99.9 %: 0.06 s of budget
    (16, 0, "No downtime allowed yet"),  # 0.96 s
    (17, 0, "1 sec of error budget left"),  # 1.02 s: a whole second
    (1, 1, "Error budget overspent by 59 secs"),
])
def test_the_budget_reads_right_at_the_start_of_a_month(eligible: int, down: int,
                                                        expected: str) -> None:
    page = sample_page()
    api = page.services[0]
    target = api.target
    budget = eligible * (100 - target) / 100
    uptime = replace(api.month.uptime, eligible_minutes=eligible, down_minutes=down,
                     budget_minutes=budget, budget_remaining_minutes=budget - down)
    svc = replace(api, month=replace(api.month, uptime=uptime))
    (view,) = index_view(replace(page, services=(svc,)), "en").groups[0].services
    assert view.budget == expected


def test_the_days_with_something_to_tell_are_listed_newest_first() -> None:
    view = index_view(sample_page(), "en")
    api, web, batch = view.groups[0].services
    assert [(d.label, d.summary) for d in api.day_details] == [
        ("17 Oct 2026", "100.00% up, 30 minutes degraded"),
        ("15 Oct 2026", "99.93% up, 1 minute down"),
        ("10 Oct 2026", "99.16% up, 12 minutes down"),
        ("8 Sept 2026", "100.00% up"),
    ]
    assert [(i.title, i.href) for i in api.day_details[2].incidents] == [
        ("API outage", "history.html#incident-1")]
    assert api.day_details[3].windows == (
        "Excluded “Upstream DNS provider outage”: 60 minutes",)
    assert batch.day_details[0].windows == ("Maintenance “Queue migration”: 60 minutes",)
    (docs,) = view.groups[1].services
    assert docs.day_details == ()  # nothing happened: no list at all
    german = index_view(sample_page(), "de").groups[0].services[0].day_details[3]
    assert german.windows == ("Ausgenommen „Upstream DNS provider outage“: 60 Minuten",)
