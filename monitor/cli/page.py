"""``upwatch build-page``: the static status page, built once or (``--serve``) on request.

Once: gather from the ledger and build from nothing, as of ``--at`` or now, the languages'
pages rendered in ``--jobs`` processes (by default one per core this process may use:
:mod:`statuspage.forked`).

``--serve`` is how ``upwatch run`` rebuilds its page (:mod:`monitor.run.pages`): one child
process for the monitor's life, reading one line per build on stdin (the time to build as of,
ISO 8601 with a UTC offset) and answering each with one ``built N files into …`` line on
stdout. Between builds it keeps a :class:`statuspage.builder.SiteBuilder`: only what changed is
computed and rendered again, and only files whose bytes changed are written. It reads the
config file again when the file changed (a reload of the monitor reaches the next build) and
opens the ledger afresh for each build (what the monitor committed since, its pending minutes
included). A build that fails ends it with the status a single build would have (the monitor
starts another for the next build); the end of its input ends it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING

from monitor.cli.common import EXIT_OK, UsageError, config_path, open_ledger
from monitor.config import Config, load_config
from monitor.core.clock import SystemClock
from monitor.run.collector import tuned_collector

if TYPE_CHECKING:  # statuspage is imported when used
    from statuspage.builder import SiteBuilder

__all__ = ["cmd_build_page"]


def cmd_build_page(args: argparse.Namespace) -> int:
    from statuspage.builder import SiteBuilder
    from statuspage.forked import cores

    # A build holds tens of thousands of objects per hundred services at once: with the
    # collector's defaults, its collections took a quarter of a 1,000-service build
    # (bench/page.py). Put back after, for a caller in the same process.
    with tuned_collector():
        jobs = args.jobs if args.jobs is not None else 1 if args.serve else cores()
        builder = SiteBuilder(jobs=jobs)
        if args.serve:
            return _serve(args, builder, sys.stdin, sys.stdout)
        now = args.at if args.at is not None else SystemClock().now()
        _build(args, builder, load_config(config_path(args)), now, sys.stdout,
               "; serve it with any static web server")
        return EXIT_OK


def _build(args: argparse.Namespace, builder: SiteBuilder, config: Config, now: datetime,
           out: IO[str], tail: str = "") -> None:
    from monitor.windows.sources import declared_windows
    from statuspage.render import BuildError

    started = time.monotonic()
    ledger = open_ledger(args)
    try:
        report = builder.build(config, ledger, declared_windows(ledger), now, args.out)
    except BuildError as err:
        raise UsageError(f"--out: {err}") from err
    finally:
        ledger.close()
    index_kb = report.sizes.get("index.html", 0) / 1024
    processes = f"{report.processes} processes, " if report.processes > 1 else ""
    out.write(f"built {len(report.files)} files into {args.out} in "
              f"{time.monotonic() - started:.1f}s ({processes}writing {report.write_s:.1f}s, "
              f"index.html "
              f"{index_kb:.0f} KB, {report.written} written){tail}\n")
    out.flush()
    if args.serve:  # the page is out: collect what the build left before the next one
        builder.settle()


def _serve(args: argparse.Namespace, builder: SiteBuilder, requests: IO[str],
           out: IO[str]) -> int:
    path = config_path(args)
    config: Config | None = None
    seen: tuple[int, int, int] | None = None
    for line in requests:
        if not line.strip():
            continue
        try:
            now = datetime.fromisoformat(line.strip())
        except ValueError as err:
            raise UsageError(f"build-page --serve: not a time: {line.strip()!r}") from err
        if now.tzinfo is None:
            raise UsageError(f"build-page --serve: a time without a UTC offset: {line.strip()!r}")
        stat = os.stat(path)
        if config is None or (stat.st_mtime_ns, stat.st_size, stat.st_ino) != seen:
            config, seen = load_config(path), (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        _build(args, builder, config, now.astimezone(UTC), out)
    return EXIT_OK
