"""What every ``upwatch`` command shares: exit codes, the errors the entry point maps to them,
the ``--config``/``--db`` options and opening the ledger they name.

Command modules (:mod:`~monitor.cli.run`, :mod:`~monitor.cli.report`,
:mod:`~monitor.cli.windows`, :mod:`~monitor.cli.incidents`, :mod:`~monitor.cli.notify`) import
this module and nothing of each other; :mod:`monitor.cli.entry` imports them all.
"""

from __future__ import annotations

import argparse
import getpass
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.config import default_config_path, default_db_path
from monitor.errors import UpwatchError

if TYPE_CHECKING:
    from monitor.store.ledger import Ledger

__all__ = [
    "EXIT_CONFIG", "EXIT_DB", "EXIT_FAILED", "EXIT_OK", "DatabaseError", "Subparsers",
    "UsageError", "add_common_options", "config_path", "db_path", "declared_by_from",
    "open_ledger",
]

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_DB = 0, 1, 2, 3

Subparsers = argparse._SubParsersAction  # the type ``add_subparsers`` returns

_BY = re.compile(r"[A-Za-z0-9_.@-]{1,64}")


class UsageError(UpwatchError):
    """A command-line mistake; the message says what to type instead."""


class DatabaseError(UpwatchError):
    """The ledger could not be opened or used."""


def add_common_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=None,
                   help="probes.yaml to use (default: $UPWATCH_CONFIG or ./probes.yaml)")
    p.add_argument("--db", type=Path, default=None,
                   help="SQLite ledger (default: $UPWATCH_DB or ./upwatch.db)")


def config_path(args: argparse.Namespace) -> Path:
    return args.config if args.config is not None else default_config_path()


def db_path(args: argparse.Namespace) -> Path:
    return args.db if args.db is not None else default_db_path()


def open_ledger(args: argparse.Namespace) -> Ledger:
    from monitor.store.ledger import Ledger, LedgerError

    try:
        return Ledger(db_path(args))
    except LedgerError as err:
        raise DatabaseError(str(err)) from err


def declared_by_from(args: argparse.Namespace, env: Mapping[str, str]) -> str:
    """Who a declaration is recorded as: ``cli:`` and ``--by``, else the login name."""
    if args.by is not None:
        if not _BY.fullmatch(args.by):
            raise UsageError('--by: 1-64 letters, digits, ".", "_", "-" or "@", got '
                             f"{json.dumps(args.by)}")
        return f"cli:{args.by}"
    user = env.get("USER")
    if not user:
        try:
            user = getpass.getuser()
        except (OSError, KeyError):
            user = "unknown"
    return f"cli:{user}"
