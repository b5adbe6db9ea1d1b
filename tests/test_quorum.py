"""The quorum rule of docs/sla.md ("Several locations") on the pure fold.

The property tests compare :func:`quorum_runs` with a minute-by-minute reference written here
from the rule's words, sharing no code with ``monitor/core/quorum.py``.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.checks import State
from monitor.core.minutes import Run
from monitor.core.quorum import default_quorum, minute_state, quorum_runs

N, U, G, D = State.NODATA, State.UP, State.DEGRADED, State.DOWN


@pytest.mark.parametrize(
    ("n", "expected"), [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3), (6, 4), (7, 4)]
)
def test_default_quorum_is_a_strict_majority(n: int, expected: int) -> None:
    assert default_quorum(n) == expected


@pytest.mark.parametrize("n", [0, -1])
def test_default_quorum_needs_a_location(n: int) -> None:
    with pytest.raises(ValueError, match="at least one location"):
        default_quorum(n)


def states(*minute: State) -> tuple[int, int, int]:
    """(down, degraded, nodata) counts of one minute's per-location states."""
    return minute.count(D), minute.count(G), minute.count(N)


MINUTES = [
    # n = 1, q = 1: the identity
    pytest.param((U,), 1, U, id="n1-up"),
    pytest.param((G,), 1, G, id="n1-degraded"),
    pytest.param((D,), 1, D, id="n1-down"),
    pytest.param((N,), 1, N, id="n1-nodata"),
    # n = 2
    pytest.param((D, U), 2, U, id="n2-q2-one-down-is-up"),
    pytest.param((D, D), 2, D, id="n2-q2-both-down"),
    pytest.param((N, U), 2, U, id="n2-q2-one-silent-one-up"),
    pytest.param((N, D), 2, N, id="n2-q2-down-and-silent-undecidable"),
    pytest.param((N, N), 2, N, id="n2-q2-all-nodata"),
    pytest.param((G, U), 2, U, id="n2-q2-one-degraded-is-up"),
    pytest.param((G, D), 2, G, id="n2-q2-degraded-and-down"),
    pytest.param((D, U), 1, D, id="n2-q1-any-down"),
    pytest.param((N, U), 1, N, id="n2-q1-one-silent-could-be-down"),
    pytest.param((N, N), 1, N, id="n2-q1-all-nodata"),
    pytest.param((G, U), 1, G, id="n2-q1-any-degraded"),
    # n = 3, q = 2 (the default): the examples of the issue
    pytest.param((D, U, U), 2, U, id="n3-1-of-3-down-is-up"),
    pytest.param((D, D, U), 2, D, id="n3-2-of-3-down-is-down"),
    pytest.param((D, N, U), 2, N, id="n3-1-down-1-nodata-is-nodata"),
    pytest.param((G, D, U), 2, G, id="n3-1-degraded-1-down-is-degraded"),
    pytest.param((N, U, U), 2, U, id="n3-1-silent-2-up"),
    pytest.param((N, N, U), 2, N, id="n3-2-silent-never-up"),
    pytest.param((N, N, N), 2, N, id="n3-all-nodata"),
    pytest.param((D, D, D), 2, D, id="n3-all-down"),
    pytest.param((G, G, U), 2, G, id="n3-2-degraded"),
    pytest.param((G, N, U), 2, U, id="n3-1-degraded-1-silent"),
    pytest.param((D, G, N), 2, N, id="n3-nodata-wins-over-degraded"),
    # n = 3, q = n and q = 1
    pytest.param((D, D, U), 3, U, id="n3-q3-2-down-is-up"),
    pytest.param((D, D, D), 3, D, id="n3-q3-all-down"),
    pytest.param((D, D, N), 3, N, id="n3-q3-2-down-1-silent"),
    pytest.param((N, U, U), 3, U, id="n3-q3-1-silent"),
    pytest.param((D, U, U), 1, D, id="n3-q1-one-down"),
    pytest.param((N, U, U), 1, N, id="n3-q1-one-silent-could-be-down"),
    pytest.param((N, N, N), 1, N, id="n3-q1-all-nodata"),
    # n = 4, q = 3 (the default)
    pytest.param((D, D, U, U), 3, U, id="n4-2-down-is-up"),
    pytest.param((D, D, D, U), 3, D, id="n4-3-down"),
    pytest.param((D, D, N, U), 3, N, id="n4-2-down-1-silent"),
    pytest.param((N, N, U, U), 3, U, id="n4-2-silent-2-up"),
    pytest.param((N, N, N, U), 3, N, id="n4-3-silent"),
    pytest.param((G, D, D, U), 3, G, id="n4-2-down-1-degraded"),
    pytest.param((D, D, D, D), 4, D, id="n4-q4-all-down"),
    pytest.param((D, D, D, U), 4, U, id="n4-q4-3-down-is-up"),
    # n = 5, q = 3 (the default), q = 5 and q = 1
    pytest.param((D, D, U, U, U), 3, U, id="n5-2-down-is-up"),
    pytest.param((D, D, D, U, U), 3, D, id="n5-3-down"),
    pytest.param((D, D, N, U, U), 3, N, id="n5-2-down-1-silent"),
    pytest.param((D, N, N, U, U), 3, N, id="n5-1-down-2-silent"),
    pytest.param((N, N, U, U, U), 3, U, id="n5-2-silent-3-up"),
    pytest.param((G, G, D, U, U), 3, G, id="n5-2-degraded-1-down"),
    pytest.param((G, G, N, U, U), 3, U, id="n5-2-degraded-1-silent"),
    pytest.param((N, N, N, N, N), 3, N, id="n5-all-nodata"),
    pytest.param((D, D, D, D, N), 5, N, id="n5-q5-4-down-1-silent"),
    pytest.param((D, D, D, D, U), 5, U, id="n5-q5-4-down-1-up"),
    pytest.param((D, D, D, D, D), 5, D, id="n5-q5-all-down"),
    pytest.param((N, U, U, U, U), 1, N, id="n5-q1-one-silent-could-be-down"),
    pytest.param((G, U, U, U, U), 1, G, id="n5-q1-one-degraded"),
    pytest.param((N, N, N, N, N), 1, N, id="n5-q1-all-nodata"),
]


