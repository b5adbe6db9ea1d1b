"""Serving a published status page: which file a URL path gets, never one outside the site.

The site itself is rendered by :mod:`statuspage`; ``upwatch run`` only serves what is published
at its ``--site`` directory (a symlink to the current version, swapped atomically).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["site_file"]


def site_file(out_dir: Path, path: str) -> Path | None:
    """The file a request for ``path`` (as in the URL, ``""`` for the root) should get from the
    site published at ``out_dir``, or None when there is none (or the path leads outside)."""
    try:
        root = Path(os.path.abspath(out_dir)).resolve()  # the version published right now
        wanted = (root / (path.lstrip("/") or "index.html")).resolve()
        if wanted.is_relative_to(root) and wanted.is_file():
            return wanted
    except (OSError, ValueError):  # a NUL byte, a name too long ...
        pass
    return None
