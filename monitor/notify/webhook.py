"""The generic JSON webhook: the event as JSON, signed with HMAC-SHA256.

Headers: ``X-Upwatch-Signature: sha256=<hex>`` (HMAC-SHA256 of the raw body with the secret),
``X-Upwatch-Timestamp`` (epoch seconds when sent), ``X-Upwatch-Event`` (the event's kind) and
``Idempotency-Key`` (``<event id>/<channel>``, the same on every retry). A 2xx answer is
delivered; 408, 429, 5xx and network errors are retried; any other status is permanent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping

import aiohttp

from monitor.core.clock import Clock
from monitor.notify import EVENT_KINDS, ChannelSetupError, DeliveryError, Event, EventKind

__all__ = ["WebhookChannel", "post_json", "secret_from_env", "sign", "verify"]

SIGNATURE_HEADER = "X-Upwatch-Signature"
TIMESTAMP_HEADER = "X-Upwatch-Timestamp"
_RETRYABLE = {408, 429}


def sign(secret: bytes, body: bytes) -> str:
    """The ``X-Upwatch-Signature`` value for ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secret: bytes, body: bytes, header: str) -> bool:
    """Whether ``header`` is the signature of ``body`` (constant-time comparison)."""
    return hmac.compare_digest(sign(secret, body), header.strip())


def secret_from_env(environ: Mapping[str, str], var: str, channel: str) -> bytes:
    """The secret held by environment variable ``var``; it must be set and not empty."""
    value = environ.get(var, "")
    if not value:
        raise ChannelSetupError(
            f'notifications: channel "{channel}": environment variable {var} is not set '
            "(it holds the channel's secret)")
    return value.encode("utf-8")


async def post_json(session: aiohttp.ClientSession, url: str, body: bytes,
                    headers: Mapping[str, str], limit_s: float) -> None:
    """POST ``body``; raise :class:`DeliveryError` unless the answer is 2xx."""
    try:
        async with session.post(url, data=body, headers=dict(headers),
                                timeout=aiohttp.ClientTimeout(total=limit_s),
                                allow_redirects=False) as resp:
            if 200 <= resp.status < 300:
                return
            text = (await resp.content.read(200)).decode("utf-8", "replace").strip()
            permanent = resp.status < 500 and resp.status not in _RETRYABLE
            raise DeliveryError(f"HTTP {resp.status}" + (f": {text}" if text else ""),
                                permanent=permanent)
    except TimeoutError:
        raise DeliveryError(f"no answer within {limit_s:g} s") from None
    except aiohttp.ClientError as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from None


class WebhookChannel:
    """POSTs each event as JSON to ``url``."""

    def __init__(self, name: str, url: str, session: aiohttp.ClientSession, clock: Clock, *,
                 secret: bytes | None = None,
                 events: frozenset[EventKind] = frozenset(EVENT_KINDS),
                 timeout: float = 10.0) -> None:
        self.name, self._url, self._session, self._clock = name, url, session, clock
        self._secret, self.events, self._timeout = secret, events, timeout

    def body(self, event: Event) -> bytes:
        return json.dumps(event.to_json(), ensure_ascii=False, sort_keys=True).encode("utf-8")

    def headers(self, event: Event, body: bytes, idempotency_key: str) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": idempotency_key,
            "X-Upwatch-Event": event.kind,
            TIMESTAMP_HEADER: str(int(self._clock.now().timestamp())),
        }
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = sign(self._secret, body)
        return headers

    async def send(self, event: Event, idempotency_key: str) -> None:
        body = self.body(event)
        await post_json(self._session, self._url, body,
                        self.headers(event, body, idempotency_key), self._timeout)
