"""The per-service pieces of the pages, rendered once and kept from one build to the next.

Each service has a piece of ``index.html`` (its ``<li>``: state, bar, days; the line on its
last check and its response-time charts are put in at each build, the charts kept apart while
they show the same), an ``embed/`` page and a section of ``history.html``, in each language.
:class:`Fragments` keeps, for each (piece, language, service), the view model and the HTML it
rendered, with the key (:mod:`statuspage.keys`) it was rendered for. A later build in the same
process reuses them while the key is equal, and renders anew what changed: ``upwatch run``'s
rebuilder keeps one :class:`Fragments` for its life; ``upwatch build-page`` starts with an
empty one.

What the five languages share is worked out once per build: the keys (one per service, in no
language), the feed's entries, and the charts' drawings (:func:`statuspage.charts.chart`).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Generic, TypeVar

import jinja2
from markupsafe import Markup, escape

from monitor.times import epoch_minute
from statuspage.badges import Badge, badge_svg
from statuspage.charts import KeptLines
from statuspage.data import DAYS, Day, IncidentData, PageData, ServiceData
from statuspage.feed import Entry
from statuspage.history import ServiceHistory, service_history
from statuspage.keys import Key, history_key, service_key
from statuspage.summary import KeptColumns, json_text, latency_json
from statuspage.views import (
    Drawings,
    ServiceView,
    drawings,
    service_charts,
    service_note,
    service_view,
)

__all__ = ["Fragments", "Pieces", "embed_pages", "history_pieces", "index_pieces"]

V = TypeVar("V")


@dataclass
class _Kept(Generic[V]):
    """One kind of piece: (language, service) → (key, what was made for it)."""

    pieces: dict[tuple[str, str], tuple[object, V]] = field(default_factory=dict)
    used: set[tuple[str, str]] = field(default_factory=set)

    def get(self, slot: tuple[str, str], key: object, make: Callable[[], V],
            counts: dict[str, int]) -> V:
        self.used.add(slot)
        found = self.pieces.get(slot)
        if found is not None and (found[0] is key or found[0] == key):
            counts["reused"] += 1
            return found[1]
        made = make()
        self.pieces[slot] = (key, made)
        counts["rendered"] += 1
        return made

    def forget_unused(self) -> None:
        """Drop the pieces the last build did not ask for (a service or language gone)."""
        if len(self.pieces) != len(self.used):  # else every piece was asked for
            for slot in self.pieces.keys() - self.used:
                del self.pieces[slot]
        self.used = set()


class Fragments:
    """The pieces kept between the builds of one process (see the module's doc).

    ``counts``: pieces rendered and reused by the latest build, for tests and the bench."""

    def __init__(self) -> None:
        self._site: Hashable = None
        self.services: _Kept[tuple[ServiceView, tuple[bytes, ...]]] = _Kept()
        self.embeds: _Kept[str] = _Kept()
        self.history: _Kept[tuple[ServiceHistory, tuple[bytes, ...]]] = _Kept()
        #: Not counted: a service's response times in JSON, its own Atom feed, its badges.
        self.latency: _Kept[str] = _Kept()
        self.feeds: _Kept[str] = _Kept()
        self.badges: _Kept[str] = _Kept()
        #: Each service's response-time charts, per language, put in its piece at each build.
        self.charts: _Kept[bytes] = _Kept()
        self._uncounted = {"rendered": 0, "reused": 0}
        #: The feed's outage entries (:func:`statuspage.feed.feed_entries`'s ``kept``).
        self.outages: dict[tuple[str, date], tuple[Day, str, float, tuple[datetime, Entry]]] = {}
        self._entries: dict[str, tuple[datetime, Entry]] = {}
        self._keys: dict[str, tuple[Key, Key]] = {}
        self._shown: dict[str, tuple[object, ...]] = {}  # each service's charts as shown
        self._columns: KeptColumns = {}  # the response times' columns (latency_json)
        self._lines: KeptLines = {}  # the charts' lines (statuspage.charts.drawing)
        #: Each service's charts as drawn (:func:`statuspage.views.drawings`' ``kept``).
        self._drawn: dict[str, tuple[object, Drawings]] = {}
        self.counts = {"rendered": 0, "reused": 0}
        #: The processes the latest build rendered in (:mod:`statuspage.forked`).
        self.processes = 1

    def begin(self, data: PageData, asset_version: str) -> None:
        """Start a build: anything site-wide that the pieces depend on (the site's language,
        time zone, title, assets…) changed since the last one → keep nothing."""
        site = (data.site, asset_version, DAYS)
        if site != self._site:
            self.services, self.embeds, self.history = _Kept(), _Kept(), _Kept()
            self.latency, self.feeds, self.badges, self.outages = _Kept(), _Kept(), _Kept(), {}
            self.charts, self._columns, self._lines = _Kept(), {}, {}
            self._entries = {}
            self._site = site
        mine: dict[str, list[IncidentData]] = {s.name: [] for s in data.services}
        for inc in data.incidents:
            for name in dict.fromkeys(inc.services):
                if name in mine:
                    mine[name].append(inc)
        names = {s.name for s in data.services}
        self._columns = {key: kept for key, kept in self._columns.items() if key[0] in names}
        self._lines = {key: kept for key, kept in self._lines.items() if key[0] in names}
        before, self._keys = self._keys, {}
        drawn, self._drawn = self._drawn, {}
        shown_before, self._shown = self._shown, {}
        for s in data.services:
            # drawn again only when its response times changed
            made = drawings(s, data.now, drawn, self._lines)
            self._drawn[s.name] = drawn[s.name]
            shown = tuple(None if d is None else d.shown for d in made)
            old_shown = shown_before.get(s.name)
            self._shown[s.name] = old_shown if old_shown == shown else shown
            keys = (service_key(s, data, tuple(mine[s.name])), history_key(s))
            # a key equal to the last build's is that very object: the eleven pieces that
            # look it up compare it by identity, not again item by item
            old = before.get(s.name)
            if old is not None:
                keys = (old[0] if old[0] == keys[0] else keys[0],
                        old[1] if old[1] == keys[1] else keys[1])
            self._keys[s.name] = keys
        self.counts = {"rendered": 0, "reused": 0}

    @property
    def fresh(self) -> bool:
        """Whether no piece is kept: the build renders everything (a build from nothing)."""
        return not (self.services.pieces or self.history.pieces or self.embeds.pieces)

    def end(self) -> None:
        for kept in (self.services, self.embeds, self.history, self.latency, self.feeds,
                     self.badges, self.charts):
            kept.forget_unused()

    def key(self, name: str) -> tuple[Key, Key]:
        return self._keys[name]

    def shown(self, name: str) -> tuple[object, ...]:
        """What the service's charts show (:attr:`statuspage.charts.Drawing.shown`), the very
        object of the build before while equal to it."""
        return self._shown[name]

    @property
    def uncounted(self) -> dict[str, int]:
        """The counts of what is not a service's piece (its charts, JSON, feed, badges)."""
        return self._uncounted

    def latency_text(self, s: ServiceData, now: datetime) -> str:
        """:func:`statuspage.summary.latency_json` of ``s`` as JSON text, kept while its points
        and the hour are the same."""
        return self.latency.get(("", s.name), (s.latency_hours, s.latency_days,
                                                s.latency_locations, epoch_minute(now) // 60),
                                lambda: json_text(latency_json(s, now, self._columns)),
                                self._uncounted)

    def same_entries(self, entries: list[tuple[datetime, Entry]]) -> list[tuple[datetime, Entry]]:
        """``entries`` (:func:`statuspage.feed.feed_entries`'), each the very object of the
        build before when it is equal to it. Each service's feed is kept while its entries are
        the same, and a window of 1,000 services is in 1,000 of them: compared by identity,
        not field by field."""
        before, self._entries = self._entries, {}
        out = []
        for entry in entries:
            found = before.get(entry[1].id)
            if found is not None and found == entry:
                entry = found
            self._entries[entry[1].id] = entry
            out.append(entry)
        return out

    def badge(self, kind: str, name: str, says: Badge) -> str:
        """A service's ``kind`` badge saying ``says``, drawn again only when that changed."""
        return self.badges.get((kind, name), says, lambda: badge_svg(*says), self._uncounted)

    def feed(self, name: str, key: object, make: Callable[[], str]) -> str:
        """A service's own feed, kept while ``key`` (its entries…) is the same."""
        return self.feeds.get(("", name), key, make, self._uncounted)


@dataclass(frozen=True)
class Pieces(Generic[V]):
    """Each service's view model and its piece of the page, as UTF-8 parts to be joined in
    order (the page is joined as bytes: its megabytes of pieces are not encoded again at
    every build)."""

    views: Mapping[str, V]
    blobs: Mapping[str, tuple[bytes, ...]]


#: Where a service's piece of ``index.html`` places its last check's line (a NUL and a random
#: token, which no text of the page can hold): the piece is kept in two parts around it, and
#: the line is put between them at every build (:func:`index_pieces`).
_NOTE = f"\0note {secrets.token_hex(16)}\0"


def _pieces(data: PageData, lang: str, template: jinja2.Template,
            cache: _Kept[tuple[V, tuple[bytes, ...]]], key: Callable[[str], object],
            view_of: Callable[[ServiceData, PageData, str], V],
            counts: dict[str, int]) -> Pieces[V]:
    """Each service's view and piece of a page in ``lang``: kept while ``key`` is the same,
    else made with ``view_of`` and ``template`` (cut in two around :data:`_NOTE`, when the
    template places it)."""
    views: dict[str, V] = {}
    blobs: dict[str, tuple[bytes, ...]] = {}
    hole = _NOTE.encode()
    for s in data.services:
        def make(s: ServiceData = s) -> tuple[V, tuple[bytes, ...]]:
            view = view_of(s, data, lang)
            blob = template.render(s=view, days=DAYS, note=Markup(_NOTE)).encode()
            head, found, tail = blob.partition(hole)
            return view, ((head, tail) if found else (blob,))
        views[s.name], blobs[s.name] = cache.get((lang, s.name), key(s.name), make, counts)
    return Pieces(views, blobs)


def _note(s: ServiceData, now: datetime, lang: str) -> bytes:
    """The line on ``s``'s last check (:func:`statuspage.views.service_note`), as the piece of
    ``index.html`` places it."""
    note = service_note(s, now, lang)
    return b"" if note is None else f'<p class="note-last muted">{escape(note)}</p>\n'.encode()


def index_pieces(data: PageData, lang: str, env: jinja2.Environment,
                 fragments: Fragments) -> Pieces[ServiceView]:
    """Each service's view and ``<li>`` on ``index.html`` in ``lang``, kept or made, with the
    line on its last check as it is now (not kept: it changes with nearly every check) and
    its response-time charts (kept apart, while they show the same: they move with the
    checks, and a service checked every minute would be rendered again whole for them)."""
    made = _pieces(data, lang, env.get_template("service.html"), fragments.services,
                   lambda name: fragments.key(name)[0], service_view, fragments.counts)
    template = env.get_template("charts.html")
    blobs = {}
    for s in data.services:
        parts = made.blobs[s.name]
        if len(parts) != 2:
            raise AssertionError("service.html does not place the line on the last check")

        def charts(s: ServiceData = s) -> bytes:
            return template.render(charts=service_charts(s, data.now, lang)).encode()
        drawn = fragments.charts.get((lang, s.name), fragments.shown(s.name), charts,
                                     fragments.uncounted)
        blobs[s.name] = (parts[0], _note(s, data.now, lang), drawn, parts[1])
    return Pieces(made.views, blobs)


def embed_pages(views: Mapping[str, ServiceView], lang: str, env: jinja2.Environment,
                fragments: Fragments, render: Callable[[jinja2.Template, ServiceView], str],
                ) -> dict[str, str]:
    """``embed/<service>.html`` of each service, kept or made (``render`` fills the page)."""
    template = env.get_template("embed.html")
    out = {}
    for name, view in views.items():
        def make(view: ServiceView = view) -> str:
            return render(template, view)
        out[name] = fragments.embeds.get((lang, name), fragments.key(name)[0], make,
                                            fragments.counts)
    return out


def history_pieces(data: PageData, lang: str, env: jinja2.Environment,
                   fragments: Fragments) -> Pieces[ServiceHistory]:
    """Each service's months and their section of ``history.html`` in ``lang``."""
    return _pieces(data, lang, env.get_template("history_service.html"), fragments.history,
                   lambda name: fragments.key(name)[1], service_history, fragments.counts)
