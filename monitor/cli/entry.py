"""The ``upwatch`` command: parse arguments, call the library, map errors to exit codes.

Each command group lives in its own module and registers its parsers with a ``handler``;
this module only assembles them and maps the errors every command shares to exit codes:
0 success; 1 a check failed or a report breached (where documented); 2 bad configuration,
bad usage or bad input (``import``); 3 the database could not be used, whether opening it or
later (a write refused, a damaged page read).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Callable, Sequence

from monitor import __version__
from monitor.cli.common import EXIT_CONFIG, EXIT_DB, DatabaseError, UsageError, database_error
from monitor.cli.incidents import add_incident_parsers
from monitor.cli.migrate import add_migrate_parser
from monitor.cli.notify import add_notify_parsers
from monitor.cli.push import add_push_parser
from monitor.cli.report import add_page_parser
from monitor.cli.report import add_parsers as add_report_parsers
from monitor.cli.run import add_demo_parser
from monitor.cli.run import add_parsers as add_run_parsers
from monitor.cli.windows import add_window_parsers
from monitor.config import ConfigError
from monitor.store.schema import LedgerError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="upwatch",
        description="Uptime monitor and status page with calendar-month SLAs.",
    )
    parser.add_argument("--version", action="version", version=f"upwatch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_run_parsers(sub)
    add_report_parsers(sub)
    add_window_parsers(sub)
    add_incident_parsers(sub)
    add_notify_parsers(sub)
    add_page_parser(sub)
    add_demo_parser(sub)
    add_migrate_parser(sub)
    add_push_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
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
    except (LedgerError, sqlite3.Error) as err:  # the ledger failed after it was opened
        print(f"Error: {database_error(args, err)}", file=sys.stderr)
        return EXIT_DB
    except KeyboardInterrupt:
        return 130
