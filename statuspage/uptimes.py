"""Each service's days of the bar and months of the history, as :func:`statuspage.data.gather`
computes them, and what a process keeps of them from one build to the next.

Within a build, days (and months) alike share one computation (:class:`Days`, :func:`months`):
a day's uptime depends only on the target, the covered minutes and runs *relative to the day's
start*, and the windows.

Between builds (:class:`Kept`, which ``upwatch run``'s rebuilder holds): a day before today
depends only on the runs before today's start, the SLA and the windows that apply to the
service; while these are equal to the last build's, its days before today are the very same
:class:`Day` objects as last time, and only today is computed again. Likewise the months before
this one. A minute-to-minute rebuild so computes two periods per service, not 103; and the page
keys (:mod:`statuspage.keys`) compare the reused objects in no time.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from monitor.config import ServiceConfig
from monitor.core.checks import State
from monitor.core.coverage import covered_ranges, month_bounds
from monitor.core.intervals import Ranges
from monitor.core.minutes import Run
from monitor.core.sla import Uptime, month_uptime, period_uptime
from monitor.core.windows import Window
from monitor.store.latency import LatencyPoint
from monitor.times import ceil_minute, epoch_minute

__all__ = ["Day", "Days", "Kept", "Month", "Tally", "months", "overlapping", "span", "tally",
           "windows_of"]

#: A service's windows with the span each takes, ``(lo, hi, window)``, in time order.
Spans = tuple[tuple[int, int, Window], ...]


@dataclass(frozen=True)
class Day:
    """One local day of one service. ``first_down``/``last_down_end`` are epoch minutes of the
    first down minute and the end of the last one that day (None without down minutes)."""

    date: date
    uptime: Uptime
    first_down: int | None = None
    last_down_end: int | None = None


@dataclass(frozen=True)
class Month:
    year: int
    month: int
    uptime: Uptime
    to_date: bool = False  # the month has not ended: counted up to ``now``


@dataclass(frozen=True)
class Tally:
    """What the pages total or look for in a service's days before today, worked out once for
    as long as those days are kept (:class:`Kept`), not over 90 days of 1,000 services at
    every build: their eligible and down minutes, and which of them (indices) had down minutes
    with an uptime to tell, and maintenance that removed minutes."""

    eligible: int = 0
    down: int = 0
    down_days: tuple[int, ...] = ()
    maintained: tuple[int, ...] = ()


def tally(days: Sequence[Day]) -> Tally:
    return Tally(
        sum(d.uptime.eligible_minutes for d in days), sum(d.uptime.down_minutes for d in days),
        tuple(i for i, d in enumerate(days)
              if d.uptime.down_minutes and d.uptime.uptime_percent is not None),
        tuple(i for i, d in enumerate(days) if any(a.minutes for a in d.uptime.maintenance)))


@dataclass
class Kept:
    """What one process keeps between builds, per service: the key of its days before today
    and months before this one, and those days and months; and the response times of the
    days before today (:func:`statuspage.data.gather` reads today's only, for an hour)."""

    days: dict[str, tuple[object, tuple[Day, ...], Tally]] = field(default_factory=dict)
    months: dict[str, tuple[object, tuple[Month, ...]]] = field(default_factory=dict)
    #: The dates and bounds of the bar's days (all services share them).
    past: tuple[object, ...] = ()
    #: The daily response times before today: (first hour, read at, points by service).
    latency: tuple[int, datetime, dict[str, list[LatencyPoint]]] | None = None
    #: The runs before this month (:func:`statuspage.data.gather`): (what they were read for,
    #: read at, runs by service).
    runs: tuple[object, datetime, dict[str, list[Run]]] | None = None

    #: The windows of the last build, each by itself (:meth:`same_windows`).
    windows: dict[Window, Window] = field(default_factory=dict)
    #: Each service's windows as :func:`months` takes them, and the windows they were taken
    #: from (:meth:`spans_of`).
    spans: tuple[tuple[Window, ...], dict[str, Spans]] = ((), {})

    def same_windows(self, windows: Sequence[Window]) -> list[Window]:
        """``windows``, each one equal to a window of the last build as that very object: the
        keys of 1,000 services' days and months, which hold the windows that apply to them,
        then compare in no time (60 windows a service: 60,000 comparisons otherwise)."""
        known = self.windows
        self.windows = {w: known.get(w, w) for w in windows}
        return list(self.windows.values())

    def spans_of(self, windows: Sequence[Window]) -> dict[str, Spans]:
        """Each service's windows as :func:`months` takes them (by name, filled in as asked
        for by :func:`windows_of`), kept while the build's windows are the same: a month's
        windows of 1,000 services were picked out of every window at every build."""
        every = tuple(windows)
        if every != self.spans[0]:
            self.spans = (every, {})
        return self.spans[1]

    def forget_others(self, names: Sequence[str]) -> None:
        """Drop services no longer configured."""
        for kept in (self.days, self.months, self.spans[1]):
            for name in set(kept) - set(names):
                del kept[name]


def overlapping(runs: Sequence[Run], ends: Sequence[int], start: int, end: int) -> list[Run]:
    """The sorted, disjoint ``runs`` that meet ``[start, end)`` (``ends`` = their ends)."""
    i = bisect_right(ends, start)
    j = i
    while j < len(runs) and runs[j].start < end:
        j += 1
    return list(runs[i:j])


def _before(runs: Sequence[Run], ends: Sequence[int], limit: int) -> tuple[object, ...]:
    """The runs before minute ``limit``, the one across it cut there: all that a period
    ending by ``limit`` can depend on."""
    k = bisect_right(ends, limit)
    cut = runs[k] if k < len(runs) and runs[k].start < limit else None
    return (*runs[:k], None if cut is None else (cut.start, limit, cut.state))


def _down_span(runs: Sequence[Run], start: int, end: int) -> tuple[int | None, int | None]:
    down = [r for r in runs if r.state == State.DOWN]
    if not down:
        return None, None
    return max(down[0].start, start), min(down[-1].end, end)


def span(w: Window) -> tuple[int, int]:
    """Epoch minutes a window can touch at most (its effective range lies inside)."""
    return epoch_minute(w.start), ceil_minute(w.end)


def _moved(u: Uptime, service: str, start: int, end: int) -> Uptime:
    """``u`` for another service or day with the very same figures (a cheap ``replace``)."""
    clone = object.__new__(Uptime)
    clone.__dict__.update(u.__dict__, service=service, period_start=start, period_end=end)
    return clone


class Days:
    """The days of the bar, and for each what services need the same of: their covered
    minutes (per coverage and zone), the windows meeting them, and a memo of uptimes.

    A day's uptime depends only on the target, the covered minutes and runs *relative to the
    day's start*, and the windows; days alike in these share one :func:`period_uptime`
    computation, moved to their own minutes and service: most days (up all day, or without
    data) of every service, and the services sharing a maintenance window that day.
    """

    def __init__(self, dates: list[date], bounds: list[tuple[int, int]],
                 windows: Sequence[Window], kept: Kept | None = None) -> None:
        self.dates, self.bounds = dates, bounds
        self._past = (tuple(dates), tuple(bounds[:-1]))  # what the days before today are
        if kept is not None:  # the same as last time: that very object, compared in no time
            if kept.past == self._past:
                self._past = kept.past
            kept.past = self._past
        self._kept = kept
        self._covered: dict[tuple[object, ...], list[tuple[Ranges, tuple[object, ...]]]] = {}
        self._memo: dict[tuple[object, ...], Uptime] = {}
        starts = [a for a, _ in bounds]
        self.windows: list[list[Window]] = [[] for _ in bounds]
        for w in windows:
            lo, hi = span(w)
            for i in range(max(0, bisect_right(starts, lo) - 1), bisect_right(starts, hi - 1)):
                if bounds[i][0] < hi and bounds[i][1] > lo:
                    self.windows[i].append(w)
        self._meeting = tuple(dict.fromkeys(w for ws in self.windows for w in ws))

    def covered(self, svc: ServiceConfig) -> list[tuple[Ranges, tuple[object, ...]]]:
        """Per day: the covered minutes, and the same relative to the day's start."""
        key = (svc.sla.coverage, svc.sla.timezone)
        found = self._covered.get(key)
        if found is None:
            found = self._covered[key] = []
            for a, b in self.bounds:
                cov = covered_ranges(svc.sla.coverage, svc.sla.tz, a, b)
                found.append((cov, (b - a, *((lo - a, hi - a) for lo, hi in cov))))
        return found

    def uptimes(self, svc: ServiceConfig, runs: Sequence[Run],
                ends: Sequence[int]) -> tuple[list[Day], Tally]:
        """The service's days, oldest first, and the :class:`Tally` of those before today; the
        days before today as the last build had them when nothing they depend on changed
        (:class:`Kept`)."""
        name = svc.name
        if self._kept is None or not self.bounds:
            days = self._days(svc, runs, 0, len(self.bounds))
            return days, tally(days[:-1])
        key = (self._past, svc.sla.target, svc.sla.coverage, svc.sla.timezone,
               tuple(w for w in self._meeting if w.applies_to(name)),
               _before(runs, ends, self.bounds[-1][0]))
        found = self._kept.days.get(name)
        if found is not None and found[0] == key:
            past, counted = found[1], found[2]
        else:
            past = tuple(self._days(svc, runs, 0, len(self.bounds) - 1))
            counted = tally(past)
        # kept with this build's key even when equal: its runs are the objects the next build
        # holds (kept from the last full read), compared by identity then, not field by field
        self._kept.days[name] = (key, past, counted)
        return [*past, *self._days(svc, runs, len(self.bounds) - 1, len(self.bounds))], counted

    def _days(self, svc: ServiceConfig, runs: Sequence[Run], first: int, stop: int) -> list[Day]:
        """Days ``first`` to ``stop`` (exclusive), walking the sorted runs alongside."""
        name, target = svc.name, svc.sla.target
        covered, memo = self.covered(svc), self._memo
        out = []
        j, n = 0, len(runs)
        for i in range(first, stop):
            start, end = self.bounds[i]
            while j < n and runs[j].end <= start:
                j += 1
            k = j
            while k < n and runs[k].start < end:
                k += 1
            day_runs = runs[j:k]
            cov, rel = covered[i]
            ws = [w for w in self.windows[i] if w.applies_to(name)] if self.windows[i] else []
            if k == j + 1 and day_runs[0].start <= start and day_runs[0].end >= end:
                shape: tuple[tuple[int, int, State], ...] = ((0, end - start, day_runs[0].state),)
            else:
                shape = tuple((max(r.start, start) - start, min(r.end, end) - start, r.state)
                              for r in day_runs)
            key = (target, rel, shape, (start, *(w.id for w in ws)) if ws else ())
            u = memo.get(key)
            if u is None:
                u = memo[key] = period_uptime(
                    service=name, target=target, start=start, end=end, covered=cov,
                    runs=day_runs, windows=ws)
            elif u.service != name or u.period_start != start:
                u = _moved(u, name, start, end)
            first_down, last_down = _down_span(day_runs, start, end) if u.down_minutes \
                else (None, None)
            out.append(Day(self.dates[i], u, first_down, last_down))
        return out


def windows_of(name: str, windows: Sequence[tuple[int, int, Window]],
               mine: dict[str, Spans]) -> Spans:
    """The ``(lo, hi, window)`` spans of ``windows`` that apply to service ``name``, kept in
    ``mine`` (:meth:`Kept.spans_of`): the very same tuple while the windows are the same,
    which a month's key (:func:`months`) then compares by identity."""
    found = mine.get(name)
    if found is None:
        found = mine[name] = tuple(w for w in windows if w[2].applies_to(name))
    return found


def months(svc: ServiceConfig, plan: list[tuple[int, int]], runs: Sequence[Run],
           ends: Sequence[int], spans: Spans, now_min: int,
           memo: dict[tuple[object, ...], Uptime], kept: Kept | None = None) -> list[Month]:
    """This month to date and the ones before; ``spans``: the windows that apply to the
    service, as ``(lo, hi, window)`` (:func:`windows_of`).

    Memoized like the days (see :class:`Days`): services with the same SLA, the same runs
    relative to the month's start and the same windows share one :func:`month_uptime`. The
    months before this one are the last build's while nothing they depend on changed.
    """
    if kept is None:
        return [_month(svc, i, y, m, runs, ends, spans, now_min, memo)
                for i, (y, m) in enumerate(plan)]
    this_start = month_bounds(*plan[0], svc.sla.tz)[0]
    key = (tuple(plan), svc.sla, spans, _before(runs, ends, this_start))
    found = kept.months.get(svc.name)
    if found is not None and found[0] == key:
        past = found[1]
    else:
        past = tuple(_month(svc, i, y, m, runs, ends, spans, now_min, memo)
                     for i, (y, m) in enumerate(plan) if i)
    kept.months[svc.name] = (key, past)  # this build's key: see Days.uptimes
    return [_month(svc, 0, *plan[0], runs, ends, spans, now_min, memo), *past]


def _month(svc: ServiceConfig, i: int, y: int, m: int, runs: Sequence[Run], ends: Sequence[int],
           spans: Sequence[tuple[int, int, Window]], now_min: int,
           memo: dict[tuple[object, ...], Uptime]) -> Month:
    start, end = month_bounds(y, m, svc.sla.tz)
    month_runs = overlapping(runs, ends, start, end)
    ws = [w for lo, hi, w in spans if lo < end and hi > start]
    until = now_min if i == 0 else None
    key = (svc.sla, y, m, until, tuple(
        (max(r.start, start) - start, min(r.end, end) - start, r.state) for r in month_runs),
        tuple(w.id for w in ws))
    u = memo.get(key)
    if u is None:
        u = memo[key] = month_uptime(service=svc.name, sla=svc.sla, year=y, month=m,
                                     runs=month_runs, windows=ws, until=until)
    elif u.service != svc.name:
        u = _moved(u, svc.name, u.period_start, u.period_end)
    return Month(y, m, u, to_date=i == 0)
