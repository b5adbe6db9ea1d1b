"""A prober's pusher: drains the spool to the central upwatch, oldest first, at least once.

A prober (``upwatch run --location fra``) appends its check results to its
:class:`~monitor.store.spool.AsyncSpool` and calls :meth:`Pusher.notify`; :meth:`Pusher.run`
sends them as ``POST {central}/api/v1/results`` (gzipped JSON Lines, the import format, with
the location's bearer token) and deletes a batch from the spool only once the central answered
200 for it. A lost answer means the batch is sent again, which the central records once (it is
idempotent on service, location and time): so nothing the spool took is ever lost, and order
is kept because the spool is a FIFO and one batch is in flight at a time.

Answers, as the central's contract has them:

- 200 ``{"recorded", "duplicates", "invalid", "errors"}``: the batch is acknowledged. Invalid
  lines will never be recorded, so they are not sent again: their errors are logged.
- 401/403: the token is wrong or missing: an error naming the token's environment variable,
  the results stay spooled, and the pusher retries with backoff (the operator fixes the token).
- 413 (too large): the batch is halved and sent again at once. 400 (malformed): logged, halved,
  sent again; a single line refused with 400 can never be accepted and is dropped with an
  error, if it is indeed not a JSON object. A well-formed line refused alone (with 400 or 413)
  is the central's fault, not the line's: it is kept and retried with backoff, so that a
  broken central cannot make the pusher empty its spool. After a success the batch size
  doubles back towards ``batch``.
- 429, 5xx, any other answer, connection errors and timeouts: retry after an exponential
  backoff with jitter (:func:`backoff`: 1 s doubling to 60 s), or after ``Retry-After`` when
  the central sends one.

Every wait goes through the injected ``sleep`` (tests make it instant); a request gives up
after ``timeout`` seconds, so a hung central never hangs the pusher.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import gzip
import json
import logging
import math
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import aiohttp

from monitor.core.clock import Clock
from monitor.ingest import MAX_LINES  # the central's bounds, as it enforces them
from monitor.store.spool import AsyncSpool, SpoolError
from monitor.web.admin import RESULTS_PATH
from monitor.web.results import MAX_BODY_BYTES

__all__ = ["MAX_BODY_BYTES", "MAX_LINES", "MAX_RETRY_AFTER_S", "RESULTS_PATH", "Pusher",
           "backoff", "encode_batch"]

log = logging.getLogger("upwatch.push")

#: A ``Retry-After`` longer than this is read as this: a garbled header must not park a prober
#: for days while its spool fills.
MAX_RETRY_AFTER_S = 3600.0
#: The most of a central's answer that is read (its answers are a few hundred bytes).
_MAX_ANSWER_BYTES = 1024 * 1024
_SHOWN_LINE = 200


def backoff(failures: int, rng: random.Random, first: float = 1.0, cap: float = 60.0) -> float:
    """Seconds to wait after the ``failures``-th failure in a row: a random point in the upper
    half of ``first`` × 2^(failures-1), capped at ``cap``. The jitter keeps probers that lost
    the central together from coming back together; the lower half is left out so that a
    retry is never almost immediate."""
    if failures < 1:
        return 0.0
    ceiling = min(cap, first * 2.0 ** min(failures - 1, 60))
    return rng.uniform(ceiling / 2, ceiling)


def encode_batch(lines: Sequence[str]) -> bytes:
    """The request body: one line each, newline-terminated, gzipped. ``mtime=0`` so that the
    same batch is the same bytes every time it is sent."""
    text = "".join(f"{line}\n" for line in lines)
    return gzip.compress(text.encode("utf-8"), compresslevel=6, mtime=0)


@dataclass
class _Answer:
    status: int
    body: bytes
    retry_after: str | None


@dataclass
class _Stats:
    """What the pusher did since it started."""

    sent: int = 0  # lines the central answered 200 for (recorded, duplicates and invalid)
    recorded: int = 0
    duplicates: int = 0
    invalid: int = 0  # answered 200 but refused for good by the central
    dropped: int = 0  # refused with 400/413 as a single line: can never be sent
    requests: int = 0
    failures: int = 0  # failed attempts in a row (0 after a success)


class Pusher:
    """Sends the spool's lines to the central (see the module's docstring).

    ``central_url`` is the central's base URL (``https://status.example.com``); the token is
    sent as ``Authorization: Bearer``; ``token_env`` is the variable it was read from, named in
    errors. ``batch`` lines at most per request (and never more than :data:`MAX_LINES`).
    ``idle_interval`` is how long an idle pusher waits for :meth:`notify` before it looks at
    the spool anyway. ``sleep`` is every backoff wait; ``rng`` its jitter.
    """

    def __init__(
        self,
        spool: AsyncSpool,
        session: aiohttp.ClientSession,
        central_url: str,
        token: str,
        token_env: str,
        clock: Clock,
        batch: int = MAX_LINES,
        *,
        timeout: float = 30.0,
        idle_interval: float = 5.0,
        first_backoff: float = 1.0,
        max_backoff: float = 60.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if batch < 1 or timeout <= 0 or idle_interval <= 0:
            raise ValueError("batch must be >= 1, timeout and idle_interval > 0")
        if not 0 < first_backoff <= max_backoff:
            raise ValueError("backoff needs 0 < first_backoff <= max_backoff")
        self._spool = spool
        self._session = session
        self.central_url = central_url.rstrip("/")
        self.url = self.central_url + RESULTS_PATH
        self._token = token.strip()
        self._token_env = token_env
        self._clock = clock
        self._batch = min(batch, MAX_LINES)
        self._limit = self._batch  # halved by 413/400, doubled back by successes
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._timeout_s = timeout
        self._idle_interval = idle_interval
        self._first, self._cap = first_backoff, max_backoff
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._stats = _Stats()
        self.last_success: datetime | None = None
        self.last_error: str | None = None
        #: The central's last answer refused this location's token (until a push succeeds).
        self.token_refused = False
        if spool.spool.central_url is None:  # for the warning of a full spool
            spool.spool.central_url = self.central_url

    # ---- figures for health and metrics -------------------------------------------------------

    @property
    def sent(self) -> int:
        """Lines the central answered 200 for, since the start."""
        return self._stats.sent

    @property
    def recorded(self) -> int:
        return self._stats.recorded

    @property
    def duplicates(self) -> int:
        return self._stats.duplicates

    @property
    def invalid(self) -> int:
        """Lines the central refused for good (and that are not sent again)."""
        return self._stats.invalid

    @property
    def dropped(self) -> int:
        """Single lines refused with 400 or 413, dropped from the spool."""
        return self._stats.dropped

    @property
    def failures(self) -> int:
        """Failed attempts in a row; 0 after a success."""
        return self._stats.failures

    @property
    def backlog(self) -> int:
        """Lines waiting in the spool (no SQL: the spool counts in memory)."""
        return len(self._spool)

    @property
    def oldest_unsent(self) -> datetime | None:
        """When the oldest line still waiting was spooled: how far behind the central is."""
        return self._spool.oldest_at

    @property
    def batch_limit(self) -> int:
        """Lines the next request may carry (smaller than ``batch`` after a 413 or 400)."""
        return self._limit

    # ---- control ----------------------------------------------------------------------------

    def notify(self) -> None:
        """Results were appended: send now rather than at the end of the idle wait. Does not
        cut a backoff short: a central that is down is not back because there is more."""
        self._wake.set()

    async def submit(self, lines: Sequence[str]) -> int:
        """Append ``lines`` to the spool (committed once this returns) and :meth:`notify`;
        returns how many the spool took (a full spool refuses, see ``Spool.append``)."""
        taken = await self._spool.append(lines)
        if taken:
            self.notify()
        return taken

    def stop(self) -> None:
        """Make :meth:`run` return: at once from a wait, after the request in flight otherwise
        (at most ``timeout``). Cancelling the task instead is safe too: a batch is deleted only
        after its 200, so at worst it is sent again."""
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        """Send batches until :meth:`stop`."""
        while not self._stopping.is_set():
            self._wake.clear()  # before peeking: a notify from now on is not missed
            try:
                rows = await self._spool.peek(self._limit)
                if not rows:
                    await self._idle()
                    continue
                pause = await self._push(rows)
            except SpoolError as err:
                pause = self._failed(f"the spool failed: {err}", None, logging.ERROR)
            if pause is not None:
                await self._pause(pause)

    # ---- one batch --------------------------------------------------------------------------

    async def _push(self, rows: list[tuple[int, str]]) -> float | None:
        """Send ``rows``; returns how long to wait before the next attempt (None: go on)."""
        body = await asyncio.to_thread(encode_batch, [line for _, line in rows])
        if len(body) > MAX_BODY_BYTES:  # not worth sending: the central would answer 413
            return await self._too_large(rows, f"{len(body):,} bytes gzipped")
        try:
            answer = await self._post(body)
        except (aiohttp.ClientError, OSError, TimeoutError) as err:
            return self._failed(f"cannot reach the central at {self.url}: {self._describe(err)}",
                                None, logging.WARNING)
        status = answer.status
        if status == 200:
            return await self._accepted(rows, answer.body)
        reason = _reason(answer.body)
        if status in (401, 403):
            self.token_refused = True
            return self._failed(
                f"the central at {self.url} refused this location's token ({status} {reason}): "
                f"set {self._token_env} to the token the central has for this location and "
                f"restart; results stay spooled ({self.backlog:,} waiting)",
                None, logging.ERROR)
        if status == 413:
            if len(rows) == 1:  # one line of a few hundred bytes: the central's limit is wrong
                return self._failed(f"the central at {self.url} refuses even one result as too "
                                    f"large (413 {reason})", answer.retry_after, logging.ERROR)
            return await self._too_large(rows, reason)
        if status == 400:
            if len(rows) > 1:
                log.warning("the central refused a batch of %d results as malformed (400 %s); "
                            "sending it in smaller batches", len(rows), reason)
                self._limit = max(1, len(rows) // 2)
                return None
            if not _well_formed(rows[0][1]):
                await self._drop(rows[0], f"400 {reason}")
                return None
            return self._failed(  # a sound line refused: the central is at fault, keep it
                f"the central at {self.url} refuses a well-formed result as malformed "
                f"(400 {reason}); keeping it and retrying", answer.retry_after, logging.ERROR)
        level = logging.WARNING if status == 429 or status >= 500 else logging.ERROR
        return self._failed(f"the central at {self.url} answered {status} {reason}",
                            answer.retry_after, level)

    async def _post(self, body: bytes) -> _Answer:
        self._stats.requests += 1
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Content-Type": "application/x-ndjson",
            "Content-Encoding": "gzip",
        }
        async with self._session.post(self.url, data=body, headers=headers,
                                      timeout=self._timeout, allow_redirects=False) as resp:
            data = await resp.content.read(_MAX_ANSWER_BYTES)
            return _Answer(resp.status, data, resp.headers.get("Retry-After"))

    async def _accepted(self, rows: list[tuple[int, str]], body: bytes) -> float | None:
        try:
            answer = json.loads(body)
            if not isinstance(answer, dict):
                raise ValueError("not a JSON object")
            recorded = int(answer.get("recorded", 0))
            duplicates = int(answer.get("duplicates", 0))
            invalid = int(answer.get("invalid", 0))
            errors = [str(e) for e in answer.get("errors") or []]
        except (ValueError, TypeError) as err:  # not the central's answer: send again later
            return self._failed(f"the central at {self.url} answered 200 with something that "
                                f"is not its answer ({err}): {_reason(body)}",
                                None, logging.ERROR)
        await self._spool.ack(rows[-1][0])
        stats = self._stats
        if stats.failures:
            log.info("the central at %s takes results again after %d failed attempts; "
                     "%s results waiting", self.url, stats.failures, f"{self.backlog:,}")
        stats.failures = 0
        stats.sent += len(rows)
        stats.recorded += recorded
        stats.duplicates += duplicates
        stats.invalid += invalid
        self.last_success = self._clock.now()
        self.last_error = None
        self.token_refused = False
        self._limit = min(self._batch, self._limit * 2)
        if invalid:
            log.error("the central refused %d of %d results for good (not sent again): %s",
                      invalid, len(rows), "; ".join(errors) or "no reason given")
        if recorded + duplicates + invalid != len(rows):
            log.warning("the central accounted for %d of the %d results sent (recorded %d, "
                        "duplicates %d, invalid %d)", recorded + duplicates + invalid,
                        len(rows), recorded, duplicates, invalid)
        return None

    async def _too_large(self, rows: list[tuple[int, str]], reason: str) -> float | None:
        if len(rows) == 1:  # over MAX_BODY_BYTES on its own: can never be sent
            await self._drop(rows[0], f"too large: {reason}")
            return None
        self._limit = max(1, len(rows) // 2)
        log.info("a batch of %d results is too large for the central (%s); sending %d at a "
                 "time", len(rows), reason, self._limit)
        return None

    async def _drop(self, row: tuple[int, str], reason: str) -> None:
        """Delete the oldest line: the central refused it alone, so it can never be taken."""
        seq, line = row
        await self._spool.ack(seq)
        self._stats.dropped += 1
        self.last_error = f"dropped a result the central can never take ({reason})"
        shown = line if len(line) <= _SHOWN_LINE else line[:_SHOWN_LINE] + "…"
        log.error("dropped a spooled result the central refuses on its own (%s): %s",
                  reason, shown)

    def _failed(self, message: str, retry_after: str | None, level: int) -> float:
        """Record a failed attempt; returns the wait before the next one."""
        stats = self._stats
        stats.failures += 1
        self.last_error = message
        wait = _retry_after(retry_after, self._clock.now())
        if wait is None:
            wait = backoff(stats.failures, self._rng, self._first, self._cap)
        log.log(level, "%s; retrying in %.1f s (attempt %d)", message, wait, stats.failures)
        return wait

    def _describe(self, err: BaseException) -> str:
        if isinstance(err, TimeoutError) and not str(err):
            return f"no answer within {self._timeout_s:g} s"
        return str(err) or type(err).__name__

    # ---- waiting ----------------------------------------------------------------------------

    async def _idle(self) -> None:
        """Until :meth:`notify` (or :meth:`stop`) or ``idle_interval`` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self._idle_interval)

    async def _pause(self, seconds: float) -> None:
        """``sleep(seconds)``, cut short by :meth:`stop` only."""
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        stopper = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            stopper.cancel()
            await asyncio.wait({sleeper, stopper})


def _retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delay-seconds or an HTTP date), at most
    :data:`MAX_RETRY_AFTER_S`; None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = (when - now).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def _well_formed(line: str) -> bool:
    """Whether ``line`` is a JSON object, as every line :func:`monitor.store.spool.result_line`
    writes is. Only a line that is not is dropped after a 400: a central that answers 400 to
    sound lines (a broken deployment, a proxy) must not make the pusher empty its spool one
    line at a time."""
    try:
        return isinstance(json.loads(line), dict)
    except (ValueError, RecursionError):
        return False


def _reason(body: bytes) -> str:
    """The central's reason, from its JSON error (``{"error": …}``) or its text, shortened."""
    text = body.decode("utf-8", errors="replace").strip()
    with contextlib.suppress(ValueError):
        data = json.loads(text)
        if isinstance(data, dict) and isinstance(data.get("error"), str):
            text = data["error"]
    text = " ".join(text.split())
    return text if len(text) <= _SHOWN_LINE else text[:_SHOWN_LINE] + "…"

