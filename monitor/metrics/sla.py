"""Month-to-date SLA figures for Prometheus, computed off the scrape path.

:func:`compute_snapshot` is pure: config, runs, windows and ``now`` in, an :class:`SlaSnapshot`
out, each service's month taken in its SLA's time zone and counted up to the minute ``now`` falls
in (that minute excluded, as in ``upwatch report``). :func:`refresh_snapshot` gathers the inputs
with one ledger read through the writer; :class:`SlaCollector` turns the latest snapshot into
samples. A scrape never touches SQL: it only reads the snapshot the last refresh left.

Exported series (all ``service``-labelled except the timestamp):

- ``upwatch_sla_target_ratio`` — the target, 0..1;
- ``upwatch_sla_uptime_ratio`` — month-to-date uptime, 0..1 (absent while nothing is eligible);
- ``upwatch_sla_error_budget_remaining_ratio`` — remaining / budget, month to date: 1 untouched,
  0 used up, below 0 overspent (absent while the budget is 0);
- ``upwatch_sla_state_seconds{state}`` — month-to-date time by state (whole minutes x 60): up,
  degraded, down, maintenance, excluded, nodata, uncovered; they add up to the elapsed month;
- ``upwatch_maintenance_active`` — 1 while a maintenance window covers the current minute;
- ``upwatch_service_covered`` — 1 while the current instant is inside the SLA's coverage;
- ``upwatch_sla_snapshot_timestamp_seconds`` — when the snapshot was taken.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from monitor.config import Config, ServiceConfig
from monitor.core.clock import Clock
from monitor.core.coverage import is_covered, month_bounds
from monitor.core.minutes import Run
from monitor.core.sla import month_uptime
from monitor.core.windows import Window, effective_range
from monitor.metrics.chunks import PAUSE_EVERY, Key, gzip_member, pause
from monitor.metrics.exposition import (
    CachedFamily,
    FamilyText,
    encode,
    same_value,
)
from monitor.times import epoch_minute, minute_start
from monitor.windows.sources import WindowsFn

if TYPE_CHECKING:
    from monitor.store.ledger import Ledger
    from monitor.store.writer import LedgerWriter

__all__ = [
    "STATES",
    "ServiceSla",
    "SlaCollector",
    "SlaSnapshot",
    "StateMinutes",
    "compute_snapshot",
    "months_span",
    "refresh_snapshot",
    "service_sla",
]

#: The ``state`` label values of ``upwatch_sla_state_seconds``, in exposition order.
STATES = ("up", "degraded", "down", "maintenance", "excluded", "nodata", "uncovered")

#: Reads the windows overlapping ``[start, end)``; runs in the ledger writer's thread.


@dataclass(frozen=True, slots=True)
class StateMinutes:
    """Month-to-date minutes by state; they add up to the month's elapsed minutes."""

    up: int  # eligible and up (degraded not included)
    degraded: int
    down: int
    maintenance: int
    excluded: int
    nodata: int  # covered, no window, no data
    uncovered: int  # outside the SLA's coverage hours

    def items(self) -> tuple[tuple[str, int], ...]:
        return tuple((state, getattr(self, state)) for state in STATES)


@dataclass(frozen=True, slots=True)
class ServiceSla:
    """One service's SLA figures at one moment."""

    service: str
    month: str  # "2026-10": the calendar month in the SLA's time zone
    target_ratio: float
    uptime_ratio: float | None  # None while nothing is eligible
    budget_remaining_ratio: float | None  # None while the budget is 0
    minutes: StateMinutes
    maintenance_active: bool
    covered_now: bool


@dataclass(frozen=True, slots=True)
class SlaSnapshot:
    """Every configured service's SLA figures, as of ``taken_at`` (UTC)."""

    taken_at: datetime
    services: tuple[ServiceSla, ...]

    def service(self, name: str) -> ServiceSla:
        for s in self.services:
            if s.service == name:
                return s
        raise KeyError(name)


def _local_month(svc: ServiceConfig, now: datetime) -> tuple[int, int]:
    local = now.astimezone(svc.sla.tz)
    return local.year, local.month


def _maintenance_now(service: str, windows: Sequence[Window], minute: int) -> bool:
    for w in windows:
        if w.kind != "maintenance" or not w.applies_to(service):
            continue
        eff = effective_range(w)
        if eff is not None and eff[0] <= minute < eff[1]:
            return True
    return False


