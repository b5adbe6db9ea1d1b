"""Wiring status page subscriptions into ``upwatch run`` (``subscriptions:`` in probes.yaml).

:func:`subscription_parts` makes what the outbox needs to reach subscribers
(:class:`monitor.notify.subscribers.Subscribers`: the configured email channel's server, and
a session for webhooks that reaches public addresses only); :meth:`SubscriptionParts.serve`
then gives the web routes their desk, once the outbox exists. Read at start: a reload
does not change them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import aiohttp

from monitor.config import Config
from monitor.config.service import LANGUAGES
from monitor.config.subscriptions import subscribe_url
from monitor.core.clock import Clock
from monitor.notify import Channel
from monitor.notify.email import EmailChannel
from monitor.notify.outbox import LedgerAccess, Outbox
from monitor.notify.public_only import public_session
from monitor.notify.signup import SignupDesk
from monitor.notify.subscribers import Subscribers, links_of
from monitor.web.app import Runtime, SubscribeSite
from monitor.web.site import site_file

__all__ = ["SubscriptionParts", "subscription_parts"]


@dataclass
class SubscriptionParts:
    """Subscriptions in one ``upwatch run``."""

    config: Config
    subscribers: Subscribers
    session: aiohttp.ClientSession | None
    ledger: LedgerAccess
    clock: Clock

    def serve(self, runtime: Runtime, outbox: Outbox) -> None:
        """Give ``runtime`` what the web routes need (``make_app`` adds them then)."""
        runtime.signups = SignupDesk(self.config, self.ledger, outbox, self.clock)
        runtime.subscribe_site = self.site(runtime.site_dir, LANGUAGES)

    def site(self, site_dir: Path | None, languages: Sequence[str]) -> SubscribeSite:
        """What the web routes need: where they live and how to read the built page."""
        site = self.config.site
        url = self.subscribers.links.subscribe_url

        async def page(lang: str | None) -> bytes | None:
            if site_dir is None:
                return None
            name = ("subscribe.html" if lang in (None, site.language)
                    else f"subscribe.{lang}.html")
            found = await asyncio.to_thread(site_file, site_dir, name)
            return None if found is None else await asyncio.to_thread(found.read_bytes)

        base = site.url or urljoin(url, "./")
        return SubscribeSite(url, page, base if base.endswith("/") else base + "/",
                             tuple(languages))

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()


def subscription_parts(config: Config, ledger: LedgerAccess, clock: Clock,
                       channels: Sequence[Channel]) -> SubscriptionParts | None:
    """The parts, or None when probes.yaml has no ``subscriptions:``."""
    cfg = config.subscriptions
    url = subscribe_url(config.site)
    if cfg is None or url is None:
        return None
    email = next((c for c in channels if c.name == cfg.email), None)
    session = public_session(private=cfg.private_webhooks) if cfg.webhooks else None
    subscribers = Subscribers(
        ledger, links_of(config.site, url), clock,
        email=email if isinstance(email, EmailChannel) else None, session=session,
        private_webhooks=cfg.private_webhooks)
    return SubscriptionParts(config, subscribers, session, ledger, clock)

