"""Pieces of HTML a page repeats thousands of times, built in Python and escaped once.

A page of 1,000 services holds about 60,000 bar segments and 13,000 history rows per
language. Through a Jinja loop each of their texts is escaped and wrapped again at every build;
here each distinct piece is built once per process (the same label recurs across services and
builds: "3 Oct 2026: 100.00% up") and a service's pieces are joined. The markup is the same the
templates made, character for character (the golden pages test it); what a piece says is
still decided by the view models (:mod:`statuspage.views`, :mod:`statuspage.history`).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from markupsafe import Markup, escape

from statuspage.days import DayDetail

__all__ = ["Row", "bar_markup", "days_markup", "row_markup"]


@lru_cache(maxsize=65536)
def _segment(cls: str, label: str) -> str:
    return f'<li class="{escape(cls)}"><span class="vh">{escape(label)}</span></li>'


def bar_markup(segments: Iterable[tuple[str, str]]) -> Markup:
    """The ``<li>`` of each segment of a 90-day bar (its class attribute and its words,
    hidden for the eye)."""
    return Markup("".join([_segment(cls, label) for cls, label in segments]))


@lru_cache(maxsize=65536)
def _row(label: str, to_date: str | None, uptime: str | None, verdict: str, verdict_label: str,
         down: str, maintenance: str, excluded: str) -> str:
    note = "" if to_date is None else f' <span class="muted">{escape(to_date)}</span>'
    return (f'<tr>\n<th scope="row">{escape(label)}{note}</th>\n'
            f'<td>{escape(uptime) if uptime else "–"}</td>\n'
            f'<td><span class="verdict vd-{escape(verdict)}">{escape(verdict_label)}</span></td>\n'
            f"<td>{escape(down)}</td>\n<td>{escape(maintenance)}</td>\n"
            f"<td>{escape(excluded)}</td>\n</tr>\n")


Row = tuple[str, bool, str | None, str, str, str, str, str]


def row_markup(rows: Iterable[Row], to_date: str) -> Markup:
    """The ``<tr>`` of each month of a service's history table: (label, to date, uptime,
    verdict class, verdict, minutes down, maintenance, excluded) each; ``to_date``: the words
    after a month that has not ended, in the page's language."""
    return Markup("".join([
        _row(label, to_date if ongoing else None, *rest) for label, ongoing, *rest in rows]))


def days_markup(details: Iterable[DayDetail], incident: str) -> Markup:
    """The ``<li>`` of each day with something to tell (``incident``: the word before an
    incident's link, in the page's language)."""
    return Markup("".join([_detail(d, incident) for d in details]))


@lru_cache(maxsize=16384)
def _detail(d: DayDetail, incident: str) -> str:
    links = "".join(f'<br>{escape(incident)} <a href="{escape(i.href)}">{escape(i.title)}</a>'
                    for i in d.incidents)
    windows = "".join(f"<br>{escape(w)}" for w in d.windows)
    return (f'<li><time datetime="{escape(d.iso)}">{escape(d.label)}</time>: '
            f"{escape(d.summary)}{links}{windows}</li>\n")