def service_sla(
    svc: ServiceConfig, runs: Sequence[Run], windows: Sequence[Window], now: datetime
) -> ServiceSla:
    """``svc``'s month to date as of ``now`` (the minute ``now`` falls in is not counted)."""
    year, month = _local_month(svc, now)
    minute = epoch_minute(now)
    u = month_uptime(service=svc.name, sla=svc.sla, year=year, month=month, runs=runs,
                     windows=windows, until=minute)
    minutes = StateMinutes(
        up=u.eligible_minutes - u.down_minutes - u.degraded_minutes,
        degraded=u.degraded_minutes,
        down=u.down_minutes,
        maintenance=u.maintenance_minutes,
        excluded=u.excluded_minutes,
        nodata=u.nodata_minutes,
        uncovered=u.total_minutes - u.covered_minutes,
    )
    return ServiceSla(
        service=svc.name,
        month=f"{year:04d}-{month:02d}",
        target_ratio=float(Decimal(repr(u.target_percent)) / 100),  # 0.999, not 0.999...01
        uptime_ratio=(
            (u.eligible_minutes - u.down_minutes) / u.eligible_minutes
            if u.eligible_minutes else None
        ),
        budget_remaining_ratio=(
            u.budget_remaining_minutes / u.budget_minutes if u.budget_minutes > 0 else None
        ),
        minutes=minutes,
        maintenance_active=_maintenance_now(svc.name, windows, minute),
        covered_now=is_covered(svc.sla.coverage, svc.sla.tz, now),
    )


def compute_snapshot(
    config: Config,
    runs_by_service: Mapping[str, Sequence[Run]],
    windows: Sequence[Window],
    now: datetime,
    *,
    between: Callable[[], None] | None = None,
) -> SlaSnapshot:
    """Month-to-date SLA figures of every configured service. Pure.

    ``runs_by_service`` must cover each service's month so far (a service missing from it has
    no data); ``windows`` are all maintenance windows and exclusions that may apply.
    ``between`` is called after every :data:`PAUSE_EVERY_SERVICES` services (a worker thread
    passes :func:`~monitor.metrics.chunks.pause`, to let the event loop have the GIL).
    """
    figures: list[ServiceSla] = []
    for i, svc in enumerate(config.services, 1):
        figures.append(service_sla(svc, runs_by_service.get(svc.name, ()), windows, now))
        if between is not None and i % PAUSE_EVERY_SERVICES == 0:
            between()
    return SlaSnapshot(taken_at=now, services=tuple(figures))


#: Services computed between two calls of ``compute_snapshot``'s ``between`` (~2-5 ms of work).
PAUSE_EVERY_SERVICES = 25


def months_span(config: Config, now: datetime) -> tuple[int, int]:
    """Epoch minutes from the earliest service-month start to the minute ``now`` falls in."""
    minute = epoch_minute(now)
    starts = [month_bounds(*_local_month(svc, now), svc.sla.tz)[0] for svc in config.services]
    lo = min(starts, default=minute)
    return min(lo, minute), minute


async def refresh_snapshot(
    config: Config, writer: LedgerWriter, windows_fn: WindowsFn, clock: Clock
) -> SlaSnapshot:
    """Read every service's month so far (``quorum_runs_many``: one query per location, folded
    by each service's quorum) and compute the snapshot.

    The ledger read and ``windows_fn`` run in the writer's thread; the arithmetic runs in a
    worker thread, so the event loop is not held up by thousands of services.
    """
    now = clock.now()
    lo, minute = months_span(config, now)
    names = list(config.service_names)
    start_dt, end_dt = minute_start(lo), minute_start(minute) + timedelta(minutes=1)

    def read(ledger: Ledger) -> tuple[dict[str, list[Run]], Sequence[Window]]:
        return (ledger.quorum_runs_many(config.quorum_plan(names), lo, minute),
                windows_fn(ledger, start_dt, end_dt))

    runs, windows = await writer.read(read)
    return await asyncio.to_thread(
        partial(compute_snapshot, config, runs, windows, now, between=pause))


_FAMILIES: tuple[tuple[str, str], ...] = (
    ("upwatch_sla_target_ratio", "The SLA's monthly uptime target, as a ratio (0.999 = 99.9 %)."),
    ("upwatch_sla_uptime_ratio",
     "Month-to-date uptime as a ratio; absent while no minute is eligible."),
    ("upwatch_sla_error_budget_remaining_ratio",
     "Month-to-date error budget left: 1 untouched, 0 used up, below 0 overspent; "
     "absent while the budget is 0."),
    ("upwatch_sla_state_seconds",
     "Month-to-date time in the SLA's time zone by state, in seconds (whole minutes)."),
    ("upwatch_maintenance_active", "1 while a maintenance window covers the current minute."),
    ("upwatch_service_covered", "1 while now is inside the SLA's coverage hours."),
    ("upwatch_sla_snapshot_timestamp_seconds",
     "When the SLA figures were last computed, in seconds since the epoch."),
)


