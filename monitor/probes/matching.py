"""What a target sent, matched against a pattern from probes.yaml, and quoted in a detail.

A pattern (``expect.body_regex``, ``expect.banner``) runs in a worker thread with the ``regex``
engine and a time limit (:data:`REGEX_TIME_LIMIT_S`), letting go of the GIL while it works: a
pattern that backtracks without end fails its own check (:class:`PatternTooSlow`, reported as
``content``) instead of stalling every other probe. Patterns are searched, not anchored.
"""

from __future__ import annotations

import asyncio

import regex

__all__ = ["REGEX_TIME_LIMIT_S", "PatternTooSlow", "matches", "quote", "shorten"]

#: How long one search may take before the check fails as ``content``.
REGEX_TIME_LIMIT_S = 1.0
#: Text quoted in a detail is cut to this many characters, ending in "…".
DETAIL_TEXT_MAX = 40


class PatternTooSlow(Exception):
    """The search took longer than :data:`REGEX_TIME_LIMIT_S`."""


async def matches(pattern: str, text: str) -> bool:
    """Whether ``pattern`` is found in ``text``; :class:`PatternTooSlow` past the time limit."""
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