@pytest.mark.parametrize(("minute", "quorum", "expected"), MINUTES)
def test_minute_state(minute: tuple[State, ...], quorum: int, expected: State) -> None:
    down, degraded, nodata = states(*minute)
    assert minute_state(down, degraded, nodata, quorum) is expected


def test_minute_state_refuses_a_quorum_below_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        minute_state(0, 0, 0, 0)


FOLDS = [
    pytest.param([[]], None, [], id="one-location-no-runs"),
    pytest.param([[], [], []], None, [], id="three-locations-no-runs"),
    pytest.param(
        [[Run(0, 5, U), Run(5, 8, U), Run(10, 12, D)]],
        None,
        [Run(0, 8, U), Run(10, 12, D)],
        id="one-location-is-the-input-coalesced",
    ),
    pytest.param(
        [[Run(0, 10, U)], [Run(0, 10, U)], [Run(0, 10, U)]],
        None,
        [Run(0, 10, U)],
        id="all-up",
    ),
    pytest.param(
        [[Run(0, 10, U)], [Run(0, 10, U)], [Run(0, 3, U), Run(3, 6, D), Run(6, 10, U)]],
        None,
        [Run(0, 10, U)],
        id="one-location-alone-never-makes-an-outage",
    ),
    pytest.param(
        [[Run(0, 10, U)], [Run(0, 4, U), Run(4, 8, D), Run(8, 10, U)],
         [Run(0, 6, D), Run(6, 10, U)]],
        None,
        [Run(0, 4, U), Run(4, 6, D), Run(6, 10, U)],
        id="two-of-three-down-overlap",
    ),
    pytest.param(
        [[Run(0, 10, U)], [Run(0, 3, U), Run(3, 10, D)], [Run(0, 5, U)]],
        None,
        [Run(0, 5, U)],
        id="down-plus-silent-is-nodata",
    ),
    pytest.param(
        [[Run(0, 10, U)], [Run(0, 10, U)], []],
        None,
        [Run(0, 10, U)],
        id="one-silent-prober-changes-nothing",
    ),
    pytest.param(
        [[Run(0, 10, U)], [], []],
        None,
        [],
        id="two-silent-probers-leave-nodata",
    ),
    pytest.param(
        [[Run(0, 10, G)], [Run(0, 5, D), Run(5, 10, U)], [Run(0, 10, U)]],
        None,
        [Run(0, 5, G), Run(5, 10, U)],
        id="degraded-plus-down-is-degraded",
    ),
    pytest.param(
        [[Run(0, 10, U)], [Run(2, 10, U)], [Run(0, 4, D), Run(4, 10, U)]],
        3,
        [Run(0, 10, U)],
        id="q3-one-up-location-rules-out-an-outage",
    ),
    pytest.param(
        [[Run(0, 30, U)], [Run(0, 20, U), Run(20, 30, D)], [Run(0, 30, U)]],
        1,
        [Run(0, 20, U), Run(20, 30, D)],
        id="q1-any-location-down-is-down",
    ),
    pytest.param(
        [[Run(0, 10, U)], [Run(0, 30, U)], [Run(0, 30, U)]],
        1,
        [Run(0, 10, U)],
        id="q1-any-silent-location-is-nodata",
    ),
    pytest.param(
        [[Run(0, 10, U), Run(12, 20, U)], [Run(0, 20, U)], [Run(5, 15, D)]],
        None,
        [Run(0, 10, U), Run(12, 20, U)],
        id="gap-in-one-location-during-anothers-outage",
    ),
    pytest.param(
        [[Run(0, 3, U), Run(3, 6, G), Run(6, 9, U)], [Run(0, 3, G), Run(3, 9, U)],
         [Run(0, 9, U)]],
        None,
        [Run(0, 9, U)],
        id="degraded-at-different-locations-in-turn-is-up",
    ),
    pytest.param(
        [[Run(0, 3, U), Run(3, 6, G), Run(6, 9, U)], [Run(0, 3, G), Run(3, 9, U)],
         [Run(0, 9, U)]],
        1,
        [Run(0, 6, G), Run(6, 9, U)],
        id="q1-degraded-anywhere-is-degraded",
    ),
]