def _families(snapshot: SlaSnapshot | None) -> list[Metric]:
    fams = {name: Metric(name, doc, "gauge") for name, doc in _FAMILIES}
    for name, series in _series(snapshot).items():
        fams[name].samples = [
            Sample(name, dict(zip(_LABELS[name], key, strict=True)), value)
            for key, value in series
        ]
    return list(fams.values())


#: Label names of each family's series.
_LABELS: dict[str, tuple[str, ...]] = {
    **{name: ("service",) for name, _ in _FAMILIES},
    "upwatch_sla_state_seconds": ("service", "state"),
    "upwatch_sla_snapshot_timestamp_seconds": (),
}


def _series(snapshot: SlaSnapshot | None) -> dict[str, list[tuple[Key, float]]]:
    """Each family's series as (label values, value), in exposition order."""
    out: dict[str, list[tuple[Key, float]]] = {name: [] for name, _ in _FAMILIES}
    if snapshot is None:
        return out
    target = out["upwatch_sla_target_ratio"]
    uptime = out["upwatch_sla_uptime_ratio"]
    budget = out["upwatch_sla_error_budget_remaining_ratio"]
    state = out["upwatch_sla_state_seconds"]
    maint = out["upwatch_maintenance_active"]
    covered = out["upwatch_service_covered"]
    for s in snapshot.services:
        key = (s.service,)
        target.append((key, s.target_ratio))
        if s.uptime_ratio is not None:
            uptime.append((key, s.uptime_ratio))
        if s.budget_remaining_ratio is not None:
            budget.append((key, s.budget_remaining_ratio))
        for name, minutes in s.minutes.items():
            state.append(((s.service, name), minutes * 60.0))
        maint.append((key, 1.0 if s.maintenance_active else 0.0))
        covered.append((key, 1.0 if s.covered_now else 0.0))
    out["upwatch_sla_snapshot_timestamp_seconds"].append(((), snapshot.taken_at.timestamp()))
    return out


class _Published:
    """One snapshot as exposed: each family's chunk texts and gzip members in both formats,
    its samples built only on demand."""

    def __init__(
        self,
        snapshot: SlaSnapshot | None,
        texts: dict[tuple[str, bool], tuple[bytes, ...]],
        members: dict[tuple[str, bool], tuple[bytes, ...]],
    ) -> None:
        self.snapshot = snapshot
        self.texts = texts
        self.members = members
        self._families: list[Metric] | None = None

    def samples(self, index: int) -> list[Sample]:
        if self._families is None:  # two callers racing here build the same samples
            self._families = _families(self.snapshot)
        return self._families[index].samples

    def metrics(self) -> list[CachedFamily]:
        return [
            CachedFamily(name, doc, "gauge",
                         lambda om, name=name: b"".join(self.texts[name, om]),  # type: ignore[misc]
                         lambda i=i: self.samples(i),  # type: ignore[misc]
                         lambda om, name=name: self.members[name, om])  # type: ignore[misc]
            for i, (name, doc) in enumerate(_FAMILIES)
        ]


_TARGET, _UPTIME, _BUDGET, _STATE, _MAINT, _COVERED, _TIMESTAMP = (n for n, _ in _FAMILIES)


def _optional(
    changed: dict[Key, float], key: Key, was: float | None, value: float | None
) -> bool:
    """Record ``value`` in ``changed`` if it differs from ``was``; whether the series stays
    (present before and now, or absent before and now)."""
    if value is not None and (was is None or not same_value(was, value)):
        changed[key] = value
    return (was is None) == (value is None)


