"""``/ping/<token>``: where push services check in, as with healthchecks.io.

``GET``, ``HEAD`` or ``POST`` (the body is never read):

- ``/ping/<token>`` or ``/ping/<token>/0``: a success (the run finished well);
- ``/ping/<token>/start``: a run began (its time to success becomes the latency);
- ``/ping/<token>/fail`` or ``/ping/<token>/<1-255>``: a failure, with its exit status.

Answers: ``200 OK`` once the ping is stored; ``404`` (JSON) for a token no push service has,
saying no more (a token cannot be guessed, nor told apart from a removed one); ``400`` for an
exit status outside 0-255; ``503`` when the ledger could not store it (the job's ``curl
--retry`` sends it again). No admin token is needed: the secret is the URL.
"""

from __future__ import annotations

import logging
import re
from typing import Protocol

from aiohttp import web

from monitor.core.pings import PingKind

__all__ = ["PingTaker", "add_ping_routes"]

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")


class PingTaker(Protocol):
    """What the handler hands pings to (``monitor.run.pings.PingBook``)."""

    async def ping(self, token: str, kind: PingKind, exit_status: int | None = None
                   ) -> bool: ...


def _error(status: int, error: str, message: str) -> web.Response:
    return web.json_response({"error": error, "message": message}, status=status)


def add_ping_routes(app: web.Application, taker: PingTaker) -> None:
    """The ping routes on ``app`` (before any catch-all route)."""

    async def handle(request: web.Request) -> web.Response:
        token = request.match_info["token"]
        what = request.match_info.get("what", "")
        kind, status = PingKind.SUCCESS, None
        if what == "start":
            kind = PingKind.START
        elif what == "fail":
            kind = PingKind.FAIL
        elif what.isascii() and what.isdigit():
            if len(what) > 3 or int(what) > 255:
                return _error(400, "bad_exit_status",
                              f"an exit status is 0-255, got {what[:8]}")
            status = int(what)
            kind = PingKind.SUCCESS if status == 0 else PingKind.FAIL
        elif what:
            return _error(404, "not_found", "ping /ping/<token>, or /start, /fail or an exit "
                                            "status after it")
        if not _TOKEN.fullmatch(token):
            return _error(404, "not_found", "no push service has this token")
        try:
            taken = await taker.ping(token, kind, status)
        except Exception:
            log.exception("a ping could not be stored")
            return _error(503, "not_stored", "the ping could not be stored; send it again")
        if not taken:
            return _error(404, "not_found", "no push service has this token")
        return web.Response(text="OK\n")

    for path in ("/ping/{token}", "/ping/{token}/{what}"):
        app.router.add_get(path, handle)
        app.router.add_post(path, handle)
