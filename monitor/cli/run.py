"""``upwatch run``, ``demo``, ``probe`` and ``check-config``: the commands that watch services."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from monitor.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    DatabaseError,
    Subparsers,
    UsageError,
    add_common_options,
    config_path,
    db_path,
    open_ledger,
)
from monitor.config import UnknownService, db_target, load_config
from monitor.core.pings import PingState

__all__ = ["add_demo_parser", "add_parsers"]


def add_parsers(sub: Subparsers[argparse.ArgumentParser]) -> None:
    run = sub.add_parser("run", help="probe services, keep the ledger, serve /metrics and the page")
    add_common_options(run)
    run.add_argument("--listen", default="127.0.0.1:8080",
                     help="address to serve on (default: 127.0.0.1:8080)")
    run.add_argument("--log-format", choices=["text", "json"], default="text",
                     help="log lines for people (text) or machines (json)")
    run.add_argument("--max-concurrency", type=int, default=256,
                     help="checks allowed in flight at once (default: 256)")
    run.add_argument("--site", type=Path, default=None,
                     help="where the status page is built every minute and served from "
                          "(default: site/ beside the ledger)")
    prober = run.add_argument_group(
        "prober in another location", "probe as LOCATION and push every result to the central "
        "upwatch run (docs/locations.md); no ledger, no page")
    prober.add_argument("--location", default=None,
                        help="probe as this location of probes.yaml's locations")
    prober.add_argument("--central", default=None,
                        help="the central's URL (default: probes.yaml's central_url)")
    prober.add_argument("--spool", type=Path, default=None,
                        help="the spool file for results not yet taken by the central "
                             "(default: spool-LOCATION.db beside the ledger)")
    prober.add_argument("--source-address", default=None, metavar="IP",
                        help="the local address probes connect from (default: the system's "
                             "choice)")
    prober.add_argument("--max-spool", type=int, default=5_000_000,
                        help="results the spool holds at most (default: 5000000)")
    run.set_defaults(handler=cmd_run)

    check = sub.add_parser("check-config", help="validate probes.yaml and exit")
    add_common_options(check)
    check.set_defaults(handler=cmd_check_config)

    probe = sub.add_parser("probe", help="run one check of a service now and print what it saw")
    add_common_options(probe)
    probe.add_argument("service", help="service name from probes.yaml")
    probe.set_defaults(handler=cmd_probe)


def add_demo_parser(sub: Subparsers[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser("demo", help="simulated services, 90 days of history, a full page")
    demo.add_argument("--dir", type=Path, default=None,
                      help="where to put the demo's probes.yaml, ledger and site "
                           "(default: a new temporary directory)")
    demo.add_argument("--listen", default="127.0.0.1:8080",
                      help="address to serve on (default: 127.0.0.1:8080)")
    demo.add_argument("--db", type=db_target, default=None,
                      help="the ledger to seed and run on: a postgresql:// URL of an empty "
                           "database (default: upwatch.db in --dir)")
    demo.add_argument("--locations", action="store_true",
                      help="three probing locations: this monitor and two probers pushing to "
                           "it from 127.0.0.2 and 127.0.0.3 (Linux loopback)")
    demo.set_defaults(handler=cmd_demo)


def cmd_check_config(args: argparse.Namespace) -> int:
    config = load_config(config_path(args))
    print(f"OK: {len(config.services)} services")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from monitor.logs import setup_logging
    from monitor.notify import ChannelSetupError
    from monitor.run.pages import SitePlan
    from monitor.run.runner import RunOptions, serve
    from monitor.store.ledger import LedgerError
    from monitor.web.admin import AdminTokenError

    try:
        host, port = parse_listen(args.listen)
    except ValueError as err:
        raise UsageError(str(err)) from err
    if args.max_concurrency < 1:
        raise UsageError(f"--max-concurrency: must be at least 1, got {args.max_concurrency}")
    setup_logging(args.log_format)
    db = db_path(args)
    if args.location is not None:
        return _run_prober(args, db, host, port)
    if args.central is not None or args.spool is not None or args.source_address is not None:
        raise UsageError("--central, --spool and --source-address are for a prober: add "
                         "--location NAME")
    opts = RunOptions(config_path=config_path(args), db_path=db, host=host, port=port,
                      max_concurrency=args.max_concurrency,
                      site=SitePlan(args.site if args.site is not None
                                    else (db.parent if isinstance(db, Path) else Path()) / "site",
                                    serve=True))
    try:
        return asyncio.run(serve(opts))
    except LedgerError as err:
        raise DatabaseError(str(err)) from err
    except (AdminTokenError, ChannelSetupError) as err:
        raise UsageError(str(err)) from err
    except OSError as err:
        print(f"Error: cannot listen on {args.listen}: {err.strerror or err}", file=sys.stderr)
        return EXIT_FAILED


def _run_prober(args: argparse.Namespace, db: str | Path, host: str, port: int) -> int:
    from monitor.run.prober import ProberError, ProberOptions, serve_prober
    from monitor.store.ledger import LedgerError
    from monitor.store.spool import SpoolError

    if args.max_spool < 1:
        raise UsageError(f"--max-spool: must be at least 1, got {args.max_spool}")
    beside = db.parent if isinstance(db, Path) else Path()
    spool = args.spool if args.spool is not None else beside / f"spool-{args.location}.db"
    opts = ProberOptions(config_path=config_path(args), location=args.location,
                         spool_path=spool, central_url=args.central, host=host, port=port,
                         max_concurrency=args.max_concurrency, max_spool=args.max_spool,
                         source_address=args.source_address)
    try:
        return asyncio.run(serve_prober(opts))
    except ProberError as err:
        raise UsageError(str(err)) from err
    except (LedgerError, SpoolError) as err:
        raise DatabaseError(str(err)) from err
    except OSError as err:
        print(f"Error: cannot listen on {args.listen}: {err.strerror or err}", file=sys.stderr)
        return EXIT_FAILED


def cmd_probe(args: argparse.Namespace) -> int:
    from monitor.core.checks import NoResultYet
    from monitor.core.clock import SystemClock
    from monitor.probes.http import make_session
    from monitor.probes.kinds import ServiceProbe

    config = load_config(config_path(args))
    try:
        service = config.service(args.service)
    except UnknownService as err:
        raise UsageError(str(err)) from None

    pinged = _pings_of(args, service.name) if service.kind == "push" else None

    async def once() -> int:
        async with make_session() as session:
            probe = ServiceProbe(session, SystemClock(), location=config.location)
            probe.push.states = lambda name: pinged
            try:
                result = await probe.check(service)
            except NoResultYet:
                print(f"{service.name}: NO DATA (no ping yet)  {service.target}")
                return EXIT_FAILED
        state = result.state(service.expect.max_latency_ms)
        latency = "" if result.latency_ms is None else f" in {result.latency_ms:.1f} ms"
        status = "" if result.status is None else f" status {result.status}"
        print(f"{service.name}: {state.label.upper()}{status}{latency}  {service.target}")
        if result.error is not None:
            print(f"  {result.error}: {result.detail}")
        return EXIT_OK if result.ok else EXIT_FAILED

    return asyncio.run(once())


def _pings_of(args: argparse.Namespace, name: str) -> PingState | None:
    """A push service's pings so far, from the ledger ``upwatch run`` stores them in."""
    ledger = open_ledger(args)
    try:
        found = ledger.read_only(lambda led: led.push_states()).get(name)
    finally:
        ledger.close()
    return None if found is None else found[1]


