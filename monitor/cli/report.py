"""``upwatch import``, ``report`` and ``build-page``: history in, figures and pages out
(``build-page`` itself: :mod:`monitor.cli.page`)."""

from __future__ import annotations

import argparse
import io
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from monitor.cli.common import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    Subparsers,
    UsageError,
    add_common_options,
    config_path,
    open_ledger,
)
from monitor.cli.page import cmd_build_page
from monitor.config import Config, load_config
from monitor.core.clock import Clock, SystemClock
from monitor.run.collector import tuned_collector
from monitor.times import iso_utc

__all__ = ["add_page_parser", "add_parsers"]


def add_parsers(sub: Subparsers[argparse.ArgumentParser]) -> None:
    imp = sub.add_parser("import", help="import check results from JSON Lines or CSV")
    add_common_options(imp)
    imp.add_argument("file",
                     help="JSON Lines file (one check per line), a .csv file, or - for stdin")
    imp.add_argument("--format", choices=["jsonl", "csv"], default=None,
                     help="input format (default: csv for *.csv, else jsonl)")
    imp.add_argument("--skip-invalid", action="store_true",
                     help="import the valid lines and count the invalid ones "
                          "(default: any invalid line means nothing is imported)")
    imp.set_defaults(handler=cmd_import)

    rep = sub.add_parser("report", help="calendar-month uptime per service against its target")
    add_common_options(rep)
    rep.add_argument("--month", help="YYYY-MM (default: the current month to date)")
    rep.add_argument("--from", dest="from_month", help="first month YYYY-MM of a history")
    rep.add_argument("--to", dest="to_month", help="last month YYYY-MM of a history "
                     "(default: the current month)")
    rep.add_argument("--service", action="append", default=[],
                     help="only this service (repeatable)")
    rep.add_argument("--format", choices=["table", "json", "csv"], default="table")
    rep.add_argument("--fail-on-breach", action="store_true",
                     help="exit 1 when any service breached its target")
    rep.add_argument("--incidents", action="store_true",
                     help="first-response times of the month's incidents against their "
                          "targets, instead of uptime")
    rep.set_defaults(handler=cmd_report)


def add_page_parser(sub: Subparsers[argparse.ArgumentParser]) -> None:
    page = sub.add_parser("build-page", help="render the static status page from the ledger")
    add_common_options(page)
    page.add_argument("--out", type=Path, required=True,
                      help="directory to publish the site at (replaced atomically)")
    page.add_argument("--at", type=_instant, default=None, metavar="TIME",
                      help="build the page as it stood at this ISO 8601 time with a UTC "
                           "offset, e.g. 2026-10-31T23:59:00Z (default: now)")
    page.add_argument("--serve", action="store_true",
                      help="keep running: build once per line read on stdin (the time to "
                           "build as of, ISO 8601), reusing what the builds before computed; "
                           "what `upwatch run` does")
    page.add_argument("--jobs", type=_jobs, default=None, metavar="N",
                      help="processes to render the languages' pages in, for a build from "
                           "nothing (default: the cores this process may use; 1 with "
                           "--serve, which rebuilds only what changed)")
    page.set_defaults(handler=cmd_build_page)


