"""One check of any kind: an attempt, then more at once while it fails."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from monitor.core.checks import CheckResult
from monitor.core.clock import Clock

__all__ = ["with_retries"]


async def with_retries(attempt: Callable[[datetime], Awaitable[CheckResult]], retries: int,
                       clock: Clock) -> CheckResult:
    """``attempt(started)``, and up to ``retries`` more at once while it fails.

    ``time`` is when the first attempt started (each attempt is given it); everything else
    describes the last one.
    """
    started = clock.now()
    result = await attempt(started)
    for _ in range(max(retries, 0)):
        if result.ok:
            break
        result = await attempt(started)
    return result