@pytest.mark.parametrize(("per_location", "quorum", "expected"), FOLDS)
def test_quorum_runs(
    per_location: list[list[Run]], quorum: int | None, expected: list[Run]
) -> None:
    assert quorum_runs(per_location, quorum) == expected


@pytest.mark.parametrize(
    ("per_location", "quorum", "message"),
    [
        ([], None, "at least one location"),
        ([], 1, "at least one location"),
        ([[]], 0, "between 1 and the number of locations"),
        ([[], [], []], 4, r"between 1 and the number of locations \(3\), got 4"),
        ([[], []], -1, "between 1 and the number of locations"),
        ([[Run(0, 5, U), Run(3, 8, D)], []], None, "overlap"),
        ([[Run(5, 8, U), Run(0, 3, D)]], None, "not sorted"),
    ],
    ids=["no-locations", "no-locations-explicit-q", "q0", "q-above-n", "q-negative",
         "overlapping-runs", "unsorted-runs-one-location"],
)
def test_quorum_runs_refuses(
    per_location: list[list[Run]], quorum: int | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        quorum_runs(per_location, quorum)


# --- Properties against a minute-by-minute reference ------------------------------------------

SPAN = 60  # minutes 0..59


def reference(per_location: list[list[Run]], quorum: int) -> list[Run]:
    """The rule written out again, one minute at a time."""
    n = len(per_location)
    maps: list[dict[int, State]] = []
    for runs in per_location:
        by_minute: dict[int, State] = {}
        for r in runs:
            for m in range(r.start, r.end):
                by_minute[m] = r.state
        maps.append(by_minute)
    folded: dict[int, State] = {}
    for m in range(SPAN):
        seen = [by_minute.get(m, State.NODATA) for by_minute in maps]
        down = sum(1 for s in seen if s == State.DOWN)
        degraded = sum(1 for s in seen if s == State.DEGRADED)
        nodata = sum(1 for s in seen if s == State.NODATA)
        assert down + degraded + nodata <= n
        if down >= quorum:
            folded[m] = State.DOWN
        elif down + nodata >= quorum:
            pass  # undecidable: nodata, not stored
        elif down + degraded >= quorum:
            folded[m] = State.DEGRADED
        else:
            folded[m] = State.UP
    return runs_of(folded)


def runs_of(by_minute: dict[int, State]) -> list[Run]:
    """Maximal runs of equal state (by hand, not with ``coalesce``)."""
    out: list[Run] = []
    start = state = None
    for m in range(SPAN + 1):
        s = by_minute.get(m)
        if s != state:
            if state is not None and start is not None:
                out.append(Run(start, m, state))
            start, state = m, s
    return out


@st.composite
def location_runs(draw: st.DrawFn) -> list[Run]:
    """A sorted, non-overlapping run list in [0, SPAN): maybe touching runs of one state
    (stored runs are coalesced, but the fold must not depend on it), maybe gaps."""
    cuts = sorted(draw(st.sets(st.integers(0, SPAN), max_size=16)))
    runs = []
    for lo, hi in zip(cuts, cuts[1:], strict=False):
        state = draw(st.sampled_from([N, U, G, D]))  # N here means: a gap
        if state != N:
            runs.append(Run(lo, hi, state))
    return runs


@st.composite
def locations_and_quorum(draw: st.DrawFn) -> tuple[list[list[Run]], int]:
    per_location = draw(st.lists(location_runs(), min_size=1, max_size=5))
    return per_location, draw(st.integers(1, len(per_location)))


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(locations_and_quorum())
def test_quorum_runs_matches_minute_by_minute_reference(
    case: tuple[list[list[Run]], int],
) -> None:
    per_location, quorum = case
    assert quorum_runs(per_location, quorum) == reference(per_location, quorum)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.lists(location_runs(), min_size=1, max_size=5))
def test_default_quorum_matches_reference(per_location: list[list[Run]]) -> None:
    majority = len(per_location) // 2 + 1
    assert quorum_runs(per_location) == reference(per_location, majority)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(location_runs())
def test_one_location_is_its_own_runs_coalesced(runs: list[Run]) -> None:
    by_minute = {m: r.state for r in runs for m in range(r.start, r.end)}
    assert quorum_runs([runs]) == runs_of(by_minute)
    assert quorum_runs([runs], 1) == runs_of(by_minute)
