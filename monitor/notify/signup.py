"""Subscribing to the status page: a visitor's request, its confirmation, and leaving.

:meth:`SignupDesk.subscribe` checks what the visitor sent (an email address or, where
``subscriptions.webhooks`` allows, a webhook URL; the services, none meaning all), records the
request (:mod:`monitor.store.subscribers`) and queues a confirmation request to that address
through the outbox (:mod:`monitor.notify.subscribers`). Its answer is the same whether the
address was new, waiting or already subscribed, so nobody can learn who subscribed. Bounds on
what a visitor can make upwatch do:

- ``subscriptions.per_hour`` requests from one client address per hour (counted in memory,
  never stored); past it, :class:`Limited`;
- one confirmation message per address per :data:`AGAIN_AFTER` (asking again sooner changes
  the selection waiting for confirmation, and sends nothing);
- ``subscriptions.confirmations_per_hour`` confirmation messages in all; past it,
  :class:`Limited` for everyone until the hour has passed.

:meth:`SignupDesk.confirm` and :meth:`SignupDesk.unsubscribe` take the token of a link.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from monitor.config import Config
from monitor.core.clock import Clock
from monitor.errors import UpwatchError
from monitor.notify import Event
from monitor.notify.public_only import refusal
from monitor.notify.subscribers import PREFIX
from monitor.store.ledger import Ledger
from monitor.store.schema import to_ms
from monitor.store.subscribers import Subscriber, SubscriberKind

__all__ = ["AGAIN_AFTER", "TOKEN_PATTERN", "Limited", "SignupDesk", "SignupError", "Request"]

#: The least time between two confirmation messages to one address.
AGAIN_AFTER = timedelta(minutes=10)
#: A link's token as :mod:`monitor.store.subscribers` makes them.
TOKEN_PATTERN = "[A-Za-z0-9_-]{32}"
_HOUR = timedelta(hours=1)
_MAX_CLIENTS = 10_000  # client addresses remembered for per_hour; the oldest are forgotten
# one address, without display name or comments: what a form's email field sends
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
                    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}")
T = TypeVar("T")


class SignupError(UpwatchError):
    """What the visitor sent cannot be a subscription; one problem per field."""


class Limited(UpwatchError):
    """Too many requests: from this client (``everyone`` False) or in all."""

    def __init__(self, message: str, *, everyone: bool = False) -> None:
        super().__init__(message)
        self.everyone = everyone


class _Access(Protocol):
    async def write(self, fn: Callable[[Ledger], T]) -> T: ...


class _Outbox(Protocol):
    async def publish_to(self, event: Event, channel: str) -> int: ...


@dataclass(frozen=True)
class Request:
    """A subscription request as checked: who, how, and which services (empty: all)."""

    kind: SubscriberKind
    address: str
    services: tuple[str, ...]


class SignupDesk:
    """Takes subscription requests, confirmations and unsubscriptions (see the module doc)."""

    def __init__(self, config: Config, ledger: _Access, outbox: _Outbox, clock: Clock) -> None:
        if config.subscriptions is None:
            raise ValueError("subscriptions are not configured")
        self._cfg, self._site = config.subscriptions, config.site.title
        self._services = config.service_names
        self._ledger, self._outbox, self._clock = ledger, outbox, clock
        self._clients: dict[str, deque[datetime]] = {}
        self._sent: deque[datetime] = deque()

    @property
    def takes_email(self) -> bool:
        return self._cfg.email is not None

    @property
    def takes_webhooks(self) -> bool:
        return self._cfg.webhooks

    def check(self, *, email: str = "", webhook: str = "",
              services: Sequence[str] = ()) -> Request:
        """The request these fields make; :class:`SignupError` lists what is wrong."""
        problems: list[str] = []
        email, webhook = email.strip(), webhook.strip()
        request: Request | None = None
        if bool(email) == bool(webhook):
            ways = ["email"] + (["webhook"] if self._cfg.webhooks else [])
            problems.append("give one of: " + ", ".join(ways))
        elif email:
            if self._cfg.email is None:
                problems.append("email: this page takes no email subscriptions")
            elif len(email) > 254 or _EMAIL.fullmatch(email) is None:
                problems.append("email: not an email address like name@example.com")
            else:
                local, _, domain = email.rpartition("@")
                request = Request("email", f"{local}@{domain.lower()}", ())
        elif not self._cfg.webhooks:
            problems.append("webhook: this page takes no webhook subscriptions")
        else:
            why = refusal(webhook, private=self._cfg.private_webhooks)
            if why is not None:
                problems.append(f"webhook: the URL {why}")
            else:
                request = Request("webhook", webhook, ())
        known = set(self._services)
        unknown = [s for s in dict.fromkeys(services) if s not in known]
        if unknown:
            shown = ", ".join(f'"{s[:60]}"' for s in unknown[:3])
            problems.append(f"service: no service called {shown} on this page")
        if problems or request is None:
            raise SignupError(problems)
        chosen = tuple(sorted(set(services)))
        return Request(request.kind, request.address, () if set(chosen) == known else chosen)

    async def subscribe(self, request: Request, client: str, lang: str | None = None) -> None:
        """Record ``request`` and queue its confirmation (see the module doc for the limits)."""
        now = self._clock.now()
        self._take_turn(client, now)
        asked = await self._ledger.write(
            lambda led: led.subscribers.ask(request.kind, request.address, request.services,
                                            now, AGAIN_AFTER))
        if not asked.mail:
            return
        self._sent.append(now)
        event = Event(f"subscription:{asked.ref}:{to_ms(now)}", "subscription", now,
                      f"Confirm your subscription to {self._site}", services=request.services,
                      data={"lang": lang} if lang else {})
        await self._outbox.publish_to(event, PREFIX + asked.ref)

    def _take_turn(self, client: str, now: datetime) -> None:
        since = now - _HOUR
        while self._sent and self._sent[0] <= since:
            self._sent.popleft()
        if len(self._sent) >= self._cfg.confirmations_per_hour:
            raise Limited("too many subscription requests right now; try again in an hour",
                          everyone=True)
        seen = self._clients.pop(client, None) or deque()
        while seen and seen[0] <= since:
            seen.popleft()
        if len(self._clients) >= _MAX_CLIENTS:
            del self._clients[next(iter(self._clients))]
        self._clients[client] = seen  # most recently seen last
        if len(seen) >= self._cfg.per_hour:
            raise Limited("too many subscription requests from your address; "
                          "try again in an hour")
        seen.append(now)

    async def confirm(self, token: str) -> Subscriber | None:
        """Confirm the request with ``token``; None when there is none (expired, or left)."""
        now = self._clock.now()
        return await self._ledger.write(lambda led: led.subscribers.confirm(token, now))

    async def unsubscribe(self, token: str) -> Subscriber | None:
        """Delete the subscriber with ``token``; None when there was none."""
        return await self._ledger.write(lambda led: led.subscribers.remove(token))
