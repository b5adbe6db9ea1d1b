"""What a target sent, matched against a pattern from probes.yaml, and quoted in a detail.

A pattern (``expect.body_regex``, ``expect.banner``, an ``expect.headers`` regex) runs with the
``regex`` engine and a time limit (:data:`REGEX_TIME_LIMIT_S`): a pattern that backtracks
without end fails its own check (:class:`PatternTooSlow`, reported as ``content``) instead of
stalling every other probe. A short text (a banner, a header) is searched on the event loop
first, with a limit of :data:`ON_LOOP_LIMIT_S`: nearly every search ends far sooner, and the
hop to a worker thread cost more than the search (measured with ``bench/probes.py --kind tcp
--banner``). Past that limit, or for a long text (a body), the search runs in a worker thread,
letting go of the GIL while it works. Patterns are searched, not anchored.
"""

from __future__ import annotations

import asyncio

import regex

__all__ = ["REGEX_TIME_LIMIT_S", "PatternTooSlow", "matches", "quote", "shorten"]

#: How long one search may take before the check fails as ``content``.
REGEX_TIME_LIMIT_S = 1.0
#: The longest text searched on the event loop first, and how long it may hold the loop.
ON_LOOP_CHARS = 4096
ON_LOOP_LIMIT_S = 0.002
#: Text quoted in a detail is cut to this many characters, ending in "…".
DETAIL_TEXT_MAX = 40


class PatternTooSlow(Exception):
    """The search took longer than :data:`REGEX_TIME_LIMIT_S`."""


async def matches(pattern: str, text: str) -> bool:
    """Whether ``pattern`` is found in ``text``; :class:`PatternTooSlow` past the time limit."""
    if len(text) <= ON_LOOP_CHARS:
        try:
            return regex.search(pattern, text, timeout=ON_LOOP_LIMIT_S) is not None
        except TimeoutError:
            pass  # a slow one: again, off the loop, with the whole limit
    try:
        return await asyncio.to_thread(_search, pattern, text)
    except TimeoutError:  # regex's own limit, not an asyncio timeout
        raise PatternTooSlow(pattern) from None


def _search(pattern: str, text: str) -> bool:
    return regex.search(pattern, text, timeout=REGEX_TIME_LIMIT_S, concurrent=True) is not None


def shorten(text: str) -> str:
    """``text`` cut to :data:`DETAIL_TEXT_MAX` characters."""
    return text if len(text) <= DETAIL_TEXT_MAX else text[: DETAIL_TEXT_MAX - 1] + "…"


def quote(text: str) -> str:
    """``text`` shortened and quoted printably: ``'220 mail ready\\r\\n'``."""
    return repr(shorten(text))
