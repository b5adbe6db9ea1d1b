"""``upwatch migrate-db --from DB --to DB``: move the whole ledger between SQLite and PostgreSQL.

The copy (:mod:`monitor.store.copy`) runs in one transaction on the destination, with a
progress line per table on stderr; then the month's report is built from both ends and must
come out the same, byte for byte, or the command fails. No ``upwatch run`` may be writing to
the destination meanwhile (its run lock is taken); the source may be in use (it is read on
one snapshot), but what it records after that snapshot is not copied: stop it first to move
for good.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TextIO

from monitor.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    DatabaseError,
    Subparsers,
    UsageError,
    config_path,
)
from monitor.config import db_target, load_config
from monitor.core.clock import Clock, SystemClock

__all__ = ["add_migrate_parser"]


def add_migrate_parser(sub: Subparsers[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "migrate-db", help="copy the whole ledger to another database (SQLite ↔ PostgreSQL)",
        description="Copy every table of one ledger into another, then check that a month's "
                    "report is the same on both. Safe to run again.")
    p.add_argument("--config", type=Path, default=None,
                   help="probes.yaml, for the check (default: $UPWATCH_CONFIG or ./probes.yaml)")
    p.add_argument("--from", dest="source", type=db_target, required=True, metavar="DB",
                   help="the ledger to copy: an SQLite file or a postgresql:// URL")
    p.add_argument("--to", dest="dest", type=db_target, required=True, metavar="DB",
                   help="where to: an SQLite file or a postgresql:// URL, empty or an earlier "
                        "copy of the same ledger")
    p.add_argument("--verify-month", metavar="YYYY-MM", default=None,
                   help="the month whose report is compared (default: the current month)")
    p.set_defaults(handler=cmd_migrate_db)


class _Progress:
    """One line per table on stderr, rewritten in place on a terminal."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self._last = 0.0

    def __call__(self, table: str, done: int, total: int) -> None:
        finished = done >= total
        now = time.monotonic()
        if not finished and (not self.tty or now - self._last < 0.2):
            return
        self._last = now
        share = f"{100 * done // total:3d} %" if total else "100 %"
        line = f"copying {table:<17} {done:>12,} / {total:,} rows  {share}"
        if self.tty:
            self.out.write("\r" + line + ("\n" if finished else ""))
        elif finished:
            self.out.write(line + "\n")
        self.out.flush()


def cmd_migrate_db(args: argparse.Namespace, *, clock: Clock | None = None) -> int:
    from monitor.report import ReportError, build_reports, current_month, parse_month, to_json
    from monitor.store.connect import open_database
    from monitor.store.copy import copy_ledger
    from monitor.store.ledger import Ledger, LedgerError
    from monitor.store.pg_runlock import PgRunLock
    from monitor.store.runlock import RunLock
    from monitor.windows.sources import declared_windows

    source: str | Path = args.source
    dest: str | Path = args.dest
    if str(source) == str(dest):
        raise UsageError("--from and --to name the same database")
    if isinstance(source, Path) and not source.is_file():
        raise UsageError(f"--from: {source} does not exist")
    config = load_config(config_path(args))
    now = (clock or SystemClock()).now()
    try:
        month = (parse_month(args.verify_month, "--verify-month") if args.verify_month
                 else current_month(list(config.services), now))
    except ReportError as err:
        raise UsageError(str(err)) from err
    lock: RunLock | PgRunLock = RunLock(dest, option="--to") if isinstance(dest, Path) \
        else PgRunLock(dest)
    try:
        lock.acquire()
        try:
            src, dst = open_database(source), None
            try:
                dst = open_database(dest)
                started = time.monotonic()
                copied = copy_ledger(src, dst, _Progress(sys.stderr))
                took = time.monotonic() - started
                names = src.name, dst.name
            finally:
                src.close()
                if dst is not None:
                    dst.close()
            reports = []
            for target in (source, dest):
                ledger = Ledger(target)
                try:
                    reports.append(to_json(build_reports(
                        config, ledger, [month], now, extra_windows=declared_windows(ledger))))
                finally:
                    ledger.close()
        finally:
            lock.release()
    except LedgerError as err:
        raise DatabaseError(str(err)) from err
    print(f"copied {copied.total:,} rows from {names[0]} to {names[1]} in {took:.1f} s")
    label = f"{month[0]}-{month[1]:02d}"
    if reports[0] != reports[1]:
        print(f"Error: the {label} report differs between {names[0]} and {names[1]}; the copy "
              "is kept for inspection (report --format json on each shows where)",
              file=sys.stderr)
        return EXIT_FAILED
    print(f"verified: the {label} report is the same on both ({len(config.services)} services)")
    return EXIT_OK
