"""Render the static site and publish it atomically.

:func:`build_site` writes, for a :class:`PageData`: ``index.html`` (the site's language),
``index.<lang>.html`` for the other languages, ``history.html`` likewise, ``status.json``,
``feed.atom``, ``badges/<service>-uptime.svg``, ``badges/<service>-status.svg``,
``services/<service>.json`` (its figures and response times, for widgets),
``embed/<service>.html`` (its state and month in one line, for an iframe),
``feeds/<service>.atom`` (the feed's entries about that service), the site's
branding files (``static/brand/``: ``site.logo``, ``favicon``, ``custom_css``) and the
``static/`` assets. Jinja2 renders with autoescape on and the ``i18n`` extension.

Publishing is atomic, and writes only the files whose bytes changed since this process's
last build (:mod:`statuspage.publish`).

Serving: :func:`site_file` maps a request path to a file of the version published at that
moment (aiohttp's ``add_static`` resolves its directory once, at startup, and would keep
serving a version that has since been removed).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import jinja2
from markupsafe import Markup

from monitor.config import Config
from monitor.core.windows import Window
from monitor.store.ledger import Ledger
from statuspage.badges import status_parts, uptime_parts
from statuspage.chrome import brand_href, page_href
from statuspage.data import DAYS, PageData, gather
from statuspage.feed import Entry, feed_entries, feed_view
from statuspage.forked import Children, may_fork, shares
from statuspage.fragments import Fragments, embed_pages, history_pieces, index_pieces
from statuspage.history import history_view
from statuspage.i18n import LANGUAGES
from statuspage.publish import BuildError, BuildReport, Published
from statuspage.subscribe import subscribe_view
from statuspage.summary import (
    LATENCY_HOLE,
    json_text,
    service_figures,
    service_json_text,
    status_json,
)
from statuspage.templating import TEMPLATE_DIR, environment
from statuspage.views import ServiceView, index_view
from statuspage.writing import writing

__all__ = ["STATIC_DIR", "TEMPLATE_DIR", "BuildError", "BuildReport", "build_from_ledger",
           "build_site", "environment", "render_files"]


def _find_static() -> Path:
    """The page's assets (CSS, favicon): the top-level ``static/`` of a source checkout, which
    is where a user restyles the page; an installed wheel carries the same files as
    ``statuspage/static`` (pyproject maps them there)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "static", here.parent / "static"):
        if (candidate / "style.css").is_file():
            return candidate
    raise RuntimeError(f"the status page's static/ folder is missing (looked beside {here})")


STATIC_DIR = _find_static()


def _asset_version(static_dir: Path) -> str:
    """A hash of the assets, appended to their URLs so browsers never mix old and new."""
    h = hashlib.sha256()
    for p in sorted(static_dir.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(static_dir).as_posix().encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:10]


def _languages(default: str, languages: Sequence[str]) -> list[str]:
    unknown = [lang for lang in languages if lang not in LANGUAGES]
    if unknown:
        raise BuildError(f'unknown language "{unknown[0]}" (known: {", ".join(LANGUAGES)})')
    return [default, *(lang for lang in dict.fromkeys(languages) if lang != default)]


def render_files(
    data: PageData, languages: Sequence[str] = LANGUAGES, *, asset_version: str = "",
    fragments: Fragments | None = None,
    emit: Callable[[str, str | bytes], None] | None = None,
    jobs: int = 1,
) -> dict[str, str]:
    """Every generated file (not the static assets), path → text. Deterministic.

    ``fragments``: the services' pieces kept from the builds before in this process (see
    :mod:`statuspage.fragments`); a service whose key did not change is not rendered again.
    None: render everything. ``emit``: called with each file as soon as it is rendered, as
    text or, for the pages made of the services' pieces, as UTF-8 (a
    :class:`statuspage.writing.Writer` writes it meanwhile); the per-service files come first,
    the five languages' pages after. With ``emit`` nothing is kept: the result is empty.
    ``jobs``: the processes a build that keeps nothing renders in (forked children render
    some languages' pages: :mod:`statuspage.forked`); 1: this one only."""
    files: dict[str, str] = {}

    def put(rel: str, content: str | bytes) -> None:
        if emit is not None:
            emit(rel, content)
        else:
            files[rel] = content if isinstance(content, str) else content.decode()

    fragments = fragments or Fragments()
    fragments.begin(data, asset_version)
    mine = _languages(data.site.language, languages)
    theirs: list[list[str]] = []
    if jobs > 1 and fragments.fresh and may_fork():
        mine, theirs = shares(mine, jobs)

    def language(lang: str, put: Callable[[str, str | bytes], None]) -> None:
        _language_files(data, lang, asset_version, fragments, put)
    with Children(theirs, language) as children:  # forked before any file is handed over
        fragments.processes = 1 + children.forked
        _service_files(data, fragments, put)
        for lang in [*mine, *children.left]:
            language(lang, put)
        for rel, blob in children.files():
            put(rel, blob)
    fragments.end()
    return files


