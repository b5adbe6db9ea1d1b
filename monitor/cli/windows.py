"""``upwatch maintenance`` and ``upwatch exclusion``: add, list and cancel declared windows.

Registered into the main parser by :func:`add_window_parsers`; :func:`run_window_command`
runs one. The rules live in :mod:`monitor.windows.declarations` (the admin API uses the same ones).
Declared by ``cli:<$USER>`` unless ``--by NAME``. Problems print as ``Error: …`` (exit 2),
warnings as ``Warning: …`` on stderr (the window is stored).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitor.cli.common import (
    EXIT_CONFIG,
    EXIT_OK,
    UsageError,
    add_common_options,
    config_path,
    declared_by_from,
    open_ledger,
)
from monitor.config import load_config, parse_duration
from monitor.core.clock import Clock, SystemClock
from monitor.core.windows import WindowKind
from monitor.times import iso_utc
from monitor.windows.declarations import (
    KIND_LABEL,
    DeclarationError,
    DeclaredWindow,
    StateFilter,
    UnknownWindow,
    cancel,
    cancel_effect,
    declare,
    list_declared,
    window_json,
    window_state,
)

__all__ = ["WINDOW_COMMANDS", "add_window_parsers", "run_window_command"]

#: Command name → the kind of window it manages.
WINDOW_COMMANDS: dict[str, WindowKind] = {"maintenance": "maintenance", "exclusion": "exclusion"}
_PLURAL: dict[WindowKind, str] = {"maintenance": "maintenance windows",
                                  "exclusion": "exclusions"}
_JSON_KEY: dict[WindowKind, str] = {"maintenance": "maintenance", "exclusion": "exclusions"}


def add_window_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``maintenance`` and ``exclusion`` (each with add, list, cancel) to ``sub``."""
    helps = {
        "maintenance": "declare, list and cancel planned maintenance windows",
        "exclusion": "declare, list and cancel exclusions (periods taken out of the SLA "
                     "after the fact, with a reason)",
    }
    for command, kind in WINDOW_COMMANDS.items():
        p = sub.add_parser(command, help=helps[command], description=helps[command])
        p.set_defaults(handler=run_window_command)
        actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)

        add = actions.add_parser("add", help=f"declare a {KIND_LABEL[kind]}")
        add_common_options(add)
        add.add_argument("--service", action="append", required=True, metavar="NAME",
                         help="a service it applies to (repeatable)")
        add.add_argument("--start", required=True,
                         help='ISO 8601 with an offset ("2026-10-01T02:00:00Z"), local time '
                              'with --timezone, or "now"')
        until = add.add_mutually_exclusive_group(required=True)
        until.add_argument("--end", help="like --start; the end is not included")
        until.add_argument("--duration", help='instead of --end: "90m", "2h", "1h30m"')
        if kind == "maintenance":
            add.add_argument("--title", required=True, help="shown on the status page")
        else:
            add.add_argument("--reason", required=True, help="why; printed in every report")
        add.add_argument("--timezone", metavar="ZONE",
                         help='read times without an offset in this zone ("Europe/Copenhagen")')
        add.add_argument("--by", metavar="NAME", help="who declares it (default: $USER)")

        ls = actions.add_parser("list", help=f"list {_PLURAL[kind]}, cancelled ones included")
        add_common_options(ls)
        which = ls.add_mutually_exclusive_group()
        for state in ("upcoming", "active", "past"):
            which.add_argument(f"--{state}", dest="state", action="store_const", const=state,
                               help=f"only {state} ones" + (" (ended or cancelled)"
                                                            if state == "past" else ""))
        ls.add_argument("--service", metavar="NAME", help="only those for this service")
        ls.add_argument("--format", choices=["table", "json"], default="table")

        stop = actions.add_parser("cancel", help=f"cancel a {KIND_LABEL[kind]} (kept on record)")
        add_common_options(stop)
        stop.add_argument("id", help=f"the {KIND_LABEL[kind]}'s id (see list)")
        stop.add_argument("--by", metavar="NAME", help="who cancels it (default: $USER)")


