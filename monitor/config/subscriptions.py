"""``subscriptions:`` in probes.yaml: visitors of the status page subscribe to its updates.

A visitor gives an email address (double opt-in: a confirmation link goes out through the
email channel named by ``email``) or, with ``webhooks: true``, a webhook URL (confirmed the same
way: the confirmation is the first thing POSTed to it). What subscribers get, and every limit
on asking, is :mod:`monitor.subscribe`'s. The links in those messages are built on
``site.subscribe_url`` (default: ``site.url`` + ``subscribe``), so one of the two is required.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated
from urllib.parse import urljoin

from pydantic import AfterValidator, BaseModel, Field, model_validator

from monitor.config.durations import invalid
from monitor.config.fields import MODEL_CONFIG
from monitor.config.incident import EmailChannelConfig, NotificationChannelConfig
from monitor.config.service import Name, SiteConfig

__all__ = ["SubscriptionsConfig", "subscribe_url", "subscription_problems"]

Loc = tuple[str | int, ...]


def _positive(value: int) -> int:
    if value < 1:
        raise invalid(f"must be at least 1, got {value}")
    return value


Positive = Annotated[int, AfterValidator(_positive)]


class SubscriptionsConfig(BaseModel):
    """Who may subscribe, how, and how often they may ask."""

    model_config = MODEL_CONFIG
    #: The email channel (under ``notifications:``) whose SMTP server and ``from`` send
    #: subscribers' mail; None: no email subscriptions.
    email: Name | None = None
    #: Visitors may subscribe a webhook URL.
    webhooks: bool = False
    #: Webhook URLs may lead to loopback, private or link-local addresses (an intranet page).
    private_webhooks: bool = False
    #: Subscription requests from one client address per hour (kept in memory only).
    per_hour: Annotated[Positive, Field(strict=True)] = 10
    #: Confirmation messages sent per hour in all: a bound on what a flood of requests costs.
    confirmations_per_hour: Annotated[Positive, Field(strict=True)] = 200

    @model_validator(mode="after")
    def _some_way(self) -> SubscriptionsConfig:
        if self.email is None and not self.webhooks:
            raise invalid("names no way to subscribe: set email (an email channel's name) "
                          "or webhooks: true")
        return self


def subscribe_url(site: SiteConfig) -> str | None:
    """Where the page's subscribe form posts, and the base of confirm/unsubscribe links."""
    if site.subscribe_url is not None:
        return site.subscribe_url.rstrip("/")
    if site.url is not None:
        return urljoin(site.url if site.url.endswith("/") else site.url + "/", "subscribe")
    return None


def subscription_problems(subscriptions: SubscriptionsConfig | None, site: SiteConfig,
                          channels: Sequence[NotificationChannelConfig]) -> list[tuple[Loc, str]]:
    """What ``subscriptions:`` needs from the rest of the file."""
    if subscriptions is None:
        return []
    problems: list[tuple[Loc, str]] = []
    if subscribe_url(site) is None:
        problems.append((("subscriptions",),
                         "needs site.url or site.subscribe_url: the links in confirmation "
                         "messages point there"))
    name = subscriptions.email
    if name is not None:
        found = next((c for c in channels if c.name == name), None)
        if not isinstance(found, EmailChannelConfig):
            emails = [c.name for c in channels if isinstance(c, EmailChannelConfig)]
            what = "no channel" if found is None else f"a {found.kind} channel"
            listed = ", ".join(emails) if emails else "none is configured"
            problems.append((("subscriptions", "email"),
                             f'"{name}" is {what}; it must name an email '
                             f"channel under notifications: (email channels: {listed})"))
    return problems
