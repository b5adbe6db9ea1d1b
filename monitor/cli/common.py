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
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.config import db_target, default_config_path, default_db_path
from monitor.errors import UpwatchError

if TYPE_CHECKING:
    from monitor.store.ledger import Ledger

__all__ = [
    "EXIT_CONFIG", "EXIT_DB", "EXIT_FAILED", "EXIT_OK", "DatabaseError", "Subparsers",
    "UsageError", "add_common_options", "config_path", "database_error", "db_path",
    "declared_by_from", "open_ledger",
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
    p.add_argument("--db", type=db_target, default=None,
                   help="the ledger: an SQLite file, or a postgresql://user@host/dbname URL "
                        "(default: $UPWATCH_DB or ./upwatch.db)")


def config_path(args: argparse.Namespace) -> Path:
    return args.config if args.config is not None else default_config_path()


def db_path(args: argparse.Namespace) -> str | Path:
    return args.db if args.db is not None else default_db_path()


def open_ledger(args: argparse.Namespace) -> Ledger:
    from monitor.store.ledger import Ledger, LedgerError

    path = db_path(args)
    try:
        return Ledger(path)
    except LedgerError as err:
        cause = err.__cause__
        code = _code(cause) if isinstance(cause, sqlite3.Error) else None
        if not isinstance(path, Path):  # PostgreSQL: the message says what and where
            raise DatabaseError(str(err)) from err
        if code == sqlite3.SQLITE_CANTOPEN or code in _HINTS:
            hint = _HINTS.get(code) or _cannot_open(path)
            raise DatabaseError(f"cannot open {path}: {cause} ({hint})") from err
        if code == sqlite3.SQLITE_CORRUPT:
            raise database_error(args, err) from err
        raise DatabaseError(str(err)) from err  # not an upwatch ledger, or a newer one


#: What to do about a failure of SQLite, by its primary result code.
_HINTS = {
    sqlite3.SQLITE_BUSY: "another process is writing to it; try again",
    sqlite3.SQLITE_LOCKED: "another process is writing to it; try again",
    sqlite3.SQLITE_READONLY: "are the file and its folder writable by this user?",
    sqlite3.SQLITE_IOERR: "the disk or file system failed",
    sqlite3.SQLITE_FULL: "the disk is full",
}


def _code(exc: sqlite3.Error) -> int | None:
    """SQLite's primary result code of ``exc`` (https://sqlite.org/rescode.html)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def _cannot_open(path: str | Path) -> str:
    if not isinstance(path, Path):
        return "is the server up?"
    if path.is_dir():
        return "it is a folder: name a file in it"
    if path.parent.exists() and not path.parent.is_dir():
        return f"{path.parent} is a file, not a folder"
    if not path.parent.exists():
        return f"the folder {path.parent} does not exist"
    if not path.exists():
        return f"can this user create files in {path.parent}?"
    return "can this user read and write it?"


def database_error(args: argparse.Namespace, err: Exception) -> DatabaseError:
    """A :class:`DatabaseError` for a failure of the ledger after it was opened: a
    ``LedgerError`` (a write that failed, say) or an ``sqlite3.Error`` (a damaged page read)."""
    where = db_path(args) if hasattr(args, "db") else "the ledger"
    cause = err if isinstance(err, sqlite3.Error) else err.__cause__
    code = _code(cause) if isinstance(cause, sqlite3.Error) else None
    if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return DatabaseError(f"{where} is damaged ({cause}); restore it from a backup, or move "
                             "it aside and start with a new file")
    hint = f" ({_HINTS[code]})" if code in _HINTS else ""
    return DatabaseError(f"{where}: {err}{hint}")


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