def _changes(
    old: SlaSnapshot | None, new: SlaSnapshot
) -> tuple[dict[str, dict[Key, float]], bool]:
    """Per family, the series of ``new`` whose value differs from ``old`` (all of them with
    no ``old``); and whether each family still has the same series in the same order."""
    changed: dict[str, dict[Key, float]] = {name: {} for name, _ in _FAMILIES}
    changed[_TIMESTAMP][()] = new.taken_at.timestamp()
    target, uptime, budget, state = (changed[_TARGET], changed[_UPTIME], changed[_BUDGET],
                                     changed[_STATE])
    maint, covered = changed[_MAINT], changed[_COVERED]
    before = {} if old is None else {s.service: s for s in old.services}
    same_series = old is not None and [s.service for s in old.services] == [
        s.service for s in new.services]
    for n, s in enumerate(new.services, 1):
        if n % PAUSE_EVERY == 0:
            pause()
        b = before.get(s.service)
        if b == s:  # most services change at most once a minute, in few figures
            continue
        key = (s.service,)
        if b is None or not same_value(b.target_ratio, s.target_ratio):
            target[key] = s.target_ratio
        same_series = _optional(uptime, key, None if b is None else b.uptime_ratio,
                                s.uptime_ratio) and same_series
        same_series = _optional(budget, key, None if b is None else b.budget_remaining_ratio,
                                s.budget_remaining_ratio) and same_series
        if b is None or b.minutes != s.minutes:
            for name in STATES:
                minutes = getattr(s.minutes, name)
                if b is None or getattr(b.minutes, name) != minutes:
                    state[s.service, name] = minutes * 60.0
        if b is None or b.maintenance_active != s.maintenance_active:
            maint[key] = 1.0 if s.maintenance_active else 0.0
        if b is None or b.covered_now != s.covered_now:
            covered[key] = 1.0 if s.covered_now else 0.0
    return changed, same_series


class SlaCollector:
    """Exposes the latest :class:`SlaSnapshot`; registers itself on ``registry``.

    :meth:`update` diffs the new snapshot against the previous one service by service (most
    services' figures move by a minute at most between two refreshes, and only one state), and
    re-encodes and re-compresses only the chunks of series whose value changed
    (:class:`~monitor.metrics.exposition.FamilyText`), in both formats; every ``collect()`` until
    the next update hands out that text, so a scrape costs no arithmetic, no encoding, no
    compression and no SQL. Before the first update only empty families are exposed.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self._texts = {name: FamilyText(name, doc, "gauge", name, _LABELS[name])
                       for name, doc in _FAMILIES}
        self._update_lock = threading.Lock()
        #: The snapshot whose figures the cached lines hold (None: none yet).
        self._encoded: SlaSnapshot | None = None
        self._published = self._publish(None)
        registry.register(self)

    @property
    def snapshot(self) -> SlaSnapshot | None:
        return self._published.snapshot

    def _publish(self, snapshot: SlaSnapshot | None) -> _Published:
        texts, members = {}, {}
        for name, family in self._texts.items():
            for om in (False, True):
                texts[name, om] = family.texts(om)
                members[name, om] = family.members(om)
        return _Published(snapshot, texts, members)

    def update(self, snapshot: SlaSnapshot) -> None:
        """Publish ``snapshot``. CPU-bound for thousands of services, run in a worker thread
        (:meth:`refresh`): it pauses every few thousand series to let the event loop run."""
        with self._update_lock:
            if len({s.service for s in snapshot.services}) < len(snapshot.services):
                self._publish_duplicates(snapshot)  # a service twice: never from a valid config
                return
            changed, same_series = _changes(self._encoded, snapshot)
            series = None if same_series else _series(snapshot)
            for name, family in self._texts.items():
                keys = None if series is None else [k for k, _ in series[name]]
                family.update(changed[name], keys)
                pause()
            self._encoded = snapshot
            # one assignment: a scrape sees the old snapshot or the new one, never half
            self._published = self._publish(snapshot)

    def _publish_duplicates(self, snapshot: SlaSnapshot) -> None:
        """The library's text of a snapshot that names a service twice; the cached lines are
        dropped, so the next update encodes every series afresh."""
        texts: dict[tuple[str, bool], tuple[bytes, ...]] = {}
        members: dict[tuple[str, bool], tuple[bytes, ...]] = {}
        for family in _families(snapshot):
            for om in (False, True):
                text = encode([family], om)
                texts[family.name, om] = (text,)
                members[family.name, om] = (gzip_member(text),)
        for cached in self._texts.values():
            cached.update({}, [])
        self._encoded = None
        self._published = _Published(snapshot, texts, members)

    async def refresh(
        self, config: Config, writer: LedgerWriter, windows_fn: WindowsFn, clock: Clock
    ) -> SlaSnapshot:
        """:func:`refresh_snapshot`, then :meth:`update` in a worker thread; the new snapshot."""
        snapshot = await refresh_snapshot(config, writer, windows_fn, clock)
        await asyncio.to_thread(self.update, snapshot)
        return snapshot

    def describe(self) -> Iterable[Metric]:
        return _families(None)

    def collect(self) -> Iterator[Metric]:
        yield from self._published.metrics()
