"""``POST /api/v1/results``: the central ``upwatch run`` records what probers in other locations
push (the prober side is :mod:`monitor.run.pusher`).

A request carries one location's results as import lines (JSON Lines, ``application/x-ndjson``,
gzipped or not), authenticated by that location's bearer token (``locations[].token_env`` in
probes.yaml, read once at start). Bounds, each answered with a JSON error naming the limit:
:data:`MAX_BODY_BYTES` as sent, :data:`MAX_PLAIN_BYTES` once decompressed (a gzip bomb is cut
off there, never inflated whole), :data:`~monitor.ingest.MAX_LINES` lines. Decompression and
parsing run in a worker thread; the valid lines go through the ledger writer, and the answer
comes only after they are committed, so a prober that deletes what was answered loses nothing.

Answers: 200 ``{"recorded", "invalid", "errors"}``; 401 no or wrong token; 413 too large; 415 an
encoding other than gzip or identity; 503 with ``Retry-After`` when the ledger does not commit
(the prober keeps the batch and sends it again) or when no location may push.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import web

from monitor.config import Config
from monitor.core.checks import Observation
from monitor.core.clock import Clock
from monitor.ingest import PushedBatch, TooManyLines, parse_pushed
from monitor.web.admin import (
    ADMIN_PREFIX,
    RESULTS_PATH,
    AdminRuntime,
    AdminTokens,
    ApiError,
    bearer_name,
    json_reply,
    read_bounded,
)

__all__ = ["MAX_BODY_BYTES", "MAX_PLAIN_BYTES", "RESULTS_PATH", "LocationSeen", "ResultsRuntime",
           "add_results_route", "load_location_tokens"]

log = logging.getLogger("upwatch.api")

#: Largest body accepted as sent (gzipped or not).
MAX_BODY_BYTES = 8 * 1024 * 1024
#: Largest body accepted once decompressed.
MAX_PLAIN_BYTES = 64 * 1024 * 1024
_REALM = 'Bearer realm="upwatch results"'


@dataclass
class LocationSeen:
    """When each location last pushed results that were recorded (``clock.monotonic()``), and
    how many it pushed in all since the start."""

    last: dict[str, float] = field(default_factory=dict)
    recorded: dict[str, int] = field(default_factory=dict)

    def saw(self, location: str, at: float, recorded: int) -> None:
        self.last[location] = at
        self.recorded[location] = self.recorded.get(location, 0) + recorded


class ResultsRuntime(AdminRuntime, Protocol):
    """What the endpoint needs of ``upwatch run`` besides the admin API's."""

    @property
    def location_tokens(self) -> AdminTokens | None: ...

    @property
    def locations_seen(self) -> LocationSeen: ...

    @property
    def on_pushed(self) -> Callable[[Sequence[Observation]], None] | None: ...


def load_location_tokens(config: Config, environ: Mapping[str, str]) -> AdminTokens | None:
    """The push tokens of the declared locations other than this instance's own, from their
    ``token_env`` variables; a location whose variable is unset cannot push (logged). None when
    no location may push."""
    pairs: dict[str, str] = {}
    for loc in config.locations:
        if loc.name == config.location:
            continue  # probed here: nothing to push
        token = environ.get(loc.token_env, "").strip()
        if not token:
            log.warning('location "%s" cannot push results: set %s to its token (the same '
                        "value on its prober) and restart", loc.name, loc.token_env)
            continue
        pairs[loc.name] = token
    return AdminTokens.of(pairs) if pairs else None


def _location(request: web.Request, tokens: AdminTokens | None) -> str:
    if tokens is None:
        raise ApiError(503, "this upwatch accepts no pushed results: declare locations in "
                            "probes.yaml and set each one's token_env variable")
    return bearer_name(request, tokens, realm=_REALM, whose=" with the location's token")


def _decoded(body: bytes, encoding: str) -> str:
    """The body as text: gunzipped (at most :data:`MAX_PLAIN_BYTES`) when ``encoding`` is gzip."""
    if encoding in ("", "identity"):
        plain = body
    elif encoding in ("gzip", "x-gzip"):
        inflater = zlib.decompressobj(wbits=47)  # gzip or zlib, several members
        try:
            plain = inflater.decompress(body, MAX_PLAIN_BYTES + 1)
            while inflater.eof and inflater.unused_data and len(plain) <= MAX_PLAIN_BYTES:
                rest = inflater.unused_data
                inflater = zlib.decompressobj(wbits=47)
                plain += inflater.decompress(rest, MAX_PLAIN_BYTES + 1 - len(plain))
        except zlib.error as err:
            raise ApiError(400, f"the body is not valid gzip: {err}") from None
        if len(plain) > MAX_PLAIN_BYTES:
            raise ApiError(413, f"the body is larger than {MAX_PLAIN_BYTES // (1024 * 1024)} "
                                "MiB once decompressed; send fewer lines per request")
        if not inflater.eof:
            raise ApiError(400, "the body is not valid gzip: it ends before the gzip stream")
    else:
        raise ApiError(415, f"unsupported Content-Encoding {encoding!r}: send gzip or nothing")
    return plain.decode("utf-8", errors="surrogateescape")


def _parse(body: bytes, encoding: str, location: str, config: Config, clock: Clock
           ) -> PushedBatch:
    try:
        return parse_pushed(_decoded(body, encoding), location, config, clock.now())
    except TooManyLines as err:
        raise ApiError(413, str(err)) from None


def _runtime(request: web.Request) -> ResultsRuntime:
    return request.config_dict[_RESULTS]


async def _post(request: web.Request) -> web.Response:
    runtime = _runtime(request)
    location = _location(request, runtime.location_tokens)
    body = await read_bounded(request, MAX_BODY_BYTES, (
        f"the request body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB; send fewer "
        "lines per request"))
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    batch = await asyncio.to_thread(_parse, body, encoding, location, runtime.config,
                                    runtime.clock)
    writer = runtime.writer
    for obs in batch.observations:
        writer.submit(obs)
    try:
        await writer.flush()
    except Exception as err:  # the batch stays queued in the writer; the prober sends it again
        log.error("results from %s not committed yet: %s", location, err)
        raise ApiError(503, f"the ledger does not commit right now ({err}); send again later",
                       headers={"Retry-After": "10"}) from None
    runtime.locations_seen.saw(location, runtime.clock.monotonic(), len(batch.observations))
    if runtime.on_pushed is not None:
        runtime.on_pushed(batch.observations)
    if batch.invalid:
        log.warning("%d of %d results pushed by %s refused: %s", batch.invalid, batch.lines,
                    location, "; ".join(batch.errors[:3]))
    return json_reply(200, {"recorded": len(batch.observations), "invalid": batch.invalid,
                            "errors": batch.errors})


_RESULTS = web.AppKey("upwatch_results", ResultsRuntime)


def add_results_route(admin: web.Application, runtime: ResultsRuntime) -> None:
    """``POST /results`` on the admin sub-application (which leaves its authentication to it,
    see ``monitor.web.admin``), recording into ``runtime``'s ledger writer."""
    admin[_RESULTS] = runtime
    admin.router.add_post(RESULTS_PATH.removeprefix(ADMIN_PREFIX), _post)

