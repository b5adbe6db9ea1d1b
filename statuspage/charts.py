"""Response-time charts: inline SVG from the ledger's hourly latency, no JavaScript.

A chart spans a fixed window (the last 24 hours by hour, the last 90 days by UTC day) and
draws two lines: the median (p50, solid) and the 95th percentile (p95, dashed), each point a
slot with checks; a slot without checks breaks the line rather than bridging it. Colours come
from the page's CSS (``currentColor`` and the ``.p50``/``.p95`` classes), so dark mode follows.
The figure's caption says it in words, for everyone and for screen readers (the SVG itself is
hidden from them, so they do not hear it twice): the median's range and the highest p95
(:func:`words`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from markupsafe import Markup

from monitor.store.latency import LatencyPoint
from statuspage.i18n import Formatter, millis_parts

__all__ = ["DASHES", "HEIGHT", "WIDTH", "Chart", "Drawing", "KeptLines", "chart", "drawing",
           "forget", "words"]

WIDTH, HEIGHT = 300, 64
_PAD = 2  # room for the stroke at the edges


@dataclass(frozen=True)
class Chart:
    """One chart for the template: its heading, the SVG and the words that say it."""

    title: str
    svg: Markup
    summary: str
    #: With a line per location: each location's title and a sample of its line.
    legend: tuple[tuple[str, Markup], ...] = ()


def _said(f: Formatter, low: float, middle: float, high: float, p95: float) -> str:
    """``Median 87 ms (40 ms – 120 ms); 95th percentile up to 300 ms``."""
    return f.gettext("Median %(median)s (%(low)s – %(high)s); 95th percentile up to "
                     "%(p95)s") % {"median": f.millis(middle), "low": f.millis(low),
                                   "high": f.millis(high), "p95": f.millis(p95)}


@lru_cache(maxsize=16)
def _xs(slots: int) -> tuple[str, ...]:
    """Each slot's x, as a polyline point begins with it: ``"12,"``."""
    step = (WIDTH - 2 * _PAD) / max(slots - 1, 1)
    return tuple(f"{_PAD + slot * step:.0f}," for slot in range(slots))


#: Each series' polyline points before its last slot, kept from one drawing to the next by
#: the caller of :func:`drawing`, by name: the slots' start, step and number and the scale's
#: top; the points before the last slot; their runs of ``"x,y"`` and the last slot they reach.
KeptLines = dict[tuple[str, ...], tuple[tuple[int, int, int, float],
                                        tuple[LatencyPoint, ...], list[list[str]], int]]


def _runs(points: Sequence[LatencyPoint], first: int, per: int, slots: int, top: float,
          field: int, runs: list[list[str]], last: int = -2) -> int:
    """Add each point's ``"x,y"`` to ``runs`` (a new run where a slot has no checks); the
    last slot reached. Whole units: a 300×64 box needs no more (``round`` rounds as
    ``f"{y:.0f}"`` does: half to even)."""
    xs = _xs(slots)
    for p in points:
        slot = (p.hour - first) // per
        if not 0 <= slot < slots:
            continue
        v = p[field] / top
        y = round(HEIGHT - _PAD - (HEIGHT - 2 * _PAD) * (v if v < 1.0 else 1.0))
        if slot != last + 1:
            runs.append([])
        runs[-1].append(f"{xs[slot]}{y}")
        last = slot
    return last


def _lines(points: Sequence[LatencyPoint], first: int, per: int, slots: int, top: float,
           value: str, kept: KeptLines | None = None, name: tuple[str, ...] = ()) -> list[str]:
    """Polyline point lists for one series, broken where a slot has no checks. With ``kept``:
    the points before the last slot (the hour or the day under way, the one a check moves)
    are those of the last drawing while they and the scale are the same; only the last is
    placed again. A page rebuilt every minute with a new check for every service draws
    2,000 charts."""
    field = LatencyPoint._fields.index(value)
    runs: list[list[str]] = []
    if kept is None:
        _runs(points, first, per, slots, top, field, runs)
        return [" ".join(run) for run in runs]
    end = first + per * (slots - 1)
    before = tuple(p for p in points if first <= p.hour < end)
    was = kept.get(name)
    if was is None or was[0] != (first, per, slots, top) or was[1] != before:
        made: list[list[str]] = []
        reached = _runs(before, first, per, slots, top, field, made)
        was = kept[name] = ((first, per, slots, top), before, made, reached)
    runs = [*was[2][:-1], list(was[2][-1])] if was[2] else []  # the last run may grow
    _runs([p for p in points if p.hour >= end], first, per, slots, top, field, runs, was[3])
    return [" ".join(run) for run in runs]


def _series(points: Sequence[LatencyPoint], first: int, per: int, slots: int, top: float,
            value: str, css: str, kept: KeptLines | None = None,
            name: tuple[str, ...] = ()) -> str:
    out = []
    for line in _lines(points, first, per, slots, top, value, kept, (*name, css)):
        if " " in line:
            out.append(f'<polyline class="{css}" points="{line}"/>')
        else:  # a slot alone: a dot, so it is not lost
            x, y = line.split(",")
            out.append(f'<circle class="{css}" cx="{x}" cy="{y}" r="1.5"/>')
    return "".join(out)


