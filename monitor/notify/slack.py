"""A Slack-compatible incoming webhook: ``{"text": …, "blocks": […]}``.

``text`` is the plain fallback (notifications, clients without blocks); ``blocks`` hold the
title, the text and a context line (kind, services, time). Text from people is escaped the way
Slack asks (``&``, ``<``, ``>``), so a body cannot mention ``<!channel>`` or hide a link; the
incident Markdown's ``**bold**`` becomes Slack's ``*bold*`` and ``[text](https://…)`` a Slack
link. Answers are classified as for the generic webhook (:func:`~monitor.notify.webhook
.post_json`): 2xx delivered; 408, 429, 5xx and network errors retried; other 4xx permanent.
"""

from __future__ import annotations

import json
import re
from datetime import UTC
from typing import Any

import aiohttp

from monitor.notify import EVENT_KINDS, Event, EventKind
from monitor.notify.webhook import post_json

__all__ = ["SlackChannel", "escape", "mrkdwn", "slack_payload"]

SECTION_LIMIT = 3000  # Slack's limit for a section's text
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_LINK = re.compile(r"\[([^\]\n]+)\]\(((?:https?://|mailto:)[^\s)|]+)\)")


def escape(text: str) -> str:
    """Slack's escaping: ``&``, ``<`` and ``>`` as entities (control sequences stay text)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mrkdwn(markdown: str) -> str:
    """The incident Markdown subset as Slack mrkdwn: escaped, bold and safe links kept."""
    text = escape(markdown)
    text = _LINK.sub(lambda m: f"<{m.group(2)}|{m.group(1)}>", text)
    return _BOLD.sub(r"*\1*", text)


def _clip(text: str, limit: int = SECTION_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_payload(event: Event) -> dict[str, Any]:
    """The JSON body posted for ``event``."""
    when = event.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    context = [event.kind, when]
    if event.services:
        context.insert(1, ", ".join(event.services))
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _clip(f"*{escape(event.title)}*")}},
    ]
    if event.text:
        blocks.append({"type": "section",
                       "text": {"type": "mrkdwn", "text": _clip(mrkdwn(event.text))}})
    blocks.append({"type": "context",
                   "elements": [{"type": "mrkdwn", "text": escape(" · ".join(context))}]})
    fallback = escape(event.title + (f": {event.text}" if event.text else ""))
    return {"text": _clip(fallback), "blocks": blocks}


class SlackChannel:
    """Posts each event to a Slack-compatible incoming webhook URL."""

    def __init__(self, name: str, url: str, session: aiohttp.ClientSession, *,
                 events: frozenset[EventKind] = frozenset(EVENT_KINDS),
                 timeout: float = 10.0) -> None:
        self.name, self._url, self._session = name, url, session
        self.events, self._timeout = events, timeout

    async def send(self, event: Event, idempotency_key: str) -> None:
        body = json.dumps(slack_payload(event), ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8",
                   "Idempotency-Key": idempotency_key}
        await post_json(self._session, self._url, body, headers, self._timeout)
