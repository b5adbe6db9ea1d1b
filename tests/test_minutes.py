"""The minute rules of DESIGN.md on the pure fold."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.checks import State
from monitor.core.minutes import MinuteFolder, Run, carry_count, coalesce, fold, merge_worst

U, G, D = State.UP, State.DEGRADED, State.DOWN
T0 = int(datetime(2026, 10, 1, 10, 0, tzinfo=UTC).timestamp() * 1000)
M0 = T0 // 60_000


def at(minutes: float) -> int:
    return T0 + int(minutes * 60_000)


@pytest.mark.parametrize(
    ("offset_ms", "interval_s", "expected"),
    [
        (0, 60, 1),  # DESIGN.md: 10:00:00 carries into 10:01 only
        (500, 60, 2),  # 10:00:00.5: 10:02 began 119.5 s after it, less than two intervals
        (59_999, 60, 2),
        (0, 30, 0),  # 10:01 begins exactly two intervals later: not less
        (1, 30, 1),
        (0, 300, 9),  # 5-minute interval: 10:01..10:09
        (0, 1, 0),
    ],
    ids=["60s-on-minute", "60s-half-second-late", "60s-end-of-minute", "30s-exact-edge",
         "30s-just-after", "5m", "1s"],
)
def test_carry_count(offset_ms: int, interval_s: int, expected: int) -> None:
    assert carry_count(T0 + offset_ms, interval_s * 1000) == expected


CASES = [
    pytest.param(
        [(at(0), U, 60), (at(5), U, 60)],
        [Run(M0, M0 + 2, U), Run(M0 + 5, M0 + 7, U)],
        id="design-example-60s-gap-is-nodata",
    ),
    pytest.param(
        [(at(0), U, 30), (at(0.5), D, 30), (at(1), U, 30)],
        [Run(M0, M0 + 1, D), Run(M0 + 1, M0 + 2, U)],
        id="30s-one-failure-makes-the-minute-down",
    ),
    pytest.param(
        [(at(0), D, 300), (at(5), U, 300)],
        [Run(M0, M0 + 5, D), Run(M0 + 5, M0 + 15, U)],
        id="5m-carry-until-next-check",
    ),
    pytest.param(
        [(at(0), U, 300), (at(15), U, 300)],
        [Run(M0, M0 + 10, U), Run(M0 + 15, M0 + 25, U)],
        id="5m-missed-checks-nodata-edge",
    ),
    pytest.param(
        [(at(0.75), U, 30), (at(0.25), G, 30)],
        [Run(M0, M0 + 1, G), Run(M0 + 1, M0 + 2, U)],
        id="out-of-order-within-minute-carries-latest-not-worst",
    ),
]


@pytest.mark.parametrize(("checks", "expected"), CASES)
def test_fold(checks: list[tuple[int, State, int]], expected: list[Run]) -> None:
    assert fold([(t, s, i * 1000) for t, s, i in checks]) == expected


def test_folder_keeps_pending_minute_open() -> None:
    folder = MinuteFolder()
    assert folder.add(at(0), U, 60_000) == []
    # the pending minute is not final: a later check in the same minute may still make it worse
    assert folder.add(at(0.5), D, 60_000) == []
    # 10:00:30 carries into 10:01 and 10:02 (10:02 began 90 s later, under two intervals)
    assert folder.pending(M0 + 10) == [Run(M0, M0 + 3, D)]
    assert folder.add(at(1), U, 60_000) == [Run(M0, M0 + 1, D)]
    with pytest.raises(ValueError):
        folder.add(at(0), U, 60_000)


def test_merge_worst_and_coalesce() -> None:
    a = [Run(0, 10, U)]
    b = [Run(5, 7, D), Run(12, 14, U)]
    assert merge_worst(a, b) == [Run(0, 5, U), Run(5, 7, D), Run(7, 10, U), Run(12, 14, U)]
    assert merge_worst(a, a) == a
    assert coalesce([Run(0, 2, U), Run(2, 4, U), Run(4, 4, D)]) == [Run(0, 4, U)]


def reference(checks: list[tuple[int, State, int]], minute: int) -> State:
    """Minute-by-minute statement of DESIGN.md's rule."""
    own = [s for t, s, _ in checks if t // 60_000 == minute]
    if own:
        return max(own)
    earlier = [c for c in checks if c[0] < minute * 60_000]
    if not earlier:
        return State.NODATA
    t, s, interval = max(earlier, key=lambda c: c[0])
    return s if minute * 60_000 - t < 2 * interval else State.NODATA


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 40 * 60_000),
            st.sampled_from([U, G, D]),
            st.sampled_from([10_000, 30_000, 60_000, 300_000]),
        ),
        max_size=40,
        unique_by=lambda c: c[0],
    )
)
def test_fold_matches_minute_by_minute_reference(checks: list[tuple[int, State, int]]) -> None:
    runs = fold(checks, until=60)
    by_minute = {m: r.state for r in runs for m in range(r.start, r.end)}
    for minute in range(60):
        assert by_minute.get(minute, State.NODATA) == reference(checks, minute), minute