def run_window_command(
    args: argparse.Namespace, *, clock: Clock | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Run ``upwatch maintenance|exclusion add|list|cancel``; returns the exit code."""
    kind = WINDOW_COMMANDS[args.command]
    now = (clock or SystemClock()).now()
    env = os.environ if environ is None else environ
    if args.action == "add":
        return _add(args, kind, now, env)
    if args.action == "list":
        return _list(args, kind, now)
    return _cancel(args, kind, now, env)


def _zone(name: str | None) -> ZoneInfo | None:
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"--timezone: unknown time zone {json.dumps(name)}") from None


def _add(args: argparse.Namespace, kind: WindowKind, now: datetime, env: Mapping[str, str]) -> int:
    by = declared_by_from(args, env)
    tz = _zone(args.timezone)
    duration: timedelta | None = None
    if args.duration is not None:
        try:
            duration = parse_duration(args.duration)
        except ValueError as err:
            raise UsageError(f"--duration: {err}") from None
    start = iso_utc(now) if args.start.strip().lower() == "now" else args.start
    text = args.title if kind == "maintenance" else args.reason
    config = load_config(config_path(args))
    ledger = open_ledger(args)
    try:
        window = declare(ledger, config, kind, args.service, start, args.end, text, now=now,
                         by=by, tz=tz, tz_flag="--timezone", duration=duration)
    except DeclarationError as err:
        for problem in err.problems:
            print(f"Error: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    finally:
        ledger.close()
    print(f"Added {KIND_LABEL[kind]} {window.id}: {iso_utc(window.start)} to {iso_utc(window.end)} "
          f"for {', '.join(window.services)}: {window.title}")
    declared = iso_utc(window.declared_at) if window.declared_at else "?"
    print(f"Declared by {window.declared_by} at {declared}.")
    for warning in window.warnings:
        print(f"Warning: {warning}", file=sys.stderr)
    return EXIT_OK


def _table(windows: Sequence[DeclaredWindow], kind: WindowKind, now: datetime) -> list[str]:
    head = ["ID", "STATUS", "START", "END", "SERVICES",
            "TITLE" if kind == "maintenance" else "REASON", "DECLARED BY", "DECLARED AT"]
    rows = [[w.id, window_state(w, now), iso_utc(w.start), iso_utc(w.end), ", ".join(w.services),
             w.title, w.declared_by, iso_utc(w.declared_at) if w.declared_at else ""]
            for w in windows]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    return ["  ".join(c.ljust(wd) for c, wd in zip(r, widths, strict=True)).rstrip()
            for r in [head, *rows]]


def _list(args: argparse.Namespace, kind: WindowKind, now: datetime) -> int:
    ledger = open_ledger(args)
    try:
        found = list_declared(ledger, kind, now=now, state=cast(StateFilter | None, args.state),
                              service=args.service)
    finally:
        ledger.close()
    if args.format == "json":
        print(json.dumps({_JSON_KEY[kind]: [window_json(w) for w in found]}, indent=2,
                         ensure_ascii=False))
    elif not found:
        which = f"{args.state} " if args.state else ""
        print(f"No {which}{_PLURAL[kind]}.")
    else:
        print("\n".join(_table(found, kind, now)))
    return EXIT_OK


def _cancel(args: argparse.Namespace, kind: WindowKind, now: datetime,
            env: Mapping[str, str]) -> int:
    by = declared_by_from(args, env)
    ledger = open_ledger(args)
    try:
        window, changed = cancel(ledger, kind, args.id, now=now, by=by)
    except UnknownWindow as err:
        raise UsageError(str(err)) from None
    finally:
        ledger.close()
    label = KIND_LABEL[kind]
    when = iso_utc(window.cancelled_at) if window.cancelled_at else "?"
    if not changed:
        print(f"{label.capitalize()} {window.id} was already cancelled by {window.cancelled_by} "
              f"at {when}; nothing changed.")
        return EXIT_OK
    effect = cancel_effect(window, window.cancelled_at or now)
    print(f"Cancelled {label} {window.id} (by {by} at {when}): {effect}.")
    print("The record is kept; see list.")
    return EXIT_OK