def cmd_demo(args: argparse.Namespace) -> int:
    import tempfile

    from monitor.core.clock import SystemClock
    from monitor.demo import run_demo
    from monitor.logs import setup_logging
    from monitor.store.ledger import LedgerError

    try:
        host, port = parse_listen(args.listen)
    except ValueError as err:
        raise UsageError(str(err)) from err
    if args.dir is None:
        workdir = Path(tempfile.mkdtemp(prefix="upwatch-demo-"))
    else:
        workdir = args.dir
        if args.db is None and (workdir / "upwatch.db").exists():
            raise UsageError(f"{workdir} already holds a demo ledger; pick a new --dir "
                             "or remove it (the demo seeds fresh history)")
        workdir.mkdir(parents=True, exist_ok=True)
    setup_logging("text")
    try:
        return asyncio.run(run_demo(workdir, host, port, SystemClock(),
                                    locations=args.locations, db=args.db))
    except LedgerError as err:
        raise DatabaseError(str(err)) from err
    except OSError as err:
        print(f"Error: cannot listen on {args.listen}: {err.strerror or err} "
              "(try --listen 127.0.0.1:8090)", file=sys.stderr)
        return EXIT_FAILED


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6) → (host, port); raises ValueError with the fix."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f'--listen: expected HOST:PORT such as 127.0.0.1:8080, got "{value}"')
    return host.strip("[]") or "127.0.0.1", int(port)
