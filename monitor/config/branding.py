"""The status page's branding in probes.yaml: ``site.logo``, ``site.favicon``,
``site.custom_css`` (files) and ``site.accent_color``.

The files are named relative to the folder probes.yaml is in (``brand/logo.svg``), as the
files of a project are; :func:`resolve_site_files` makes them absolute when the config is
loaded from its file and says, at the key, when one is missing. A page build copies them into
the site (``static/brand/``) and links them: the logo in the header (with the site's title
as its text alternative), the favicon, and the custom CSS after the default one, so it wins.
``accent_color`` colours the links, the summaries that open details and the header's rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path, PurePath

from monitor.config.durations import invalid, show

__all__ = ["FILE_KINDS", "MAX_FILE_BYTES", "check_color", "file_check", "resolve_site_files"]

#: Which endings each file key takes.
FILE_KINDS: dict[str, tuple[str, ...]] = {
    "logo": (".svg", ".png", ".jpg", ".jpeg", ".webp"),
    "favicon": (".svg", ".png", ".ico"),
    "custom_css": (".css",),
}
#: The largest branding file copied into every build.
MAX_FILE_BYTES = 1_048_576
_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")


def check_color(value: object) -> object:
    """``#rgb`` or ``#rrggbb``: nothing else reaches the page's CSS."""
    if value is not None and (not isinstance(value, str) or not _COLOR.fullmatch(value)):
        raise invalid(f'expected a colour as "#rrggbb" or "#rgb", got {show(value)}')
    return value


def file_check(key: str) -> Callable[[str | None], str | None]:
    """The validator of a branding file key: a path with one of its endings."""
    def check(value: str | None) -> str | None:
        if value is None:
            return value
        if not value.strip() or "\n" in value or "\x00" in value:
            raise invalid(f"expected a file name, got {show(value)}")
        if PurePath(value).suffix.lower() not in FILE_KINDS[key]:
            raise invalid(f"expected a {', '.join(FILE_KINDS[key])} file, got {show(value)}")
        return value
    return check


def resolve_site_files(values: dict[str, str | None], base: Path
                       ) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Each given file key's path made absolute against ``base``; and the problems (key,
    message) of those that are not readable files of at most :data:`MAX_FILE_BYTES`."""
    resolved: dict[str, str] = {}
    problems: list[tuple[str, str]] = []
    for key, value in values.items():
        if value is None:
            continue
        path = (base / value).resolve()
        if not path.is_file():
            problems.append((key, f"file not found: {value} (relative to {base})"))
        elif path.stat().st_size > MAX_FILE_BYTES:
            problems.append((key, f"{value} is larger than 1 MiB: it is copied into every "
                                  "build; make it smaller"))
        else:
            resolved[key] = str(path)
    return resolved, problems
