"""The status page with several locations: the state now is the quorum's, each service says
which locations see it failing, and a location that sends nothing gets a quiet line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.config import parse_config
from monitor.core.checks import CheckResult, ErrorKind, Observation, State
from monitor.core.clock import FakeClock
from monitor.store.ledger import Ledger
from statuspage.data import gather
from statuspage.render import render_files
from statuspage.views import index_view, service_charts

NOW = datetime(2026, 10, 10, 10, 0, 30, tzinfo=UTC)
CONFIG = parse_config("""
site: {title: Example, language: en}
location: fra
locations:
  - {name: fra, title: Frankfurt}
  - {name: cph, title: Copenhagen}
  - {name: mad, title: Madrid}
services:
  - {name: api, title: API, url: "https://api.example.com/", interval: 60s}
  - {name: web, title: Web, url: "https://www.example.com/", interval: 60s}
""")


def check(service: str, location: str, ok: bool, ago: timedelta = timedelta(seconds=20)
          ) -> Observation:
    r = CheckResult(service, NOW - ago, ok, 20.0 if ok else None, 200 if ok else 503,
                    None if ok else ErrorKind.HTTP_STATUS, location=location)
    return Observation(r, r.state(None), 60_000)


def ledger_with(tmp_path: Path, *observations: Observation) -> Ledger:
    ledger = Ledger(tmp_path / "l.db", clock=FakeClock(NOW))
    ledger.record(sorted(observations, key=lambda o: o.result.time))
    return ledger


def test_the_state_now_is_the_quorums_and_the_page_says_where_it_fails(
    tmp_path: Path
) -> None:
    ledger = ledger_with(tmp_path,
                         check("api", "fra", False), check("api", "cph", False),
                         check("api", "mad", True),
                         check("web", "fra", False), check("web", "cph", True),
                         check("web", "mad", True))
    data = gather(CONFIG, ledger, NOW)
    api, web = data.services
    assert (api.state, web.state) == (State.DOWN, State.UP)  # web: fra alone sees it fail
    assert [(w.name, w.state) for w in web.locations] == [
        ("fra", State.DOWN), ("cph", State.UP), ("mad", State.UP)]
    assert data.silent_locations == ()
    groups = index_view(data, "en").groups
    views = {s.id: s for g in groups for s in g.services}
    assert views["api"].where == "Down from Frankfurt and Copenhagen; up from Madrid"
    assert views["web"].where == "Down from Frankfurt; up from Copenhagen and Madrid"
    de = {s.id: s for g in index_view(data, "de").groups for s in g.services}
    assert de["api"].where == ("Ausgefallen aus Sicht von Frankfurt und Copenhagen; "
                               "erreichbar aus Sicht von Madrid")
    html = render_files(data)["index.html"]
    assert "Down from Frankfurt and Copenhagen; up from Madrid" in html


def test_a_location_that_sends_nothing_gets_a_quiet_line(tmp_path: Path) -> None:
    late = timedelta(minutes=30)
    ledger = ledger_with(tmp_path,
                         check("api", "fra", True), check("api", "cph", True),
                         check("api", "mad", True, ago=late),
                         check("web", "fra", True), check("web", "cph", True),
                         check("web", "mad", True, ago=late))
    data = gather(CONFIG, ledger, NOW)
    assert data.silent_locations == ("Madrid",)
    assert [s.state for s in data.services] == [State.UP, State.UP]  # 2 of 3: no outage left
    view = index_view(data, "en")
    assert view.silent == ("No recent results from Madrid: the figures are counted from the "
                           "other locations.")
    assert {s.where for g in view.groups for s in g.services} == {
        "No data from Madrid; up from Frankfurt and Copenhagen"}


def test_all_locations_up_says_nothing_more(tmp_path: Path) -> None:
    ledger = ledger_with(tmp_path, *(check(s, loc, True) for s in ("api", "web")
                                     for loc in ("fra", "cph", "mad")))
    view = index_view(gather(CONFIG, ledger, NOW), "en")
    assert view.silent is None
    assert {s.where for g in view.groups for s in g.services} == {None}


def test_the_page_as_of_a_time_takes_no_check_after_it(tmp_path: Path) -> None:
    """``build-page --at``: checks later than the page's time do not decide its state."""
    later = -timedelta(seconds=90)  # 90 s after NOW
    ledger = ledger_with(tmp_path, *(check("api", loc, loc == "mad") for loc in
                                     ("fra", "cph", "mad")),
                         *(check("api", loc, True, ago=later) for loc in ("fra", "cph", "mad")))
    api = gather(CONFIG, ledger, NOW).services[0]
    assert api.state == State.DOWN
    assert [w.state for w in api.locations] == [State.DOWN, State.DOWN, State.UP]


def test_each_location_draws_its_median_in_the_charts_and_json(tmp_path: Path) -> None:
    def timed(location: str, ms: float, ago: timedelta) -> Observation:
        r = CheckResult("api", NOW - ago, True, ms, 200, None, location=location)
        return Observation(r, r.state(None), 60_000)

    ledger = ledger_with(tmp_path, *(timed(loc, ms, timedelta(minutes=m))
                                     for loc, ms in (("fra", 20.0), ("cph", 80.0))
                                     for m in (130, 70, 10)))
    data = gather(CONFIG, ledger, NOW)
    api, web = data.services
    assert [loc.title for loc in api.latency_locations] == ["Frankfurt", "Copenhagen"]
    assert web.latency_locations == ()  # nobody measured it: no lines
    hours = api.latency_locations[1].hours
    assert [p.count for p in hours] == [1, 1, 1] and all(p.p50_ms > 60 for p in hours)
    day, month = service_charts(api, NOW, "en")
    assert [name for name, _ in day.legend] == ["Frankfurt", "Copenhagen"]
    assert day.summary.endswith("; median by location: Frankfurt 19 ms, Copenhagen 79 ms")
    assert day.svg.count('class="loc"') == 2 and 'stroke-dasharray="1 2"' in day.svg
    files = render_files(data, ["en"])
    assert 'class="kloc"' in files["index.html"] and "Copenhagen</span>" in files["index.html"]
    assert "locations" in files["services/api.json"]
    assert '"location":"Copenhagen"' in files["services/api.json"]
    assert "locations" not in files["services/web.json"]
    ledger.close()