def _language_files(data: PageData, lang: str, asset_version: str, fragments: Fragments,
                    put: Callable[[str, str | bytes], None]) -> None:
    """index, history and subscribe pages in ``lang``; the embed pages in the site's."""
    default = data.site.language
    env = environment(lang)
    common = {"asset_version": asset_version, "days": DAYS, "zone": data.site.timezone}
    pieces = index_pieces(data, lang, env, fragments)
    iv = index_view(data, lang, pieces.views)
    holes = {g.id: _hole(g.id) for g in iv.groups}
    put(page_href("index", lang, default), _filled(env.get_template("index.html").render(
        c=iv.chrome, v=iv, more=True, svc=holes, **common), [
            (holes[g.id], [part for s in g.services for part in pieces.blobs[s.id]])
            for g in iv.groups]))
    if lang == default:  # one line per service for an iframe, in the site's language
        def embed(template: jinja2.Template, sv: ServiceView) -> str:
            return template.render(c=iv.chrome, s=sv, **common)
        for name, text in embed_pages(pieces.views, lang, env, fragments, embed).items():
            put(f"embed/{name}.html", text)
    months = history_pieces(data, lang, env, fragments)
    hv = history_view(data, lang, months.views)
    hole = _hole("history")
    put(page_href("history", lang, default), _filled(env.get_template("history.html").render(
        c=hv.chrome, v=hv, more=False, svc=hole, **common),
        [(hole, [part for s in hv.services for part in months.blobs[s.id]])]))
    sub = subscribe_view(data, lang)  # with subscriptions: in probes.yaml
    if sub is not None:
        put(page_href("subscribe", lang, default), env.get_template("subscribe.html").render(
            c=sub.chrome, v=sub, more=False, **common))


def _service_files(data: PageData, fragments: Fragments,
                   put: Callable[[str, str | bytes], None]) -> None:
    """feed.atom, status.json, and each service's badges, JSON and feed."""
    feed = environment(data.site.language).get_template("feed.xml")
    # feed.atom and each service's
    entries = fragments.same_entries(feed_entries(data, kept=fragments.outages))
    put("feed.atom", feed.render(f=feed_view(data, entries=entries)))
    about: dict[str, list[tuple[datetime, Entry]]] = {s.name: [] for s in data.services}
    for entry in entries:
        for name in dict.fromkeys(entry[1].about):  # each entry once per service
            if name in about:
                about[name].append(entry)
    # each service's figures encoded once, for status.json and services/*.json alike, with its
    # response times (encoded once an hour: Fragments.latency_text) put in the place they leave
    figures = {s.name: json_text(service_figures(s, data.now, LATENCY_HOLE),
                                 [fragments.latency_text(s, data.now)]) for s in data.services}
    put("status.json", json_text(status_json(data, dict.fromkeys(figures, LATENCY_HOLE)),
                                 list(figures.values())) + "\n")
    for s in data.services:
        put(f"badges/{s.name}-uptime.svg", fragments.badge("uptime", s.name, uptime_parts(s)))
        put(f"badges/{s.name}-status.svg", fragments.badge("status", s.name, status_parts(s)))
        put(f"services/{s.name}.json", service_json_text(data, s, figures[s.name]) + "\n")
        mine = about[s.name]

        def own_feed(name: str = s.name, mine: list[tuple[datetime, Entry]] = mine) -> str:
            return feed.render(f=feed_view(data, service=name, entries=mine))
        put(f"feeds/{s.name}.atom", fragments.feed(
            s.name, (tuple(mine), s.title, None if mine else data.now), own_feed))


#: Where a page's template places the services' pieces: ``_hole(name)`` (a NUL and a random
#: token, which no text of the page can hold), filled by :func:`_filled`.
_HOLE = f"\0pieces {secrets.token_hex(16)} "


