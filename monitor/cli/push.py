"""``upwatch push-url [NAME …]``: the secret URLs push services ping.

Prints, per push service (all of them, or those named), its ping URL and the healthchecks.io
style variants::

    nightly-backup  https://status.example.com/ping/3q2-x…   (/start, /fail, /<exit status>)

The token is made in the ledger the first time a push service is seen (by ``upwatch run`` or
by this command) and kept; ``--renew NAME`` makes a new one, and the old URL stops working.
The base is ``--base-url``, else probes.yaml's ``central_url`` or ``site.url``, else
``http://127.0.0.1:8080`` (where ``upwatch run`` listens by default).
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from monitor.cli.common import EXIT_OK, UsageError, add_common_options, config_path, open_ledger
from monitor.config import Config, load_config
from monitor.core.clock import SystemClock
from monitor.store.ledger import Ledger

__all__ = ["add_push_parser", "push_urls", "run_push_url"]

DEFAULT_BASE = "http://127.0.0.1:8080"


def add_push_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("push-url", help="print the URLs push services ping",
                       description="print the secret URL each push service pings (kind: push)")
    p.add_argument("names", nargs="*", metavar="NAME",
                   help="push services to print (default: all of them)")
    p.add_argument("--base-url", default=None,
                   help="where upwatch run is reached (default: central_url or site.url from "
                        f"probes.yaml, else {DEFAULT_BASE})")
    p.add_argument("--renew", action="store_true",
                   help="make new tokens for the NAMEs given: their old URLs stop working")
    add_common_options(p)
    p.set_defaults(handler=run_push_url)


def _base(config: Config, given: str | None) -> str:
    if given is not None:
        return given.rstrip("/")
    for url in (config.central_url, config.site.url):
        if url:
            return url.rstrip("/")
    return DEFAULT_BASE


def push_urls(config: Config, ledger: Ledger, names: list[str], base: str, *,
              renew: bool = False, out: TextIO) -> int:
    push = [s.name for s in config.services if s.kind == "push"]
    if not push:
        raise UsageError("no push services are configured (a service with kind: push)")
    unknown = [n for n in names if n not in push]
    if unknown:
        raise UsageError(f'not a push service: "{unknown[0]}" (push services: '
                         f"{', '.join(push)})")
    if renew and not names:
        raise UsageError("--renew needs the NAMEs of the services whose tokens to renew")
    clock = SystemClock()
    for name in names if renew else ():
        ledger.renew_ping_token(name, clock.now())
    states = ledger.push_states(push, clock.now())
    width = max(len(n) for n in names or push)
    for name in names or push:
        token = states[name][0]
        print(f"{name:<{width}}  {base}/ping/{token}", file=out)
    print("Ping it when the job succeeds; add /start when it begins, /fail or /<exit status> "
          "when it ends (GET or POST).", file=out)
    return EXIT_OK


def run_push_url(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    config = load_config(config_path(args))
    ledger = open_ledger(args)
    try:
        return push_urls(config, ledger, list(args.names), _base(config, args.base_url),
                         renew=args.renew, out=out or sys.stdout)
    finally:
        ledger.close()
