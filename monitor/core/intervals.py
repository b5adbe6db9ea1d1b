"""Sets of epoch minutes as sorted, disjoint, half-open ``[lo, hi)`` ranges.

Every function here takes normalized :data:`Ranges` (sorted, disjoint, non-touching, non-empty;
what :func:`normalize` returns) and returns normalized ranges. Work is linear in the number of
ranges, never in the number of minutes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from monitor.core.checks import State
from monitor.core.minutes import Run

__all__ = ["Ranges", "intersect", "normalize", "runs_in", "subtract", "total"]

Ranges = list[tuple[int, int]]


def normalize(r: Iterable[tuple[int, int]]) -> Ranges:
    """Sort, merge overlapping or touching ranges, and drop empty ones."""
    out: Ranges = []
    for lo, hi in sorted(p for p in r if p[0] < p[1]):
        if out and lo <= out[-1][1]:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def intersect(a: Ranges, b: Ranges) -> Ranges:
    """Minutes in both ``a`` and ``b``."""
    out: Ranges = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo = max(a[i][0], b[j][0])
        hi = min(a[i][1], b[j][1])
        if lo < hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def subtract(a: Ranges, b: Ranges) -> Ranges:
    """Minutes in ``a`` and not in ``b``."""
    out: Ranges = []
    j = 0
    for lo, hi in a:
        while j < len(b) and b[j][1] <= lo:
            j += 1
        k = j
        cur = lo
        while k < len(b) and b[k][0] < hi:
            if b[k][0] > cur:
                out.append((cur, b[k][0]))
            cur = max(cur, b[k][1])
            k += 1
        if cur < hi:
            out.append((cur, hi))
    return out


def total(a: Ranges) -> int:
    """How many minutes ``a`` holds."""
    return sum(hi - lo for lo, hi in a)


def runs_in(runs: Sequence[Run], r: Ranges, state: State) -> int:
    """Minutes of ``state`` inside ``r``. ``runs`` must be sorted and disjoint (as stored)."""
    count = 0
    j = 0
    for run in runs:
        if run.state != state:
            continue
        while j < len(r) and r[j][1] <= run.start:
            j += 1
        k = j
        while k < len(r) and r[k][0] < run.end:
            count += min(run.end, r[k][1]) - max(run.start, r[k][0])
            k += 1
    return count
