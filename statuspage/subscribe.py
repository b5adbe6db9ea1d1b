"""The subscribe page (``subscribe.html``, one per language), built when probes.yaml has
``subscriptions:``.

One page holds every state ``upwatch run`` answers with (:mod:`monitor.web.subscribe`): the
form, "check your inbox", the buttons that confirm and unsubscribe, and what came of them. The
element with ``data-show="form"`` says which part shows (plain CSS, no JavaScript); ``run``
fills in the state, the link's token (``__UPWATCH_TOKEN__``), a ``<base>`` so that the page's
relative links work under ``/subscribe/…`` (``<!--upwatch:base-->``) and the problems with a
request (``<!--upwatch:problems-->``). Served as a file, the page shows the form.
"""

from __future__ import annotations

from dataclasses import dataclass

from statuspage.chrome import Chrome, chrome
from statuspage.data import PageData
from statuspage.i18n import formatter

__all__ = ["SubscribeView", "subscribe_view"]


@dataclass(frozen=True)
class Choice:
    name: str
    title: str
    group: str


@dataclass(frozen=True)
class SubscribeView:
    chrome: Chrome
    action: str  # where the form posts: site.subscribe_url
    email: bool
    webhooks: bool
    services: tuple[Choice, ...]


def subscribe_view(data: PageData, lang: str) -> SubscribeView | None:
    """The page in ``lang``; None when the site takes no subscriptions."""
    sub = data.site.subscribe
    if sub is None:
        return None
    choices = tuple(Choice(s.name, s.title, s.group or "") for s in data.services)
    return SubscribeView(chrome(data, lang, "subscribe", formatter(lang)), sub.url, sub.email,
                         sub.webhooks, choices)

