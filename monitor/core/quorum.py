"""The quorum rule: one service probed from several locations, folded into one state a minute.

Each location keeps its own minutes (:class:`~monitor.core.minutes.Run` s; ``nodata`` is what
no run covers). For one minute let ``D``, ``G`` and ``N`` be the number of locations whose
minute is down, degraded and nodata, and ``q`` the quorum (by default a strict majority,
``n // 2 + 1``). The minute is

- **down** if ``D >= q``;
- else **nodata** if ``D + N >= q``;
- else **degraded** if ``D + G >= q``;
- else **up**.

Why this rule:

- *One location never makes an outage* (with two or more locations and the default quorum).
  A prober's own network trouble looks exactly like the service being down; it takes a quorum
  of locations seeing the minute down before it is down.
- *A minute is never up without a quorum's worth of evidence.* It is up (or degraded) only when
  an outage is ruled out: even had every silent location seen it down, they and the locations
  that did would fall short of a quorum. Otherwise the minute cannot be decided and is
  ``nodata`` (left out of the SLA arithmetic), never up.
- *A silent prober never turns into downtime.* Only locations that saw the minute down count
  towards ``down``; a location that stops reporting can make minutes ``nodata``, never down.

With one location (``n = 1``, ``q = 1``) the rule is the identity: the fold returns that
location's minutes unchanged.

The fold sweeps over the points where some location's state changes, so its cost is
``O(R log R)`` in the total number of runs, whatever the number of minutes they span.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from monitor.core.checks import State
from monitor.core.minutes import Run, coalesce

_NODATA, _DEGRADED, _DOWN = int(State.NODATA), int(State.DEGRADED), int(State.DOWN)


def default_quorum(n: int) -> int:
    """A strict majority of ``n`` locations: two of three, three of four or five."""
    if n < 1:
        raise ValueError(f"a quorum needs at least one location, got {n}")
    return n // 2 + 1


def minute_state(down: int, degraded: int, nodata: int, quorum: int) -> State:
    """One minute's state from how many locations saw it down, degraded and not at all.

    The order of the tests is the rule: an outage seen by a quorum wins; otherwise, if the
    locations that said nothing could still make up a quorum of outage, the minute cannot be
    decided and is nodata rather than up.
    """
    if quorum < 1:
        raise ValueError(f"quorum must be at least 1, got {quorum}")
    if down >= quorum:
        return State.DOWN
    if down + nodata >= quorum:
        return State.NODATA
    if down + degraded >= quorum:
        return State.DEGRADED
    return State.UP


def quorum_runs(per_location: Sequence[Sequence[Run]], quorum: int | None = None) -> list[Run]:
    """Fold each location's sorted runs into the service's runs by the quorum rule.

    ``quorum`` defaults to :func:`default_quorum` of the number of locations. Each location's
    runs must be sorted and must not overlap (touching runs of one state are fine); the result
    is sorted and coalesced, with nodata minutes absent, like every other run list.
    """
    n = len(per_location)
    if n == 0:
        raise ValueError("quorum_runs needs at least one location")
    q = default_quorum(n) if quorum is None else quorum
    if not 1 <= q <= n:
        raise ValueError(f"quorum must be between 1 and the number of locations ({n}), got {q}")

    # Each location's state changes as (minute, old state, new state). A location changes at
    # most once a minute, so the changes of different locations at one minute commute and the
    # sweep needs no per-location bookkeeping: only how many locations are in each state.
    events: list[tuple[int, int, int]] = []
    for runs in per_location:
        _changes(runs, events)  # also rejects unsorted or overlapping input
    if n == 1:
        # q is 1: the rule is the identity (nodata runs, if any were passed, are dropped).
        return coalesce(r for r in per_location[0] if r.state is not State.NODATA)
    # Each location's changes are already sorted: Timsort merges the n lists in O(R log n).
    events.sort()

    count = [0, 0, 0, 0]  # locations per state, indexed by the state's value
    count[_NODATA] = n
    out: list[Run] = []
    current, since = State.NODATA, 0
    at = events[0][0] if events else 0  # the minute whose changes are being applied
    for minute, old, new in events:
        if minute != at:  # all of minute ``at``'s changes are in: it starts a new state?
            state = minute_state(count[_DOWN], count[_DEGRADED], count[_NODATA], q)
            if state is not current:
                if current is not State.NODATA:
                    out.append(Run(since, at, current))
                current, since = state, at
            at = minute
        count[old] -= 1
        count[new] += 1
    # The last changes leave every location in nodata: whatever run is open ends there.
    if current is not State.NODATA:
        out.append(Run(since, at, current))
    return out


def fold_plan(
    per_location: Mapping[str, Mapping[str, Sequence[Run]]],
    plan: Mapping[str, tuple[Sequence[str], int]],
) -> dict[str, list[Run]]:
    """Each service of ``plan`` (service → its locations, its quorum) folded by its quorum from
    ``per_location`` (service → location → runs). A service with one location keeps its runs
    as they are (stored runs are coalesced already): no fold to pay for."""
    return {name: list(per_location[name][locations[0]]) if len(locations) == 1
            else quorum_runs([per_location[name][loc] for loc in locations], quorum)
            for name, (locations, quorum) in plan.items()}


def _changes(runs: Sequence[Run], into: list[tuple[int, int, int]]) -> None:
    """Append one location's state changes to ``into``.

    Unsorted or overlapping runs are refused: they would count the location twice in a minute.
    """
    state = _NODATA
    end: int | None = None
    for run in runs:
        if run.end <= run.start:
            continue
        if end is not None:
            if run.start < end:
                raise ValueError(f"runs overlap or are not sorted at minute {run.start}")
            if run.start > end and state != _NODATA:  # a gap: nodata from the last run's end
                into.append((end, state, _NODATA))
                state = _NODATA
        new = int(run.state)
        if new != state:
            into.append((run.start, state, new))
            state = new
        end = run.end
    if end is not None and state != _NODATA:
        into.append((end, state, _NODATA))
