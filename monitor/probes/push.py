"""The push probe (``kind: push``): a heartbeat's check reads the pings that came, not the network.

``upwatch run`` keeps each push service's :class:`~monitor.core.pings.PingState` (its pings
arrive at ``/ping/<token>``: :mod:`monitor.run.pings`); on the service's ``interval`` the
scheduler asks this probe for a check like any other's, and :func:`~monitor.core.pings.judge`
gives it: up, ``missed_ping`` or ``job_failed``, or, before the service's first ping, nothing
(:class:`~monitor.core.checks.NoResultYet`: the minute stays *nodata*). A run's time (``/start``
to success) is the latency of the first check that sees it, and of no other.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from monitor.core.checks import CheckResult, NoResultYet
from monitor.core.clock import Clock
from monitor.core.pings import PingSpec, PingState, judge

__all__ = ["PushProbe", "PushSpec"]


class PushSpec(PingSpec, Protocol):
    @property
    def name(self) -> str: ...


class PushProbe:
    """Checks push services against ``states(name)``, their pings so far (None: none)."""

    def __init__(self, clock: Clock, location: str = "local",
                 states: Callable[[str], PingState | None] | None = None) -> None:
        self._clock = clock
        self._location = location
        self.states = states or (lambda name: None)
        self._timed: dict[str, datetime] = {}  # the success whose run time was reported

    async def check(self, service: PushSpec) -> CheckResult:
        now = self._clock.now()
        state = self.states(service.name)
        verdict = None if state is None else judge(service, state, now)
        if state is None or verdict is None:
            raise NoResultYet(f"service {service.name} has not pinged yet")
        latency = None
        if verdict.error is None and verdict.run_ms is not None and state.last_success is not None:
            if self._timed.get(service.name) != state.last_success:
                self._timed[service.name] = state.last_success
                latency = verdict.run_ms
        return CheckResult(service=service.name, time=now, ok=verdict.error is None,
                           latency_ms=latency, error=verdict.error, detail=verdict.detail,
                           location=self._location)
