"""The status page rebuilt every minute by ``upwatch run``: one child build at a time, logged,
and spaced out when builds take long (:mod:`monitor.run.pages` runs each build)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from monitor.core.clock import Clock
from monitor.run.pages import (
    BuildWorker,
    ChildBuild,
    SitePlan,
    build_page_worker,
    count_files,
    run_build,
)

__all__ = ["PAGE_BUDGET_FACTOR", "PageBuilder"]

log = logging.getLogger("upwatch")

#: A status page rebuild may take at most 1/PAGE_BUDGET_FACTOR of the time between rebuilds.
PAGE_BUDGET_FACTOR = 10.0


class PageBuilder:
    """Builds ``site`` (None: no page) from the monitor's config file and ledger."""

    def __init__(self, site: SitePlan | None, config_path: Path, db: str | Path, clock: Clock,
                 every_s: float) -> None:
        self._site, self._config_path, self._db, self._clock = site, config_path, db, clock
        self._every_s = every_s
        self.interval = every_s  # seconds to the next build: stretched when builds are slow
        self._built = False
        self._lock = asyncio.Lock()  # one build at a time
        self._worker = (BuildWorker(build_page_worker(config_path, db, site.out_dir))
                        if site is not None and site.serve else None)

    async def rebuild(self) -> None:
        """Build and publish the status page in a child process (``upwatch build-page`` on this
        monitor's config file and ledger, niced, in its own session), one build at a time.

        Nothing of the build runs on the event loop or the ledger's writer thread: the child
        reads the ledger through its own connection (WAL: it never blocks a commit). A build
        that fails or outlives ``SitePlan.timeout_s`` (then it is killed) is logged with what it
        wrote to stderr; the published page stays as it was, and the next build comes as usual.
        """
        site = self._site
        if site is None:
            return
        # The child starts in this process's working directory: relative paths mean the same.
        async with self._lock:
            # The page is built as of this monitor's clock, not the child's.
            now = self._clock.now()
            argv = (self._worker.argv if self._worker is not None else
                    site.command(self._config_path, self._db, site.out_dir, now))
            started = self._clock.monotonic()
            try:
                built = (await self._worker.build(now, site.timeout_s)
                         if self._worker is not None else
                         await run_build(argv, timeout_s=site.timeout_s))
            except OSError as err:
                built = None
                log.error("the status page build could not start (%s): %s", argv[0], err)
            took = self._clock.monotonic() - started
            if built is not None:
                await self._outcome(built, site.out_dir, took, site.timeout_s)
            # Keep rebuilding to at most a tenth of the time (one core's worth): thousands of
            # services take seconds to build, and a build killed at the timeout counts as long.
            stretched = max(self._every_s, PAGE_BUDGET_FACTOR * took)
            if stretched > self.interval + 1:
                log.warning("the status page took %.1fs to build; rebuilding every %.0fs instead "
                            "of every %.0fs", took, stretched, self._every_s)
            self.interval = stretched

    async def close(self) -> None:
        """End the build worker, if there is one (the monitor stops)."""
        if self._worker is not None:
            async with self._lock:
                await self._worker.close()

    async def _outcome(self, built: ChildBuild, out_dir: Path, took: float,
                       timeout_s: float) -> None:
        """Log how a build went: its stderr lines (warnings), the first success, a failure."""
        if built.timed_out:
            log.error("the status page build took longer than %gs and was killed (pid %d); "
                      "the page stays as it was", timeout_s, built.pid)
            return
        if not built.ok:
            for line in built.stderr_lines:
                log.error("status page build: %s", line)
            log.error("the status page build failed (exit status %s); the page stays as it was",
                      built.returncode)
            return
        for line in built.stderr_lines:
            log.warning("status page build: %s", line)
        if not self._built:
            self._built = True
            files = built.files
            if files is None:
                files = await asyncio.to_thread(count_files, out_dir)
            log.info("status page built: %d files in %s in %.1fs", files, out_dir, took)
