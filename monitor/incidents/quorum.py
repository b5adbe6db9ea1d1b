"""Incidents open on the quorum's state, not on one location's: the detector is fed, for each
result from any location, the state a quorum of locations gives the service right then.

Each location's latest result stands for it while it is younger than two of the service's
intervals (the carry-forward of the minute rules); after that the location is nodata. With
the service's locations' states, :func:`monitor.core.quorum.minute_state` gives the state the
detector sees for the result's minute (it takes the worst it is given within a minute). So one
location seeing an outage opens nothing, two of three do; and a silent location never opens
an incident. With one location this is the result's own state, as before.

Results older than two intervals when they arrive (a prober's spool draining after an outage)
go to the ledger and the report, not to the detector: an incident is about now.
"""

from __future__ import annotations

from datetime import datetime

from monitor.config import Config, ServiceConfig
from monitor.core.checks import CheckResult, State
from monitor.core.clock import Clock
from monitor.core.quorum import minute_state
from monitor.incidents.desk import IncidentDesk

__all__ = ["QuorumFeed"]


class QuorumFeed:
    """Sits between the results (local checks, pushed ones) and :class:`IncidentDesk`."""

    def __init__(self, desk: IncidentDesk, config: Config, clock: Clock) -> None:
        self._desk, self._clock = desk, clock
        self._latest: dict[tuple[str, str], tuple[datetime, State]] = {}
        self.reconfigure(config)

    def reconfigure(self, config: Config) -> None:
        """Each service's locations (with their titles) and quorum, looked up once here: the
        hook runs for every check, and the config's lookups are not free."""
        titles = {name: config.location_config(name).title for name in config.location_names}
        self._plans = {name: (tuple((loc, titles[loc]) for loc in locations), quorum)
                       for name, (locations, quorum)
                       in config.quorum_plan(config.service_names).items()}

    def on_result(self, service: ServiceConfig, result: CheckResult, state: State) -> None:
        """The scheduler's hook (and the central's, for pushed results)."""
        plan = self._plans.get(service.name)
        if plan is None or len(plan[0]) == 1:
            self._desk.on_result(service, result, state)
            return
        locations, quorum_of_service = plan
        fresh = 2 * service.interval
        key = (service.name, result.location)
        known = self._latest.get(key)
        if known is None or result.time >= known[0]:
            self._latest[key] = (result.time, state)
        if self._clock.now() - result.time >= fresh:
            return  # late: for the ledger, not for the detector
        counts = {State.DOWN: 0, State.DEGRADED: 0, State.NODATA: 0}
        seen_by: dict[State, list[str]] = {}
        for location, title in locations:
            latest = self._latest.get((service.name, location))
            # a location stands for the minute while its latest result is fresh (either way
            # of this one: a location's result may arrive after a later one of another)
            if latest is None or abs(result.time - latest[0]) >= fresh:
                seen = State.NODATA
            else:
                seen = latest[1]
            if seen in counts:
                counts[seen] += 1
            seen_by.setdefault(seen, []).append(title)
        quorum = minute_state(counts[State.DOWN], counts[State.DEGRADED], counts[State.NODATA],
                              quorum_of_service)
        self._desk.on_result(service, result, quorum, where=self._where(seen_by))

    @staticmethod
    def _where(seen_by: dict[State, list[str]]) -> str:
        """"down from Madrid and Frankfurt; up from Copenhagen", worst first (incident texts
        are English, as the detector writes them)."""
        words = ((State.DOWN, "down"), (State.DEGRADED, "degraded"), (State.NODATA, "no data"),
                 (State.UP, "up"))
        return "; ".join(f"{word} from {_and(seen_by[state])}" for state, word in words
                         if state in seen_by)


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
