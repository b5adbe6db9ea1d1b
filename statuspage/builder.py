"""Build the status page again and again in one process, redoing only what changed.

A :class:`SiteBuilder` keeps, between its builds:

- the days and months of each service (:class:`statuspage.uptimes.Kept`): a minute later, the
  days before today and the months before this one are those of the last build unless their
  runs or windows changed;
- each service's rendered pieces, per language (:class:`statuspage.fragments.Fragments`): a
  service whose key did not change is not rendered again;
- what it published (:class:`statuspage.publish.Published`): a file whose bytes did not
  change is left as it is in the version it takes over, or hard-linked from the version
  before; it is not written.

A build runs with the collector paused (:func:`monitor.run.collector.paused_collector`);
:meth:`SiteBuilder.settle` collects what the builds left, once the page is published.

The output is the same as a build from nothing (``tests/test_statuspage_fragments.py``).
``upwatch run``'s rebuilder holds one for its life (``upwatch build-page --serve``);
``upwatch build-page`` builds once, from nothing.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from monitor.config import Config
from monitor.core.windows import Window
from monitor.run.collector import paused_collector
from monitor.store.ledger import Ledger
from statuspage.data import PageData, gather
from statuspage.fragments import Fragments
from statuspage.i18n import LANGUAGES
from statuspage.publish import BuildReport, Published
from statuspage.render import STATIC_DIR, build_site
from statuspage.uptimes import Kept

__all__ = ["SETTLE_FULL", "SiteBuilder"]

#: :meth:`SiteBuilder.settle` collects every generation after this many builds (an hour of
#: ``upwatch run``), the young ones after the others.
SETTLE_FULL = 60


class SiteBuilder:
    """Builds the site for ``languages`` again and again, keeping what it can (see above).
    ``jobs``: the processes its first build, which keeps nothing, renders in
    (:mod:`statuspage.forked`); the builds after render in this one."""

    def __init__(self, *, languages: Sequence[str] = LANGUAGES,
                 static_dir: Path = STATIC_DIR, jobs: int = 1) -> None:
        self.languages, self.static_dir, self.jobs = tuple(languages), static_dir, jobs
        self.kept = Kept()
        self.fragments = Fragments()
        self.published = Published()
        self._unsettled = 0  # builds since the last full collection

    def gather(self, config: Config, ledger: Ledger, now: datetime,
               windows: Sequence[Window] = ()) -> PageData:
        return gather(config, ledger, now, windows, self.kept)

    def build_data(self, data: PageData, out_dir: Path) -> BuildReport:
        return build_site(data, out_dir, languages=self.languages, static_dir=self.static_dir,
                          fragments=self.fragments, published=self.published,
                          jobs=self.jobs)

    def build(self, config: Config, ledger: Ledger, windows: Sequence[Window], now: datetime,
              out_dir: Path) -> BuildReport:
        """Gather from the ledger at ``now`` and build into ``out_dir``, the collector paused.
        """
        with paused_collector():
            return self.build_data(self.gather(config, ledger, now, windows), out_dir)

    def settle(self) -> float:
        """Collect the reference cycles the builds left, after a build whose page is out: the
        young generations (what survived the build: 40-60 ms for 1,000 services), and every
        :data:`SETTLE_FULL` builds all of them (0.5 s). The seconds it took."""
        started = time.monotonic()
        self._unsettled += 1
        if self._unsettled >= SETTLE_FULL:
            self._unsettled = 0
            gc.collect()
        else:
            gc.collect(1)
        return time.monotonic() - started
