"""The ``upwatch`` command: parse arguments, call the library, map errors to exit codes.

Exit codes: 0 success; 1 a check failed or a report breached (where documented); 2 bad
configuration or bad usage; 3 the database could not be used.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from monitor import __version__
from monitor.config import ConfigError, default_config_path, default_db_path, load_config

if TYPE_CHECKING:
    from datetime import datetime

    from monitor.config import Config
    from monitor.ledger import Ledger

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_DB = 0, 1, 2, 3


class UsageError(Exception):
    """A command-line mistake; the message says what to type instead."""


class DatabaseError(Exception):
    """The ledger could not be opened or used."""


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=None,
                   help="probes.yaml to use (default: $UPWATCH_CONFIG or ./probes.yaml)")
    p.add_argument("--db", type=Path, default=None,
                   help="SQLite ledger (default: $UPWATCH_DB or ./upwatch.db)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="upwatch",
        description="Uptime monitor and status page with calendar-month SLAs.",
    )
    parser.add_argument("--version", action="version", version=f"upwatch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser("run", help="probe services, keep the ledger, serve /metrics and the page")
    _common(run)
    run.add_argument("--listen", default="127.0.0.1:8080",
                     help="address to serve on (default: 127.0.0.1:8080)")
    run.add_argument("--log-format", choices=["text", "json"], default="text",
                     help="log lines for people (text) or machines (json)")
    run.add_argument("--max-concurrency", type=int, default=256,
                     help="checks allowed in flight at once (default: 256)")
    run.add_argument("--site", type=Path, default=None,
                     help="where the status page is built every minute and served from "
                          "(default: site/ beside the ledger)")

    check = sub.add_parser("check-config", help="validate probes.yaml and exit")
    _common(check)

    probe = sub.add_parser("probe", help="run one check of a service now and print what it saw")
    _common(probe)
    probe.add_argument("service", help="service name from probes.yaml")

    imp = sub.add_parser("import", help="import check results from JSON Lines or CSV")
    _common(imp)
    imp.add_argument("file",
                     help="JSON Lines file (one check per line), a .csv file, or - for stdin")
    imp.add_argument("--format", choices=["jsonl", "csv"], default=None,
                     help="input format (default: csv for *.csv, else jsonl)")
    imp.add_argument("--skip-invalid", action="store_true",
                     help="import the valid lines and count the invalid ones "
                          "(default: any invalid line means nothing is imported)")

    rep = sub.add_parser("report", help="calendar-month uptime per service against its target")
    _common(rep)
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

    from monitor.cli_incidents import add_incident_parsers
    from monitor.cli_notify import add_notify_parsers
    from monitor.cli_windows import add_window_parsers  # it imports this module: lazily

    add_window_parsers(sub)
    add_incident_parsers(sub)
    add_notify_parsers(sub)

    page = sub.add_parser("build-page", help="render the static status page from the ledger")
    _common(page)
    page.add_argument("--out", type=Path, required=True,
                      help="directory to publish the site at (replaced atomically)")

    demo = sub.add_parser("demo", help="simulated services, 90 days of history, a full page")
    demo.add_argument("--dir", type=Path, default=None,
                      help="where to put the demo's probes.yaml, ledger and site "
                           "(default: a new temporary directory)")
    demo.add_argument("--listen", default="127.0.0.1:8080",
                      help="address to serve on (default: 127.0.0.1:8080)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return dispatch(args)
    except ConfigError as err:
        for line in err.problems:
            print(line, file=sys.stderr)
        return EXIT_CONFIG
    except UsageError as err:
        print(f"Error: {err}", file=sys.stderr)
        return EXIT_CONFIG
    except DatabaseError as err:
        print(f"Error: {err}", file=sys.stderr)
        return EXIT_DB
    except KeyboardInterrupt:
        return 130


def config_path(args: argparse.Namespace) -> Path:
    return args.config if args.config is not None else default_config_path()


def db_path(args: argparse.Namespace) -> Path:
    return args.db if args.db is not None else default_db_path()


def dispatch(args: argparse.Namespace) -> int:
    command: str = args.command
    if command == "check-config":
        config = load_config(config_path(args))
        print(f"OK: {len(config.services)} services")
        return EXIT_OK
    if command == "run":
        return cmd_run(args)
    if command == "probe":
        return cmd_probe(args)
    if command == "import":
        return cmd_import(args)
    if command == "report":
        return cmd_report(args)
    if command == "demo":
        return cmd_demo(args)
    if command == "build-page":
        return cmd_build_page(args)
    if command == "notify":
        from monitor.cli_notify import run_notify_command

        return run_notify_command(args)
    if command == "incident":
        from monitor.cli_incidents import run_incident_command

        return run_incident_command(args)
    if command in ("maintenance", "exclusion"):
        from monitor.cli_windows import run_window_command

        return run_window_command(args)
    raise UsageError(f"unknown command {command!r}")


def cmd_run(args: argparse.Namespace) -> int:
    from monitor.api import AdminTokenError
    from monitor.ledger import LedgerError
    from monitor.logs import setup_logging
    from monitor.notify import ChannelSetupError
    from monitor.runner import RunOptions, parse_listen, serve

    try:
        host, port = parse_listen(args.listen)
    except ValueError as err:
        raise UsageError(str(err)) from err
    if args.max_concurrency < 1:
        raise UsageError(f"--max-concurrency: must be at least 1, got {args.max_concurrency}")
    setup_logging(args.log_format)
    db = db_path(args)
    opts = RunOptions(config_path=config_path(args), db_path=db, host=host, port=port,
                      max_concurrency=args.max_concurrency,
                      site_dir=args.site if args.site is not None else db.parent / "site")
    try:
        return asyncio.run(serve(opts))
    except LedgerError as err:
        raise DatabaseError(str(err)) from err
    except (AdminTokenError, ChannelSetupError) as err:
        raise UsageError(str(err)) from err
    except OSError as err:
        print(f"Error: cannot listen on {args.listen}: {err.strerror or err}", file=sys.stderr)
        return EXIT_FAILED


def cmd_probe(args: argparse.Namespace) -> int:
    from monitor.clock import SystemClock
    from monitor.probes.http import HttpProbe, make_session

    config = load_config(config_path(args))
    try:
        service = config.service(args.service)
    except KeyError:
        known = ", ".join(config.service_names)
        raise UsageError(
            f'no service named "{args.service}" in the config (known: {known})'
        ) from None

    async def once() -> int:
        async with make_session() as session:
            result = await HttpProbe(session, SystemClock(), location=config.location).check(
                service
            )
        state = result.state(service.expect.max_latency_ms)
        latency = "" if result.latency_ms is None else f" in {result.latency_ms:.1f} ms"
        status = "" if result.status is None else f" status {result.status}"
        print(f"{service.name}: {state.label.upper()}{status}{latency}  {service.url}")
        if result.error is not None:
            print(f"  {result.error}: {result.detail}")
        return EXIT_OK if result.ok else EXIT_FAILED

    return asyncio.run(once())


def cmd_incident_report(args: argparse.Namespace, config: Config, now: datetime) -> int:
    from monitor import incident_report
    from monitor.notify.channels import policy_from_config
    from monitor.report import ReportError, parse_month

    if args.from_month or args.to_month or args.service or args.fail_on_breach:
        raise UsageError("--incidents takes --month and --format only")
    hours = config.incident.business_hours
    try:
        month = parse_month(args.month) if args.month else (now.year, now.month)
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


def cmd_build_page(args: argparse.Namespace) -> int:
    import time

    from monitor.clock import SystemClock
    from monitor.declarations import declared_windows
    from statuspage.render import BuildError, build_from_ledger

    config = load_config(config_path(args))
    ledger = open_ledger(args)
    started = time.monotonic()
    try:
        report = build_from_ledger(config, ledger, declared_windows(ledger), SystemClock().now(),
                                   args.out)
    except BuildError as err:
        raise UsageError(f"--out: {err}") from err
    finally:
        ledger.close()
    index_kb = report.sizes.get("index.html", 0) / 1024
    print(f"built {len(report.files)} files into {args.out} in {time.monotonic() - started:.1f}s "
          f"(index.html {index_kb:.0f} KB); serve it with any static web server")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    import tempfile

    from monitor.clock import SystemClock
    from monitor.demo import run_demo
    from monitor.logs import setup_logging
    from monitor.runner import parse_listen

    try:
        host, port = parse_listen(args.listen)
    except ValueError as err:
        raise UsageError(str(err)) from err
    if args.dir is None:
        workdir = Path(tempfile.mkdtemp(prefix="upwatch-demo-"))
    else:
        workdir = args.dir
        if (workdir / "upwatch.db").exists():
            raise UsageError(f"{workdir} already holds a demo ledger; pick a new --dir "
                             "or remove it (the demo seeds fresh history)")
        workdir.mkdir(parents=True, exist_ok=True)
    setup_logging("text")
    try:
        return asyncio.run(run_demo(workdir, host, port, SystemClock()))
    except OSError as err:
        print(f"Error: cannot listen on {args.listen}: {err.strerror or err} "
              "(try --listen 127.0.0.1:8090)", file=sys.stderr)
        return EXIT_FAILED


def open_ledger(args: argparse.Namespace) -> Ledger:
    from monitor.ledger import Ledger, LedgerError

    try:
        return Ledger(db_path(args))
    except LedgerError as err:
        raise DatabaseError(str(err)) from err


def cmd_import(args: argparse.Namespace) -> int:
    from monitor.importer import ImportError_, import_lines, read_records

    config = load_config(config_path(args))
    fmt = args.format or ("csv" if str(args.file).endswith(".csv") else "jsonl")
    source = "stdin" if args.file == "-" else str(args.file)
    try:
        stream = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8", newline="")
    except OSError as err:
        raise UsageError(f"cannot read {args.file}: {err.strerror}") from err
    interactive = sys.stderr.isatty()

    def progress(lines: int) -> None:
        if interactive:
            print(f"\rread {lines:,} lines…", end="", file=sys.stderr, flush=True)

    ledger = open_ledger(args)
    try:
        with stream:
            summary = import_lines(read_records(stream, fmt), config, ledger,
                                   skip_invalid=args.skip_invalid, progress=progress,
                                   source=source)
    except ImportError_ as err:
        if interactive:
            print(file=sys.stderr)
        for line in err.errors:
            print(line, file=sys.stderr)
        return EXIT_FAILED
    finally:
        ledger.close()
    if interactive:
        print(file=sys.stderr)
    for line in summary.errors:
        print(f"skipped: {line}", file=sys.stderr)
    print(summary.describe())
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from monitor.clock import SystemClock
    from monitor.declarations import declared_windows
    from monitor.report import (
        ReportError,
        build_reports,
        months_between,
        parse_month,
        to_csv,
        to_json,
        to_table,
    )

    config = load_config(config_path(args))
    now = SystemClock().now()
    if args.incidents:
        return cmd_incident_report(args, config, now)
    current = (now.year, now.month)
    try:
        if args.month and (args.from_month or args.to_month):
            raise ReportError("--month cannot be combined with --from/--to")
        if args.from_month:
            last = parse_month(args.to_month, "--to") if args.to_month else current
            months = months_between(parse_month(args.from_month, "--from"), last)
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


if __name__ == "__main__":
    sys.exit(main())
