"""Serving a published status page: which file a URL path gets, never one outside the site.

The site itself is rendered by :mod:`statuspage`; ``upwatch run`` only serves what is published
at its ``--site`` directory (a symlink to the current version, swapped atomically). A folder of
the version may itself be a symbolic link to a folder beside the versions (the per-service
files, kept once for all versions): a file in it is served, nothing else outside the version.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

__all__ = ["site_file"]


def site_file(out_dir: Path, path: str) -> Path | None:
    """The file a request for ``path`` (as in the URL, ``""`` for the root) should get from the
    site published at ``out_dir``, or None when there is none (or the path leads outside)."""
    try:
        # ``..`` taken away as in a URL (RFC 3986, 5.2.4), never above the site's root
        rel = posixpath.normpath("/" + path).lstrip("/") or "index.html"
        root = Path(os.path.abspath(out_dir)).resolve()  # the version published right now
        folder, _, rest = rel.partition("/")
        base = (root / folder).resolve() if rest else root  # a folder may be a link beside
        wanted = (root / rel).resolve()
        if (base == root or base.is_relative_to(root) or base.parent.parent == root.parent) \
                and wanted.is_relative_to(base) and wanted.is_file():
            return wanted
    except (OSError, ValueError):  # a NUL byte, a name too long ...
        pass
    return None
