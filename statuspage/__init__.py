"""The static status page: ledger → :class:`PageData` → view models → Jinja2 → files.

``build_from_ledger(config, ledger, windows, now, out_dir)`` builds once, from nothing;
``gather`` + ``build_site`` are its two halves. ``statuspage.builder.SiteBuilder`` builds again
and again, redoing only what changed: what ``upwatch build-page`` (``--serve`` for ``upwatch
run``) uses. ``upwatch run`` imports nothing of this package: it runs ``upwatch build-page
--serve`` as a child process (:mod:`monitor.run.pages`).
"""

from statuspage.data import PageData, gather
from statuspage.i18n import LANGUAGES
from statuspage.render import (
    BuildError,
    BuildReport,
    build_from_ledger,
    build_site,
)

__all__ = [
    "LANGUAGES", "BuildError", "BuildReport", "PageData", "build_from_ledger", "build_site",
    "gather",
]
