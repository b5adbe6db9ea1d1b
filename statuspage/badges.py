"""Shields-style SVG badges: ``<service>-uptime.svg`` (this month to date against the target)
and ``<service>-status.svg`` (the current state), drawn by :func:`badge_svg` from what
:func:`uptime_parts` and :func:`status_parts` say. Language-neutral (English), text escaped.

Widths are estimated from Verdana 11 px advance widths (as shields.io does), so no font is
needed at build time; the SVG names its font and falls back to the reader's sans-serif.
"""

from __future__ import annotations

from markupsafe import escape

from statuspage.data import ServiceData
from statuspage.i18n import formatter
from statuspage.views import percent_places

__all__ = ["COLOURS", "Badge", "badge_svg", "status_parts", "text_width", "uptime_parts"]

#: Fill colours; each has at least 4.5:1 contrast with the white badge text.
COLOURS = {
    "green": "#1a7f37", "amber": "#9a6700", "red": "#cf222e", "blue": "#0969da",
    "grey": "#57606a", "label": "#424a53",
}
_MAX_TEXT = 40

#: What a badge says: label, value, colour (a key of :data:`COLOURS`).
Badge = tuple[str, str, str]

# Verdana 11px advance widths (px) of printable ASCII, from space (32) to tilde (126).
_WIDTHS = (
    3.9, 4.7, 5.5, 9.0, 7.0, 12.3, 8.0, 3.0, 5.0, 5.0, 7.0, 9.0, 4.0, 5.0, 4.0, 5.0,
    7.0, 7.0, 7.0, 7.0, 7.0, 7.0, 7.0, 7.0, 7.0, 7.0, 5.0, 5.0, 9.0, 9.0, 9.0, 6.0,
    11.0, 7.5, 7.6, 7.7, 8.5, 7.0, 6.3, 8.5, 8.3, 4.6, 5.0, 7.6, 6.1, 9.4, 8.3, 8.7,
    6.6, 8.7, 7.7, 7.5, 6.8, 8.1, 7.5, 10.9, 7.5, 6.8, 7.5, 5.0, 5.0, 5.0, 9.0, 7.0,
    7.0, 6.6, 6.9, 5.7, 6.9, 6.6, 3.9, 6.9, 7.0, 3.0, 3.8, 6.5, 3.0, 10.7, 7.0, 6.7,
    6.9, 6.9, 4.7, 5.7, 4.3, 7.0, 6.5, 9.0, 6.5, 6.5, 5.8, 7.0, 5.0, 7.0, 9.0,
)


def text_width(text: str) -> float:
    """Estimated width in px of ``text`` in Verdana 11 px (wide glyphs for non-ASCII)."""
    return sum(_WIDTHS[ord(ch) - 32] if 32 <= ord(ch) <= 126 else 8.5 for ch in text)


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"


def badge_svg(label: str, value: str, colour: str) -> str:
    """A two-part badge ``[label | value]``; ``colour`` is a key of :data:`COLOURS`."""
    label, value = _clip(label), _clip(value)
    lw = round(text_width(label) + 10)
    vw = round(text_width(value) + 10)
    total = lw + vw
    title = escape(f"{label}: {value}")
    el, ev = escape(label), escape(value)
    lx, vx = lw * 5, lw * 10 + vw * 5  # text is drawn at scale(.1) for sub-pixel placement
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" '
        f'aria-label="{title}"><title>{title}</title>'
        f'<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" '
        f'stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>'
        f'<clipPath id="r"><rect width="{total}" height="20" rx="3" fill="#fff"/></clipPath>'
        f'<g clip-path="url(#r)"><rect width="{lw}" height="20" fill="{COLOURS["label"]}"/>'
        f'<rect x="{lw}" width="{vw}" height="20" fill="{COLOURS[colour]}"/>'
        f'<rect width="{total}" height="20" fill="url(#s)"/></g>'
        f'<g fill="#fff" text-anchor="middle" '
        f'font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="110">'
        f'<text aria-hidden="true" x="{lx}" y="150" fill="#010101" fill-opacity=".3" '
        f'transform="scale(.1)">{el}</text>'
        f'<text x="{lx}" y="140" transform="scale(.1)">{el}</text>'
        f'<text aria-hidden="true" x="{vx}" y="150" fill="#010101" fill-opacity=".3" '
        f'transform="scale(.1)">{ev}</text>'
        f'<text x="{vx}" y="140" transform="scale(.1)">{ev}</text></g></svg>\n'
    )


def uptime_parts(s: ServiceData) -> Badge:
    """``[<title> uptime | 99.95%]``: green when on target, red when below, grey without data."""
    u = s.month.uptime
    if u.uptime_percent is None:
        return f"{s.title} uptime", "no data", "grey"
    value = formatter("en").percent(u.uptime_percent, percent_places(s.target))
    return f"{s.title} uptime", value, "green" if u.met else "red"


_STATUS = {
    "up": ("operational", "green"),
    "degraded": ("degraded", "amber"),
    "down": ("down", "red"),
    "nodata": ("no data", "grey"),
}


def status_parts(s: ServiceData) -> Badge:
    """``[<title> | operational]`` (or degraded, down, no data, maintenance)."""
    if s.in_maintenance:
        return s.title, "maintenance", "blue"
    text, colour = _STATUS[s.state.label]
    return s.title, text, colour