def _jobs(text: str) -> int:
    """``--jobs``: a whole number, 1 or more."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of 1 or more, got {text!r}")
    return n


def _instant(text: str) -> datetime:
    """``--at``: an ISO 8601 time with a UTC offset, in UTC, within the years upwatch takes."""
    from monitor.windows.declarations import EARLIEST, LATEST

    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 time: {text!r} (expected e.g. 2026-10-31T23:59:00Z)") from None
    if when.utcoffset() is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no UTC offset (add Z or +01:00)")
    utc: datetime | None
    try:
        utc = when.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise argparse.ArgumentTypeError(f"{text!r} is out of range (upwatch takes times from "
                                         f"{iso_utc(EARLIEST)}, before {iso_utc(LATEST)})")
    return utc


def _input(file: str) -> IO[str]:
    """The file to import (``-``: stdin) as UTF-8 text, a byte order mark dropped. Bytes that
    are not UTF-8 are kept as lone surrogates, so that the importer names the line they are on."""
    if file == "-":
        if isinstance(sys.stdin, io.TextIOWrapper):
            sys.stdin.reconfigure(encoding="utf-8-sig", errors="surrogateescape", newline="")
        return sys.stdin
    try:
        return open(file, encoding="utf-8-sig", errors="surrogateescape", newline="")
    except OSError as err:
        raise UsageError(f"cannot read {file}: {err.strerror or err}") from err


def cmd_import(args: argparse.Namespace, *, clock: Clock | None = None) -> int:
    from monitor.importer import ImportFailed, import_lines, read_records

    config = load_config(config_path(args))
    fmt = args.format or ("csv" if str(args.file).endswith(".csv") else "jsonl")
    source = "stdin" if args.file == "-" else str(args.file)
    interactive = sys.stderr.isatty()

    def progress(lines: int) -> None:
        if interactive:
            print(f"\rread {lines:,} lines…", end="", file=sys.stderr, flush=True)

    # tens of thousands of lines are held at once: see monitor.run.collector (put back after)
    with _input(args.file) as stream, tuned_collector():
        ledger = open_ledger(args)
        try:
            summary = import_lines(read_records(stream, fmt), config, ledger,
                                   now=(clock or SystemClock()).now(),
                                   skip_invalid=args.skip_invalid, progress=progress,
                                   source=source)
        except ImportFailed as err:
            if interactive:
                print(file=sys.stderr)
            for line in err.problems:
                print(line, file=sys.stderr)
            return EXIT_CONFIG  # bad input, like bad configuration: fix it and run again
        except OSError as err:  # reading the file failed half-way (a disk error, say)
            raise UsageError(f"cannot read {source}: {err.strerror or err}") from err
        finally:
            ledger.close()
    if interactive:
        print(file=sys.stderr)
    for line in summary.errors:
        print(f"skipped: {line}", file=sys.stderr)
    print(summary.describe())
    return EXIT_OK


def cmd_report(args: argparse.Namespace, *, clock: Clock | None = None) -> int:
    from monitor.report import (
        ReportError,
        build_reports,
        current_month,
        months_between,
        parse_month,
        select_services,
        to_csv,
        to_json,
        to_table,
    )
    from monitor.windows.sources import declared_windows

    config = load_config(config_path(args))
    now = (clock or SystemClock()).now()
    if args.incidents:
        return cmd_incident_report(args, config, now)
    try:
        current = current_month(select_services(config, args.service), now)
        if args.month and (args.from_month or args.to_month):
            raise ReportError("--month cannot be combined with --from/--to")
        if args.from_month:
            first = parse_month(args.from_month, "--from")
            last = parse_month(args.to_month, "--to") if args.to_month else current
            months = months_between(first, last)
        elif args.to_month:
            raise ReportError("--to needs --from")
        else:
            months = [parse_month(args.month) if args.month else current]
        ledger = open_ledger(args)
        try:
            reports = build_reports(config, ledger, months, now, services=args.service,
                                    extra_windows=declared_windows(ledger))
        finally:
            ledger.close()
    except ReportError as err:
        raise UsageError(str(err)) from err
    render = {"table": to_table, "json": to_json, "csv": to_csv}[args.format]
    out = render(reports)
    sys.stdout.write(out if out.endswith("\n") else out + "\n")
    breached = any(u.met is False for r in reports for u in r.services)
    return EXIT_FAILED if args.fail_on_breach and breached else EXIT_OK


def cmd_incident_report(args: argparse.Namespace, config: Config, now: datetime) -> int:
    from monitor.incidents import report as incident_report
    from monitor.incidents.detection import policy_from_config
    from monitor.report import ReportError, parse_month

    if args.from_month or args.to_month or args.service or args.fail_on_breach:
        raise UsageError("--incidents takes --month and --format only")
    hours = config.incident.business_hours
    local = now.astimezone(hours.tz)  # the month is the business hours' month
    try:
        month = parse_month(args.month) if args.month else (local.year, local.month)
        ledger = open_ledger(args)
        try:
            report = incident_report.load_incident_report(
                ledger, month, now, coverage=hours.coverage, tz=hours.tz,
                policy=policy_from_config(config))
        finally:
            ledger.close()
    except ReportError as err:
        raise UsageError(str(err)) from err
    render = {"table": incident_report.to_table, "json": incident_report.to_json,
              "csv": incident_report.to_csv}[args.format]
    out = render(report)
    sys.stdout.write(out if out.endswith("\n") else out + "\n")
    return EXIT_OK
