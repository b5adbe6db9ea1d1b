"""The incident detector: simulated outages minute by minute, and the events it returns."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.core.checks import State
from monitor.core.incidents import Impact, IncidentPolicy
from monitor.incidents.detection import Detector, OpenIncident
from monitor.times import minute_start

U, G, D, N = State.UP, State.DEGRADED, State.DOWN, State.NODATA
T0 = datetime(2026, 10, 1, 10, 0, tzinfo=UTC)
M0 = int(T0.timestamp()) // 60
CHARS = {"u": U, "g": G, "d": D, ".": N, " ": None}


def run(script: dict[str, str], *, detector: Detector | None = None,
        take_over_at: int | None = None) -> list[tuple[str, int, tuple[str, ...], str]]:
    """Feed one character per minute per service ("u" up, "g" degraded, "d" down, "." nodata,
    " " nothing); now is the end of each minute. Events as (kind, minute offset, services,
    impact); ``state`` events are left out."""
    det = detector or Detector(IncidentPolicy(), sorted(script))
    out = []
    for i in range(max(len(s) for s in script.values())):
        now = minute_start(M0 + i + 1)
        if take_over_at == i and det.open_incident is not None:
            det.take_over(det.open_incident.key)
        events = []
        for name, states in sorted(script.items()):
            state = CHARS[states[i]] if i < len(states) else None
            if state is not None:
                events += det.observe(name, M0 + i, state, now)
        events += det.tick(now)
        out += [(e.kind, int(e.at.timestamp()) // 60 - M0, e.services, e.impact.value)
                for e in events if e.kind != "state"]
    return out


A = ("api",)
CASES = [
    ("one_bad_minute_is_no_incident", {"api": "uduuuuuuuu", "web": "uuuuuuuuuu"}, []),
    ("two_down_minutes_open_a_major_incident", {"api": "uddu", "web": "uuuu"},
     [("opened", 1, A, "major"), ("recovered", 3, A, "major")]),
    ("resolved_resolve_after_minutes_after_recovery",
     {"api": "udduuuuuuu", "web": "uuuuuuuuuu"},
     [("opened", 1, A, "major"), ("recovered", 3, A, "major"), ("resolved", 8, A, "major")]),
    ("degraded_is_minor", {"api": "ugguuuuuuu", "web": "uuuuuuuuuu"},
     [("opened", 1, A, "minor"), ("recovered", 3, A, "minor"), ("resolved", 8, A, "minor")]),
    ("degraded_then_down_escalates", {"api": "ggdduuuuuuu", "web": "uuuuuuuuuuu"},
     [("opened", 0, A, "minor"), ("escalated", 2, A, "major"), ("recovered", 4, A, "major"),
      ("resolved", 9, A, "major")]),
    ("all_down_is_critical", {"api": "udddu", "web": "uuddu"},
     [("opened", 1, A, "major"), ("escalated", 3, ("api", "web"), "critical"),
      ("recovered", 4, ("api", "web"), "critical"), ("recovered", 4, ("api", "web"),
                                                     "critical")]),
    ("flapping_continues_the_open_incident",
     {"api": "dduuduuduuuuuuu", "web": "uuuuuuuuuuuuuuu"},
     [("opened", 0, A, "major"), ("recovered", 2, A, "major"), ("recovered", 5, A, "major"),
      ("recovered", 8, A, "major"), ("resolved", 13, A, "major")]),
    ("nodata_neither_opens_nor_recovers", {"api": "d.d.d.uuuuuu", "web": "uuuuuuuuuuuu"},
     []),
    ("nodata_holds_resolution_back", {"api": "dd......uuuuuu", "web": "uuuuuuuuuuuuuu"},
     [("opened", 0, A, "major"), ("recovered", 8, A, "major"), ("resolved", 13, A, "major")]),
    ("a_second_incident_after_resolution", {"api": "dduuuuuudd", "web": "uuuuuuuuuu"},
     [("opened", 0, A, "major"), ("recovered", 2, A, "major"), ("resolved", 7, A, "major"),
      ("opened", 8, A, "major")]),
]


@pytest.mark.parametrize(("script", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_lifecycle(script: dict[str, str], expected: list[tuple[object, ...]]) -> None:
    assert run(script) == expected


def test_a_person_taking_over_stops_automatic_resolution() -> None:
    script = {"api": "dduuuuuuuuuuu", "web": "uuuuuuuuuuuuu"}
    events = run(script, take_over_at=2)
    assert [e[0] for e in events] == ["opened", "recovered"]


def test_closed_by_a_person_then_a_new_failure_opens_a_new_incident() -> None:
    det = Detector(IncidentPolicy(), ["api"])
    run({"api": "ddd"}, detector=det)
    first = det.open_incident
    assert first is not None and first.impact == Impact.CRITICAL  # the only service is down
    det.closed(first.key)
    assert det.observe("api", M0 + 3, D, minute_start(M0 + 4)) == []  # a new streak
    events = det.observe("api", M0 + 4, D, minute_start(M0 + 5))
    assert [e.kind for e in events] == ["opened"]
    assert det.open_incident is not None and det.open_incident.key == f"auto-{M0 + 3}"


def test_resumed_from_a_stored_open_incident() -> None:
    stored = OpenIncident("auto-1", ("api",), Impact.MAJOR)
    det = Detector(IncidentPolicy(resolve_after=2), ["api", "web"], stored)
    assert run({"api": "uuuu", "web": "uuuu"}, detector=det) == [
        ("recovered", 0, A, "major"), ("resolved", 2, A, "major")]


def test_events_name_the_severity_and_state_changes() -> None:
    policy = IncidentPolicy(open_after=1, severities={Impact.MAJOR: "P2",
                                                      Impact.MINOR: "P3"})
    det = Detector(policy, ["api", "web"])
    assert det.observe("api", M0, U, minute_start(M0 + 1)) == []  # first seen: no "change"
    events = det.observe("api", M0 + 1, D, minute_start(M0 + 2))
    assert [(e.kind, e.service, e.state, e.previous) for e in events] == [
        ("state", "api", D, U), ("opened", "api", D, None)]
    assert events[1].severity == "P2" and events[1].key == f"auto-{M0 + 1}"


def test_no_state_events_from_unknown_after_a_start_or_a_gap() -> None:
    det = Detector(IncidentPolicy(open_after=3), ["api", "web"])
    # a (re)start: every service's first state is news to nobody
    assert det.observe("web", M0, U, minute_start(M0 + 1)) == []
    assert det.observe("api", M0, D, minute_start(M0 + 1)) == []
    # a known change is news
    assert [e.kind for e in det.observe("web", M0 + 1, D, minute_start(M0 + 2))] == ["state"]


def test_repeats_in_a_minute_take_the_worst_and_late_minutes_are_ignored() -> None:
    det = Detector(IncidentPolicy(), ["api"])
    det.observe("api", M0, D, minute_start(M0 + 1))
    det.observe("api", M0, U, minute_start(M0 + 1))  # the same minute: still down
    assert [e.kind for e in det.observe("api", M0 + 1, D, minute_start(M0 + 2))] == ["opened"]
    assert det.observe("api", M0 - 5, U, minute_start(M0 + 2)) == []


@pytest.mark.parametrize(("open_after", "resolve_after"), [(0, 5), (2, -1)],
                         ids=["open_after_zero", "resolve_after_negative"])
def test_bad_policy_is_refused(open_after: int, resolve_after: int) -> None:
    with pytest.raises(ValueError, match="open_after must be >= 1"):
        Detector(IncidentPolicy(open_after=open_after, resolve_after=resolve_after), ["api"])