@dataclass(frozen=True)
class Drawing:
    """A chart in no language (:func:`drawing`): the SVG, the figures its words say, and
    each location's title and median when it has a line per location."""

    svg: Markup
    low: float
    middle: float
    high: float
    p95: float
    places: tuple[tuple[str, float], ...] = ()

    @property
    def shown(self) -> tuple[object, ...]:
        """What the chart shows, in no language: the SVG and its figures as every language
        says them (whole milliseconds…): drawings that show the same are equal here, although
        their figures moved a little with a new check (:mod:`statuspage.keys`)."""
        return (self.svg, millis_parts(self.low), millis_parts(self.middle),
                millis_parts(self.high), millis_parts(self.p95),
                tuple((name, millis_parts(median)) for name, median in self.places))


def drawing(points: Sequence[LatencyPoint], first: int, per: int, slots: int,
            by_location: Sequence[tuple[str, Sequence[LatencyPoint]]] = (),
            kept: KeptLines | None = None, series: tuple[str, ...] = ()) -> Drawing | None:
    """The drawing of ``points`` over ``slots`` slots of ``per`` hours from epoch hour
    ``first``; None when no slot has checks. With ``by_location`` (title, points) of two
    locations or more, each location's median is a line of its own, told apart by its dashes
    (:data:`DASHES`, in the legend). The same in every language: a page works it out once per
    service and build, and says it in each language with :func:`words`. ``kept``: the lines
    of the drawings before, by ``series`` (:data:`KeptLines`, updated here)."""
    shown = tuple(p for p in points if first <= p.hour < first + per * slots)
    if not shown:
        return None
    places = tuple((name, tuple(p for p in pts if first <= p.hour < first + per * slots))
                   for name, pts in by_location)
    places = tuple((name, pts) for name, pts in places if pts)[:len(DASHES)]
    if len(places) < 2:
        places = ()
    medians = sorted(p.p50_ms for p in shown)
    lines = tuple(pts for _, pts in places)
    svg = _svg(shown, first, per, slots, lines) if kept is None or lines else _drawn(
        shown, first, per, slots, (), kept, series)
    return Drawing(svg,
                   medians[0], _median(shown), medians[-1], max(p.p95_ms for p in shown),
                   tuple((name, _median(pts)) for name, pts in places))


def words(title: str, d: Drawing, f: Formatter) -> Chart:
    """``d`` in ``f``'s language, headed ``title``."""
    said = _said(f, d.low, d.middle, d.high, d.p95)
    if d.places:
        said += f.gettext("; median by location: %(list)s") % {"list": ", ".join(
            f"{name} {f.millis(median)}" for name, median in d.places)}
    legend = tuple((name, _sample(i)) for i, (name, _) in enumerate(d.places))
    return Chart(title, d.svg, said, legend)


def chart(title: str, points: Sequence[LatencyPoint], first: int, per: int, slots: int,
          f: Formatter,
          by_location: Sequence[tuple[str, Sequence[LatencyPoint]]] = ()) -> Chart | None:
    """:func:`drawing` said in ``f``'s language by :func:`words`; None without checks."""
    d = drawing(points, first, per, slots, by_location)
    return None if d is None else words(title, d, f)


#: The dash patterns of the locations' median lines, in the order of probes.yaml.
DASHES = ("1 2", "5 2", "5 2 1 2", "8 3", "2 4")


def _median(points: Sequence[LatencyPoint]) -> float:
    medians = sorted(p.p50_ms for p in points)
    return medians[len(medians) // 2]


def _sample(i: int) -> Markup:
    """A short piece of location ``i``'s line, for the legend."""
    return Markup(f'<svg class="loc-key" width="18" height="6" aria-hidden="true">'
                  f'<line x1="0" y1="3" x2="18" y2="3" stroke="currentColor" '
                  f'stroke-dasharray="{DASHES[i]}"/></svg>')


@lru_cache(maxsize=8192)
def _svg(shown: tuple[LatencyPoint, ...], first: int, per: int, slots: int,
         places: tuple[tuple[LatencyPoint, ...], ...] = ()) -> Markup:
    """The drawing, the same in every language: made once for the five of them."""
    return _drawn(shown, first, per, slots, places)


def _drawn(shown: tuple[LatencyPoint, ...], first: int, per: int, slots: int,
           places: tuple[tuple[LatencyPoint, ...], ...] = (), kept: KeptLines | None = None,
           name: tuple[str, ...] = ()) -> Markup:
    top = max(p.p95_ms for p in shown) * 1.1 or 1.0
    lines = "".join(
        _series(pts, first, per, slots, top, "p50_ms", "loc").replace(
            'class="loc"', f'class="loc" stroke="currentColor" stroke-dasharray="{DASHES[i]}"')
        for i, pts in enumerate(places))
    return Markup(
        f'<svg class="latency-chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
        f'height="{HEIGHT}" aria-hidden="true" preserveAspectRatio="none">'
        f'<line class="axis" x1="0" y1="{HEIGHT - 0.5}" x2="{WIDTH}" y2="{HEIGHT - 0.5}"/>'
        + _series(shown, first, per, slots, top, "p95_ms", "p95", kept, name)
        + lines
        + _series(shown, first, per, slots, top, "p50_ms", "p50", kept, name)
        + "</svg>")


def forget() -> None:
    """Forget the drawings made so far (a test that counts the drawings a build makes)."""
    _svg.cache_clear()
