"""What every page has around its content (:class:`Chrome`): language links, titles,
navigation, the time of the update, branding and the subscribe link; and where each page of
the site is (:func:`page_href`, :func:`brand_href`). Pure, like :mod:`statuspage.views`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath
from zoneinfo import ZoneInfo

from monitor.times import iso_utc
from statuspage.data import PageData
from statuspage.i18n import LANGUAGE_NAMES, LANGUAGES, Formatter

__all__ = ["Chrome", "Link", "brand_href", "chrome", "page_href"]


def page_href(kind: str, lang: str, default: str) -> str:
    """``index.html`` for the default language, ``index.de.html`` for the others."""
    return f"{kind}.html" if lang == default else f"{kind}.{lang}.html"


@dataclass(frozen=True)
class Link:
    lang: str
    name: str
    href: str
    current: bool


@dataclass(frozen=True)
class Chrome:
    """What every page has: language, titles, navigation, time of the update."""

    lang: str
    site_title: str
    description: str
    updated: str
    updated_iso: str
    languages: tuple[Link, ...]
    index_href: str
    history_href: str
    #: Branding (site.logo, favicon, custom_css, accent_color): site-relative hrefs.
    logo_href: str | None = None
    favicon_href: str | None = None
    custom_css_href: str | None = None
    accent_color: str | None = None
    #: The subscribe page in this language (None: the site takes no subscriptions).
    subscribe_href: str | None = None


def chrome(data: PageData, lang: str, kind: str, f: Formatter) -> Chrome:
    tz = ZoneInfo(data.site.timezone)
    default = data.site.language
    links = tuple(
        Link(code, LANGUAGE_NAMES[code], page_href(kind, code, default), code == lang)
        for code in LANGUAGES
    )
    return Chrome(
        lang=lang, site_title=data.site.title, description=data.site.description,
        updated=f.moment(data.now, tz),
        updated_iso=iso_utc(data.now), languages=links,
        index_href=page_href("index", lang, default),
        history_href=page_href("history", lang, default),
        **{f"{key}_href": brand_href(key, path) for key, path in data.site.files},
        accent_color=data.site.accent_color,
        subscribe_href=(page_href("subscribe", lang, default)
                        if data.site.subscribe is not None else None),
    )


def brand_href(key: str, path: str) -> str:
    """Where a branding file is in the site: ``static/brand/<key><its ending>``."""
    return f"static/brand/{key}{PurePath(path).suffix.lower()}"
