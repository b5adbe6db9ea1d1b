"""Range arithmetic over epoch minutes: tables for the edges, sets as the oracle."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.checks import State
from monitor.core.intervals import Ranges, intersect, normalize, runs_in, subtract, total
from monitor.core.minutes import Run

U, G, D = State.UP, State.DEGRADED, State.DOWN


@pytest.mark.parametrize(
    ("given_", "expected"),
    [
        ([], []),
        ([(5, 5)], []),
        ([(7, 3)], []),
        ([(3, 5), (0, 2)], [(0, 2), (3, 5)]),
        ([(0, 2), (2, 4)], [(0, 4)]),
        ([(0, 5), (1, 2)], [(0, 5)]),
        ([(0, 3), (2, 6), (10, 12), (11, 11)], [(0, 6), (10, 12)]),
    ],
    ids=["empty", "zero-width", "reversed", "sorts", "touching-merge", "contained",
         "overlap-and-gap"],
)
def test_normalize(given_: Ranges, expected: Ranges) -> None:
    assert normalize(given_) == expected


@pytest.mark.parametrize(
    ("a", "b", "inter", "minus"),
    [
        ([], [(0, 5)], [], []),
        ([(0, 10)], [], [], [(0, 10)]),
        ([(0, 10)], [(3, 5)], [(3, 5)], [(0, 3), (5, 10)]),
        ([(0, 10)], [(0, 10)], [(0, 10)], []),
        ([(0, 5)], [(5, 9)], [], [(0, 5)]),
        ([(0, 5)], [(-3, 2)], [(0, 2)], [(2, 5)]),
        ([(0, 4), (6, 10)], [(2, 8)], [(2, 4), (6, 8)], [(0, 2), (8, 10)]),
        ([(0, 20)], [(1, 2), (4, 5), (19, 25)], [(1, 2), (4, 5), (19, 20)],
         [(0, 1), (2, 4), (5, 19)]),
    ],
    ids=["a-empty", "b-empty", "hole", "equal", "touching", "left-overhang", "bridge",
         "many-holes"],
)
def test_set_operations(a: Ranges, b: Ranges, inter: Ranges, minus: Ranges) -> None:
    assert intersect(a, b) == inter
    assert subtract(a, b) == minus
    assert total(inter) + total(minus) == total(a)


RUNS = [Run(0, 10, U), Run(10, 12, D), Run(15, 20, G), Run(20, 30, D)]


@pytest.mark.parametrize(
    ("r", "state", "expected"),
    [
        ([(0, 100)], D, 12),
        ([(0, 100)], U, 10),
        ([(0, 100)], G, 5),
        ([(11, 21)], D, 2),
        ([(12, 15)], D, 0),
        ([(0, 11), (25, 26), (29, 40)], D, 3),
        ([], D, 0),
    ],
    ids=["all-down", "all-up", "all-degraded", "straddles-two-runs", "in-nodata-gap",
         "several-ranges", "no-ranges"],
)
def test_runs_in(r: Ranges, state: State, expected: int) -> None:
    assert runs_in(RUNS, r, state) == expected


def _as_set(r: Ranges) -> set[int]:
    return {m for lo, hi in r for m in range(lo, hi)}


_raw = st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), max_size=8)


@settings(max_examples=150, deadline=None)
@given(_raw, _raw)
def test_against_sets(raw_a: list[tuple[int, int]], raw_b: list[tuple[int, int]]) -> None:
    a, b = normalize(raw_a), normalize(raw_b)
    sa, sb = _as_set(a), _as_set(b)
    assert _as_set(a) == {m for lo, hi in raw_a for m in range(lo, hi)}
    assert all(x[1] < y[0] for x, y in zip(a, a[1:], strict=False))
    assert _as_set(intersect(a, b)) == sa & sb
    assert _as_set(subtract(a, b)) == sa - sb
    assert total(a) == len(sa)
    for res in (intersect(a, b), subtract(a, b)):
        assert res == normalize(res)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 6), st.sampled_from([U, G, D])), max_size=10),
    _raw,
)
def test_runs_in_against_minutes(lengths: list[tuple[int, State]],
                                 raw_r: list[tuple[int, int]]) -> None:
    runs, at = [], 0
    for n, s in lengths:
        runs.append(Run(at, at + n, s))
        at += n + (n % 3)  # some gaps
    r = normalize(raw_r)
    inside = _as_set(r)
    for s in (U, G, D):
        want = sum(1 for run in runs if run.state == s for m in range(run.start, run.end)
                   if m in inside)
        assert runs_in(runs, r, s) == want