def _hole(name: str) -> Markup:
    return Markup(f"{_HOLE}{name}\0")


def _filled(page: str, holes: Sequence[tuple[str, Sequence[bytes]]]) -> bytes:
    """``page`` as UTF-8 with each hole, in the order the page holds them, replaced by its
    pieces. Joined as bytes, the pieces (the megabytes of the page) are not copied into a
    string and encoded again at every build: a 1,000-service index.html took 10–15 ms so,
    1.5 ms now."""
    parts: list[bytes] = []
    rest = page
    for hole, pieces in holes:
        head, found, rest = rest.partition(hole)
        if not found:
            raise AssertionError(f"the page's template does not place {hole!r}")
        parts.append(head.encode())
        parts.extend(pieces)
    parts.append(rest.encode())
    return b"".join(parts)


def build_site(
    data: PageData,
    out_dir: Path,
    *,
    languages: Sequence[str] = LANGUAGES,
    static_dir: Path = STATIC_DIR,
    fragments: Fragments | None = None,
    published: Published | None = None,
    jobs: int = 1,
) -> BuildReport:
    """Render the whole site for ``data`` and publish it at ``out_dir`` atomically.

    ``fragments`` and ``published``: what the builds before in this process rendered and
    published (:class:`statuspage.builder.SiteBuilder` keeps them): then only what changed
    is rendered again, and only files whose bytes changed are written. ``jobs``: see
    :func:`render_files`."""
    out_dir = Path(os.path.abspath(out_dir))  # not resolve(): out_dir itself is the link
    fragments = fragments if fragments is not None else Fragments()
    if not out_dir.parent.exists():
        raise BuildError(f"{out_dir.parent} does not exist; create it first")
    if not out_dir.parent.is_dir():
        raise BuildError(f"{out_dir.parent} is a file, not a folder")
    brand = _brand_files(data)
    version_tag = _asset_version(static_dir) + "".join(
        f"-{src.stat().st_mtime_ns % 100_000}" for src in brand.values())
    try:
        with writing(out_dir, published,
                     folders=("badges", "services", "embed", "feeds")) as writer:
            render_files(data, languages, asset_version=version_tag, fragments=fragments,
                         emit=writer.put, jobs=jobs)
            for src in sorted(static_dir.rglob("*")):  # copied as they are
                if src.is_file():
                    writer.put(f"static/{src.relative_to(static_dir).as_posix()}",
                               src.read_bytes())
            for rel, src in brand.items():  # site.logo, favicon, custom_css
                writer.put(rel, src.read_bytes())
    except OSError as err:  # no permission, a read-only file system, a full disk …
        raise BuildError(f"cannot write in {out_dir.parent} ({_reason(err)}): choose a folder "
                         "this user can write to, on a disk with free space") from err
    assert writer.report is not None
    return replace(writer.report, processes=fragments.processes)


def _reason(err: OSError) -> str:
    """What the system said; for ``shutil.Error`` (copytree's list of failed copies) the first."""
    if isinstance(err, shutil.Error) and err.args and isinstance(err.args[0], list) \
            and err.args[0] and len(err.args[0][0]) == 3:
        return str(err.args[0][0][2])
    return err.strerror or str(err)


def _brand_files(data: PageData) -> dict[str, Path]:
    """The branding files to copy, by their place in the site; a missing one is a BuildError
    naming its key (``load_config`` checks them first: this is a file removed since)."""
    found: dict[str, Path] = {}
    for key, path in data.site.files:
        src = Path(path)
        if not src.is_file():
            raise BuildError(f"site.{key}: file not found: {path} (restore it, or remove "
                             f"site.{key} from probes.yaml)")
        found[brand_href(key, path)] = src
    return found


def build_from_ledger(
    config: Config,
    ledger: Ledger,
    windows: Sequence[Window],
    now: datetime,
    out_dir: Path,
    *,
    languages: Sequence[str] = LANGUAGES,
) -> BuildReport:
    """Gather from the ledger at ``now`` and build from nothing (``windows``: those declared
    at run time). ``upwatch build-page`` and ``upwatch run``'s build worker build through a
    :class:`statuspage.builder.SiteBuilder`, which does the same and keeps what it can."""
    return build_site(gather(config, ledger, now, windows), out_dir, languages=languages)
