"""``upwatch notify test CHANNEL``: send a test message through one configured channel.

The message goes straight to the channel (not through the outbox), so the answer is known at
once: ``Delivered.`` (exit 0) or ``Failed: …`` (exit 1). An unknown channel, or a secret's
environment variable that is not set, is ``Error: …`` (exit 2).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping
from typing import TextIO

import aiohttp

from monitor.cli.common import EXIT_FAILED, EXIT_OK, UsageError, add_common_options, config_path
from monitor.config import Config, load_config
from monitor.core.clock import Clock, SystemClock
from monitor.notify import ChannelSetupError, DeliveryError, Event
from monitor.notify.channels import channel_from_config

__all__ = ["add_notify_parsers", "notify_test", "run_notify_command", "sample_event"]


def add_notify_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``notify test CHANNEL`` to ``sub``."""
    p = sub.add_parser("notify", help="try the notification channels",
                       description="try the notification channels")
    p.set_defaults(handler=run_notify_command)
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    test = actions.add_parser("test", help="send a test message through one channel now")
    test.add_argument("channel", help="a channel name from notifications: in probes.yaml")
    add_common_options(test)


def sample_event(channel: str, clock: Clock) -> Event:
    """The message ``notify test`` sends (a new id each second, so receivers never fold it)."""
    now = clock.now()
    return Event(f"test:{channel}:{int(now.timestamp())}", "test", now,
                 "upwatch test notification",
                 f'This is a test message from upwatch through the channel "{channel}". '
                 "If you can read it, the channel works.")


async def notify_test(config: Config, name: str, clock: Clock, environ: Mapping[str, str],
                      out: TextIO) -> int:
    """Send the test message through channel ``name``; print what happened; the exit code."""
    known = [c.name for c in config.notifications]
    cfg = next((c for c in config.notifications if c.name == name), None)
    if cfg is None:
        if not known:
            raise UsageError("no notification channels are configured (add them under "
                                 "notifications: in probes.yaml)")
        raise UsageError(f'no channel named "{name}" in notifications (known: '
                             f"{', '.join(known)})")
    async with aiohttp.ClientSession() as session:
        try:
            channel = channel_from_config(cfg, session, clock, environ)
        except ChannelSetupError as err:
            raise UsageError(str(err)) from None
        event = sample_event(name, clock)
        print(f'Sending a test message through "{name}" ({cfg.kind} to {cfg.endpoint})...',
              file=out)
        try:
            await channel.send(event, f"{event.id}/{name}")
        except DeliveryError as err:
            what = ("permanent: the outbox would drop it" if err.permanent
                    else "temporary: the outbox would retry it")
            print(f"Failed: {err} ({what})", file=out)
            return EXIT_FAILED
    print("Delivered.", file=out)
    return EXIT_OK


def run_notify_command(args: argparse.Namespace, *, clock: Clock | None = None,
                       environ: Mapping[str, str] | None = None,
                       out: TextIO | None = None) -> int:
    """Run ``upwatch notify test CHANNEL``; returns the exit code."""
    config = load_config(config_path(args))
    env = os.environ if environ is None else environ
    return asyncio.run(notify_test(config, args.channel, clock or SystemClock(), env,
                                   out or sys.stdout))
