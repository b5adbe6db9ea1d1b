"""Status page subscribers as outbox channels: who gets an event, and how it reaches them.

Each confirmed subscriber is a channel of its own, ``subscriber:<ref>``
(:mod:`monitor.store.subscribers`), so the outbox's rules hold for them as for the configured
channels: one row per event and subscriber (never sent twice), retried with backoff, silenced
by maintenance like the rest. :meth:`Subscribers.rows_for` fans an ``incident`` or
``maintenance`` event out to the subscribers following one of its services (an event about no
particular service: to all). A ``subscription`` event is a confirmation request and goes to its
one subscriber. The address is looked up when the message is sent, so a subscriber who left
meanwhile gets nothing (the row is dropped as "unsubscribed").

Email goes through the configured email channel's server and sender
(:meth:`~monitor.notify.email.EmailChannel.send_message`), with the unsubscribe link in the
text and in ``List-Unsubscribe`` (one click, RFC 8058). A webhook subscriber gets the event's
JSON with an ``unsubscribe_url`` (a confirmation request: a ``confirm_url``), POSTed through a
session that reaches only public addresses unless ``private_webhooks`` allows more
(:mod:`monitor.notify.public_only`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol, TypeVar

import aiohttp

from monitor.config import Config
from monitor.config.service import SiteConfig
from monitor.config.subscriptions import subscribe_url
from monitor.core.clock import Clock
from monitor.notify import DeliveryError, Event, EventKind
from monitor.notify.email import EmailChannel, event_lines, new_message
from monitor.notify.public_only import refusal
from monitor.notify.webhook import post_json
from monitor.store.incidents import OutboxRow
from monitor.store.ledger import Ledger
from monitor.store.subscribers import Subscriber

__all__ = ["PREFIX", "SUBSCRIBER_EVENTS", "Links", "Subscribers", "links_of", "queueing"]

T = TypeVar("T")


class _Reader(Protocol):
    """What :class:`Subscribers` needs of the ledger access (``LedgerWriter``, ``DirectLedger``)."""

    async def read(self, fn: Callable[[Ledger], T]) -> T: ...

PREFIX = "subscriber:"
#: What subscribers are sent, besides their own confirmation request.
SUBSCRIBER_EVENTS: frozenset[EventKind] = frozenset(("incident", "maintenance"))


@dataclass(frozen=True)
class Links:
    """Where a subscriber's links lead: ``subscribe_url`` + ``/confirm/<token>`` and
    ``/unsubscribe/<token>``; ``site_url`` is the status page (None when unknown)."""

    title: str
    subscribe_url: str
    site_url: str | None = None

    def confirm(self, token: str, lang: str | None = None) -> str:
        return f"{self.subscribe_url}/confirm/{token}" + (f"?lang={lang}" if lang else "")

    def unsubscribe(self, token: str) -> str:
        return f"{self.subscribe_url}/unsubscribe/{token}"


def links_of(site: SiteConfig, subscribe_url: str) -> Links:
    return Links(site.title, subscribe_url, site.url)


def queueing(config: Config, ledger: _Reader, clock: Clock) -> Subscribers | None:
    """Subscribers for an outbox that only queues (the CLI's): ``upwatch run`` delivers.
    None without ``subscriptions:``."""
    url = subscribe_url(config.site)
    if config.subscriptions is None or url is None:
        return None
    return Subscribers(ledger, links_of(config.site, url), clock)


class Subscribers:
    """Rows for subscribers, and the channel each ``subscriber:<ref>`` row is sent through."""

    def __init__(self, ledger: _Reader, links: Links, clock: Clock, *,
                 email: EmailChannel | None = None,
                 session: aiohttp.ClientSession | None = None, private_webhooks: bool = False,
                 timeout: float = 10.0) -> None:
        self._ledger, self.links, self._clock = ledger, links, clock
        self._email, self._session, self._timeout = email, session, timeout
        self._private = private_webhooks

    @staticmethod
    def rows_for(ledger: Ledger, event: Event, dropped: str | None) -> list[OutboxRow]:
        """One row per confirmed subscriber following the event (in the ledger's thread)."""
        if event.kind not in SUBSCRIBER_EVENTS:
            return []
        payload = event.dumps()
        return [OutboxRow(event.id, PREFIX + s.ref, event.kind, payload, dropped)
                for s in ledger.subscribers.following(event.services)]

    def channel(self, name: str) -> _SubscriberChannel | None:
        """The channel of row channel ``name``, if it is a subscriber's."""
        if not name.startswith(PREFIX):
            return None
        return _SubscriberChannel(name, self)

    async def send(self, ref: str, event: Event, idempotency_key: str) -> None:
        found = await self._ledger.read(lambda led: led.subscribers.by_ref(ref))
        if found is None:
            raise DeliveryError("unsubscribed", permanent=True)
        if event.kind != "subscription" and not found.confirmed:
            raise DeliveryError("the subscription was never confirmed", permanent=True)
        if found.kind == "email":
            if self._email is None:
                raise DeliveryError("subscriptions.email is no longer configured", permanent=True)
            msg = self.message(found, event, idempotency_key)
            await self._email.send_message(msg, [found.address])
            return
        if self._session is None:
            raise DeliveryError("webhook subscriptions are no longer allowed", permanent=True)
        refused = refusal(found.address, private=self._private)
        if refused is not None:
            raise DeliveryError(f"the webhook URL {refused}", permanent=True)
        body = json.dumps(self.webhook_body(found, event), ensure_ascii=False,
                          sort_keys=True).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8",
                   "Idempotency-Key": idempotency_key, "X-Upwatch-Event": event.kind}
        await post_json(self._session, found.address, body, headers, self._timeout)

    def webhook_body(self, sub: Subscriber, event: Event) -> dict[str, object]:
        body = event.to_json()
        if event.kind == "subscription":
            body["confirm_url"] = self.links.confirm(sub.token)
        body["unsubscribe_url"] = self.links.unsubscribe(sub.token)
        return body

    def message(self, sub: Subscriber, event: Event, idempotency_key: str) -> EmailMessage:
        """The mail ``sub`` gets for ``event``: plain text, links at the end."""
        assert self._email is not None
        links = self.links
        unsubscribe = links.unsubscribe(sub.token)
        confirming = event.kind == "subscription"
        subject = (f"Confirm your subscription to {links.title}" if confirming
                   else f"[{links.title}] {event.title}")
        msg = new_message(event, subject, self._email.sender, [sub.address], idempotency_key,
                          self._clock)
        msg["Auto-Submitted"] = "auto-generated"
        if confirming:
            lines = _confirmation(links, sub, event)
        else:
            msg["List-Unsubscribe"] = f"<{unsubscribe}>"
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
            lines = [*event_lines(event), ""]
            if links.site_url:
                lines.append(f"Status page: {links.site_url}")
            lines.append(f"Unsubscribe: {unsubscribe}")
        msg.set_content("\n".join(lines) + "\n")
        return msg


def _confirmation(links: Links, sub: Subscriber, event: Event) -> list[str]:
    lang = event.data.get("lang")
    which = ", ".join(event.services) if event.services else "all services"
    return [
        f"Someone, hopefully you, asked to receive the incident and maintenance updates of "
        f"{links.title} at this address, for: {which}.",
        "",
        "To confirm, open this link and press the button:",
        links.confirm(sub.token, lang if isinstance(lang, str) else None),
        "",
        "If it was not you, ignore this message: without a confirmation the request is "
        "deleted within 48 hours and nothing more is sent.",
    ]


class _SubscriberChannel:
    """The :class:`~monitor.notify.Channel` of one ``subscriber:<ref>`` outbox row."""

    events: frozenset[EventKind] = frozenset((*SUBSCRIBER_EVENTS, "subscription"))

    def __init__(self, name: str, subscribers: Subscribers) -> None:
        self.name, self._subscribers = name, subscribers

    async def send(self, event: Event, idempotency_key: str) -> None:
        await self._subscribers.send(self.name.removeprefix(PREFIX), event, idempotency_key)
