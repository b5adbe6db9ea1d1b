"""The availability-minute rules of DESIGN.md, as a pure fold over check results.

- Minutes are UTC-aligned ``[t, t+60 s)``, named by their epoch minute (``int(ts // 60)``).
- A minute's state is the worst of the checks whose time falls inside it.
- A minute with no check of its own takes the state of the service's latest earlier check if
  that check was taken less than two intervals before the minute began; otherwise ``nodata``.

A service's minutes are kept as :class:`Run` s of equal state; ``nodata`` is never stored, it is
what lies between runs. :class:`MinuteFolder` turns one service's checks, in time order, into
final runs plus a *pending* tail (the last checked minute, which may still get checks, and the
minutes its last check carries into). The tail is what :class:`FolderState` persists so that a
restart continues exactly where the last commit left off.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from monitor.core.checks import State

MINUTE_MS = 60_000


@dataclass(frozen=True, slots=True)
class Run:
    """Minutes ``[start, end)`` (epoch minutes) that all have ``state``."""

    start: int
    end: int
    state: State

    @property
    def minutes(self) -> int:
        return self.end - self.start


def minute_of(ts_ms: int) -> int:
    return ts_ms // MINUTE_MS


def carry_count(ts_ms: int, interval_ms: int) -> int:
    """How many minutes after its own minute a check at ``ts_ms`` carries into.

    Minute ``m + k`` (k ≥ 1) carries when it began less than two intervals after the check:
    ``(m + k) * 60 s - ts < 2 * interval``. With a 60 s interval a check at 10:00:00 carries into
    10:01 only; one at 10:00:00.5 carries into 10:01 and 10:02.
    """
    offset = ts_ms % MINUTE_MS
    return max(0, (offset + 2 * interval_ms - 1) // MINUTE_MS)


def coalesce(runs: Iterable[Run]) -> list[Run]:
    """Join touching runs of the same state; drop empty ones. Input must be sorted."""
    out: list[Run] = []
    for run in runs:
        if run.end <= run.start:
            continue
        if out and out[-1].end == run.start and out[-1].state == run.state:
            out[-1] = Run(out[-1].start, run.end, run.state)
        else:
            out.append(run)
    return out


@dataclass(frozen=True, slots=True)
class FolderState:
    """Everything needed to continue a service's fold after a restart."""

    minute: int  # the pending (last checked) minute
    worst: State  # worst state of the checks in that minute so far
    last_ms: int  # time of the latest check (epoch ms)
    last_state: State  # that check's own state (carried forward, not ``worst``)
    interval_ms: int  # the service's interval when that check was taken


class MinuteFolder:
    """Folds one service's checks, in time order, into runs of minutes."""

    __slots__ = ("_state",)

    def __init__(self, state: FolderState | None = None) -> None:
        self._state = state

    @property
    def state(self) -> FolderState | None:
        return self._state

    def add(self, ts_ms: int, state: State, interval_ms: int) -> list[Run]:
        """Add one check; returns the runs that became final because of it (maybe none).

        A check older than the latest one but inside the pending minute is folded in exactly.
        An older check in an earlier minute cannot be placed by this fold: it raises
        ``ValueError`` and callers merge such checks separately (see ``Ledger``).
        """
        st = self._state
        minute = minute_of(ts_ms)
        if st is None:
            self._state = FolderState(minute, state, ts_ms, state, interval_ms)
            return []
        if minute == st.minute:
            if ts_ms >= st.last_ms:
                self._state = FolderState(
                    minute, max(st.worst, state), ts_ms, state, interval_ms
                )
            else:
                self._state = FolderState(
                    minute, max(st.worst, state), st.last_ms, st.last_state, st.interval_ms
                )
            return []
        if minute < st.minute:
            raise ValueError("check is older than the pending minute")
        final = self._close(st, until=minute)
        self._state = FolderState(minute, state, ts_ms, state, interval_ms)
        return final

    def pending(self, until: int) -> list[Run]:
        """The runs the pending tail implies for minutes before ``until`` (not yet final)."""
        st = self._state
        if st is None or until <= st.minute:
            return []
        return self._close(st, until=until)

    @staticmethod
    def _close(st: FolderState, until: int) -> list[Run]:
        runs = [Run(st.minute, st.minute + 1, st.worst)]
        carry_end = min(st.minute + 1 + carry_count(st.last_ms, st.interval_ms), until)
        if carry_end > st.minute + 1:
            runs.append(Run(st.minute + 1, carry_end, st.last_state))
        return coalesce(runs)


def fold(checks: Iterable[tuple[int, State, int]], until: int | None = None) -> list[Run]:
    """Fold ``(ts_ms, state, interval_ms)`` checks (any order) into runs, tail included.

    ``until`` bounds the last check's carry (exclusive minute); by default it is not bounded.
    """
    folder = MinuteFolder()
    out: list[Run] = []
    for ts_ms, state, interval_ms in sorted(checks, key=lambda c: c[0]):
        out.extend(folder.add(ts_ms, state, interval_ms))
    end = until if until is not None else 2**62
    out.extend(folder.pending(end))
    return coalesce(out)


def merge_worst(a: Sequence[Run], b: Sequence[Run]) -> list[Run]:
    """Minute-wise worst-of two sorted run lists (``nodata`` is the identity).

    The runs of one list that end before the other's first begins are taken as they are:
    merging months of stored runs with a pending tail of minutes works on the tail's end
    only (a status page reads that for every service)."""
    if not a or not b:
        return coalesce(r for r in (a or b) if r.state != State.NODATA)
    if b[0].start < a[0].start:
        a, b = b, a
    k = bisect_right([r.end for r in a], b[0].start)
    if k == 0:
        return _merge_all(a, b)
    return coalesce([*(r for r in a[:k] if r.state != State.NODATA), *_merge_all(a[k:], b)])


def _merge_all(a: Sequence[Run], b: Sequence[Run]) -> list[Run]:
    bounds = sorted({r.start for r in a} | {r.end for r in a} | {r.start for r in b}
                    | {r.end for r in b})
    out: list[Run] = []
    ia = ib = 0
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        while ia < len(a) and a[ia].end <= lo:
            ia += 1
        while ib < len(b) and b[ib].end <= lo:
            ib += 1
        sa = a[ia].state if ia < len(a) and a[ia].start <= lo else State.NODATA
        sb = b[ib].state if ib < len(b) and b[ib].start <= lo else State.NODATA
        worst = max(sa, sb)
        if worst != State.NODATA:
            out.append(Run(lo, hi, worst))
    return coalesce(out)


def clip(runs: Iterable[Run], start: int, end: int) -> Iterator[Run]:
    """The parts of ``runs`` inside ``[start, end)``."""
    for r in runs:
        lo, hi = max(r.start, start), min(r.end, end)
        if lo < hi:
            yield Run(lo, hi, r.state)
