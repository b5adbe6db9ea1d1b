"""Notifications: the events upwatch announces, and the channels that carry them.

An :class:`Event` (a service's state changed, an incident got an update, maintenance started or
ended) is written to the ledger's outbox once per subscribed channel and delivered from there
by :class:`monitor.notify.outbox.Outbox`. A channel is anything with :class:`Channel`'s shape:
:mod:`~monitor.notify.webhook` (signed JSON), :mod:`~monitor.notify.slack`,
:mod:`~monitor.notify.email`. Delivery failures are :class:`DeliveryError`::

    DeliveryError          the channel did not take the message
      permanent=False      worth retrying (timeout, connection, 5xx, 408, 429)
      permanent=True       retrying cannot help (4xx, rejected recipient): dropped, logged
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from monitor.errors import UpwatchError
from monitor.times import iso_utc

__all__ = [
    "EVENT_KINDS",
    "Channel",
    "ChannelSetupError",
    "DeliveryError",
    "Event",
    "EventKind",
    "event_from_json",
]

EventKind = Literal["state", "incident", "maintenance", "location", "test", "subscription"]
#: What a configured channel can take; ``subscription`` (a subscriber's confirmation request)
#: only ever goes to that subscriber (:mod:`monitor.notify.subscribers`).
EVENT_KINDS: tuple[EventKind, ...] = ("state", "incident", "maintenance", "location", "test")


class DeliveryError(UpwatchError):
    """A channel did not take a message; ``permanent`` when retrying cannot help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class ChannelSetupError(UpwatchError):
    """A channel cannot be built (a secret's environment variable is unset, say); one problem
    per channel, joined with line breaks."""

    joiner = "\n"


@dataclass(frozen=True)
class Event:
    """One thing to announce. ``id`` is stable: the same happening always gets the same id."""

    id: str  # "state:api:29000000:down", "incident-update:17", "maintenance:cfg-m0:start"
    kind: EventKind
    at: datetime  # UTC
    title: str  # one line
    text: str = ""  # plain text (incident bodies are the Markdown as written)
    services: tuple[str, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind,
            "at": iso_utc(self.at),
            "title": self.title, "text": self.text, "services": list(self.services),
            "data": dict(self.data),
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), ensure_ascii=False, sort_keys=True)


def event_from_json(text: str) -> Event:
    """The event :meth:`Event.dumps` wrote."""
    raw = json.loads(text)
    at = datetime.strptime(raw["at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return Event(raw["id"], raw["kind"], at, raw["title"], raw["text"],
                 tuple(raw["services"]), raw["data"])


class Channel(Protocol):
    """Where notifications go. ``send`` raises :class:`DeliveryError` when not delivered."""

    @property
    def name(self) -> str: ...

    @property
    def events(self) -> frozenset[EventKind]: ...

    async def send(self, event: Event, idempotency_key: str) -> None: ...
