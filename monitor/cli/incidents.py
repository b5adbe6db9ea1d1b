"""``upwatch incident open|update|resolve|list``: people explain what happened.

Registered into the main parser by :func:`add_incident_parsers`; :func:`run_incident_command`
runs one through :class:`monitor.incidents.desk.IncidentDesk` (the same rules as the admin API).
Posted by ``cli:<$USER>`` unless ``--by NAME``. Problems print as ``Error: …`` (exit 2).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import Mapping, Sequence

from monitor.cli.common import (
    EXIT_OK,
    UsageError,
    add_common_options,
    config_path,
    declared_by_from,
    open_ledger,
)
from monitor.config import load_config
from monitor.core.clock import Clock, SystemClock
from monitor.core.incidents import Incident
from monitor.incidents.desk import IncidentDesk, IncidentInputError, incident_json
from monitor.incidents.detection import policy_from_config
from monitor.notify import Channel, ChannelSetupError
from monitor.notify.channels import channels_from_config
from monitor.notify.outbox import DirectLedger, Outbox
from monitor.notify.subscribers import queueing
from monitor.probes.http import make_session

__all__ = ["add_incident_parsers", "run_incident_command"]

_STATUSES = ("investigating", "identified", "monitoring", "resolved")


def add_incident_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``incident`` (open, update, resolve, list) to ``sub``."""
    p = sub.add_parser("incident", help="open, update, resolve and list incidents",
                       description="open, update, resolve and list incidents")
    p.set_defaults(handler=run_incident_command)
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    op = actions.add_parser("open", help="open an incident by hand")
    op.add_argument("--title", required=True, help="shown on the status page")
    op.add_argument("--service", action="append", required=True, metavar="NAME",
                    help="an affected service (repeatable)")
    op.add_argument("--impact", choices=("minor", "major", "critical"), default="major")
    op.add_argument("--status", choices=_STATUSES[:3], default="investigating")
    op.add_argument("--body", default="", help="what is known (Markdown subset)")
    up = actions.add_parser("update", help="post an update (takes the incident over)")
    up.add_argument("id", type=int)
    up.add_argument("--status", choices=_STATUSES, required=True)
    up.add_argument("--body", required=True, help="what changed (Markdown subset)")
    rs = actions.add_parser("resolve", help="resolve an incident")
    rs.add_argument("id", type=int)
    rs.add_argument("--body", default="This incident has been resolved.")
    ls = actions.add_parser("list", help="list incidents, newest first")
    ls.add_argument("--open", action="store_true", help="only those not resolved")
    ls.add_argument("--format", choices=("table", "json"), default="table")
    for action in (op, up, rs, ls):
        add_common_options(action)
        if action is not ls:
            action.add_argument("--by", metavar="NAME", help="who posts it (default: $USER)")


def _line(inc: Incident) -> str:
    when = inc.detected_at.strftime("%Y-%m-%d %H:%M")
    return (f"{inc.id:>4}  {when}  {inc.status.value:<13} {inc.impact.value:<8} "
            f"{inc.severity:<11} {','.join(inc.services):<16} {inc.title}")


def run_incident_command(args: argparse.Namespace, *, clock: Clock | None = None,
                         environ: Mapping[str, str] | None = None,
                         channels: Sequence[Channel] = ()) -> int:
    """Run ``upwatch incident …``; returns the exit code. Notifications are queued for
    ``channels`` (default: those configured) and the page's subscribers, and delivered later by
    ``upwatch run``'s outbox."""
    env = os.environ if environ is None else environ
    clk = clock or SystemClock()
    config = load_config(config_path(args))
    ledger = open_ledger(args)
    access = DirectLedger(ledger)

    async def main() -> int:
        # The configured channels, only to queue notifications: `upwatch run` delivers them.
        async with make_session() as session:
            try:
                chans = list(channels) or channels_from_config(config, session, clk, env)
            except ChannelSetupError as err:
                raise UsageError(str(err)) from None
            subscribers = queueing(config, access, clk)
            outbox = Outbox(access, chans, clk, subscribers=subscribers)
            desk = IncidentDesk(access, clk, policy_from_config(config), config,
                                outbox if outbox.delivers else None)
            return await _run(args, desk, env)

    try:
        return asyncio.run(main())
    except IncidentInputError as err:
        raise UsageError("; ".join(err.problems)) from None
    finally:
        ledger.close()


async def _run(args: argparse.Namespace, desk: IncidentDesk, env: Mapping[str, str]) -> int:
    if args.action == "list":
        found = await desk.find(open_only=args.open, limit=1000)
        if args.format == "json":
            print(json.dumps({"incidents": [incident_json(i) for i in found]}, indent=2,
                             ensure_ascii=False))
        elif not found:
            print("No open incidents." if args.open else "No incidents.")
        else:
            print("\n".join(_line(i) for i in found))
        return EXIT_OK
    by = declared_by_from(args, env)
    if args.action == "open":
        inc = await desk.open(title=args.title, services=args.service, impact=args.impact,
                              status=args.status, body=args.body, by=by)
        print(f"Opened incident {inc.id} ({inc.impact.value}, {inc.severity}): {inc.title}")
        return EXIT_OK
    status = "resolved" if args.action == "resolve" else args.status
    posted = await desk.update(args.id, status=status, body=args.body, by=by)
    if posted is None:
        raise UsageError(f"no incident {args.id} (see: upwatch incident list)")
    inc, _ = posted
    print(f"Incident {inc.id} is now {inc.status.value} (update by {by}).")
    return EXIT_OK
