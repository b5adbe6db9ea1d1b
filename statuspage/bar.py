"""The 90-day bar of a service on ``index.html``: its segments, their words, its label.

Colour classes of a bar segment (each also said in words in its text alternative):
``up`` no down or degraded minute, ``dg`` degraded minutes only, ``mi`` down minutes but the
day still at or above the target, ``ma`` below the target, ``nd`` no data, ``off`` no minute of
the day covered by the SLA, ``mt`` every covered minute in maintenance or excluded. ``m`` is
added to a day with any maintenance. Consecutive days that would say the same are one segment
spanning them (``span`` days), which keeps pages small and screen readers brief.

A service's days are grouped into runs of equal figures once per build, for the five
languages (:func:`_day_runs`); each language then words a run, not a day. Pure, like
:mod:`statuspage.views`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import NamedTuple

from statuspage.data import Day, ServiceData
from statuspage.i18n import Formatter, count

__all__ = ["Bar", "DayFigures", "Segment", "bar_segments", "service_bar"]


@dataclass(frozen=True)
class Segment:
    css: str  # colour class (and "m" for maintenance)
    span: int  # days
    label: str
    cls: str  # the HTML class attribute: css, and "w<span>" when it spans several days


@lru_cache(maxsize=16384)
def _summary(f: Formatter, places: int, covered: int, maintenance: int, excluded: int,
             nodata: int, eligible: int, down: int, degraded: int, percent: float | None,
             met: bool | None) -> tuple[str, str]:
    if eligible == 0 or percent is None:
        if covered == 0:
            return "off", f.gettext("outside service hours")
        if maintenance + excluded == covered:
            return "mt", f.gettext("maintenance")
        return "nd", f.gettext("no data")
    # TRANSLATORS: a day's availability, e.g. "99.93% up"; followed by ", 1 minute down".
    parts = [f.gettext("%(percent)s up") % {"percent": f.percent(percent, places)}]
    if down:
        parts.append(count(f.ngettext("%(num)s minute down", "%(num)s minutes down", down),
                            down, f))
    if degraded:
        parts.append(count(
            f.ngettext("%(num)s minute degraded", "%(num)s minutes degraded", degraded),
            degraded, f))
    if maintenance:
        parts.append(f.gettext("maintenance %(duration)s") % {"duration": f.duration(maintenance)})
    if nodata:
        parts.append(f.gettext("no data for %(duration)s") % {"duration": f.duration(nodata)})
    if down:
        css = "mi" if met else "ma"
    else:
        css = "dg" if degraded else "up"
    if maintenance:
        css += " m"
    return css, ", ".join(parts)


def bar_segments(days: Sequence[Day], places: int, today: date,
                 f: Formatter) -> tuple[Segment, ...]:
    """The 90-day bar of ``days``: one segment per run of days that say the same, oldest
    first (as :func:`service_bar` makes it)."""
    return _segments(days, _said(_runs(days), places, f), today, f)


class DayFigures(NamedTuple):
    """What decides the words of a day of the bar (:func:`_summary`'s arguments)."""

    covered: int
    maintenance: int
    excluded: int
    nodata: int
    eligible: int
    down: int
    degraded: int
    percent: float | None
    met: bool | None


#: Runs of consecutive days whose uptimes say the same in any language: (their figures, first
#: day's index, last day's index).
DayRuns = tuple[tuple[DayFigures, int, int], ...]


def _day_runs(s: ServiceData) -> DayRuns:
    """:func:`_runs` of ``s``'s days, worked out once for the five languages (most of a bar's
    90 days repeat the day before: each language then words a run, not a day)."""
    found = s.shared.get("day runs")
    if found is not None:
        return found  # type: ignore[return-value]
    made = s.shared["day runs"] = _runs(s.days)
    return made


def _runs(days: Sequence[Day]) -> DayRuns:
    """The runs of consecutive ``days`` with equal figures."""
    runs: list[tuple[DayFigures, int, int]] = []
    for i, d in enumerate(days):
        u = d.uptime
        figures = DayFigures(u.covered_minutes, u.maintenance_minutes, u.excluded_minutes,
                             u.nodata_minutes, u.eligible_minutes, u.down_minutes,
                             u.degraded_minutes, u.uptime_percent, u.met)
        if runs and runs[-1][0] == figures:
            runs[-1] = (figures, runs[-1][1], i)
        else:
            runs.append((figures, i, i))
    return tuple(runs)


def _said(runs: DayRuns, places: int, f: Formatter) -> list[tuple[tuple[str, str], int, int]]:
    """Each run's colour class and words in ``f``'s language, with its first and last day."""
    return [(_summary(f, places, *figures), first, last) for figures, first, last in runs]


def _segments(days: Sequence[Day], said: Sequence[tuple[tuple[str, str], int, int]],
              today: date, f: Formatter) -> tuple[Segment, ...]:
    """The bar's segments from runs of days (``said``: (colour class, words), first and last
    index): adjacent runs that read the same become one segment."""
    merged: list[tuple[tuple[str, str], int, int]] = []
    for css_text, first, last in said:
        if merged and merged[-1][0] == css_text:
            merged[-1] = (css_text, merged[-1][1], last)
        else:
            merged.append((css_text, first, last))
    return tuple(_segment(f, css, text, days[first].date, days[last].date, today.year,
                          last - first + 1) for (css, text), first, last in merged)


@lru_cache(maxsize=65536)
def _segment(f: Formatter, css: str, text: str, first: date, last: date, this_year: int,
             n: int) -> Segment:
    year = first.year != this_year or last.year != this_year
    when = f.day_range(first, last, year=year)
    label = f.gettext("%(date)s: %(summary)s") % {"date": when, "summary": text}
    return Segment(css, n, label, css if n == 1 else f"{css} w{n}")


def _bar_label(runs: DayRuns, days: int, places: int, f: Formatter) -> str:
    eligible = down = 0
    for figures, first, last in runs:
        n = last - first + 1
        eligible += n * figures.eligible
        down += n * figures.down
    if not eligible:
        return f.gettext("Last %(days)s days: no data") % {"days": f.integer(days)}
    pct = f.percent(100 * (eligible - down) / eligible, places)
    return (f.gettext("Last %(days)s days: %(percent)s up")
            % {"days": f.integer(days), "percent": pct})


class Bar(NamedTuple):
    label: str  # the bar's accessible name: "Last 90 days: 99.87% up"
    segments: tuple[Segment, ...]
    summaries: list[str]  # what each day says, oldest first


def service_bar(s: ServiceData, places: int, today: date, f: Formatter) -> Bar:
    """``s``'s 90-day bar in ``f``'s language (``places``: the decimals of its percentages)."""
    runs = _day_runs(s)
    said = _said(runs, places, f)
    summaries: list[str] = []
    for (_, text), first, last in said:
        summaries += [text] * (last - first + 1)
    return Bar(_bar_label(runs, len(s.days), places, f), _segments(s.days, said, today, f),
               summaries)
