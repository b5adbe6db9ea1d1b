"""Hourly latency statistics: a small fixed log-spaced histogram and its two ledger tables.

Bucket ``0`` holds latencies below 0.1 ms; bucket ``k`` (1..80) holds
``[0.1 · 2^((k-1)/4), 0.1 · 2^(k/4))`` ms, a quarter of an octave each; bucket 81 everything from
about 105 s up. A percentile is the geometric middle of the bucket holding its rank (nearest
rank), so it is within about ±9 % of the true value, and never above the exact maximum. Count,
mean and maximum are exact.

Each (service, location) has one open hour, kept whole in ``latency_open`` (histogram as a
blob) so a restart mid-hour loses nothing; when a later hour starts, the open one is reduced to
seven integers (:data:`HOUR_ENTRY`: the hour of the day, the count, then mean, max, p50, p95
and p99 in tenths of a millisecond) kept in its day's row of ``latency_days``: one row per
(service, location, UTC day), the day's closed hours in one blob, in hour order. (A row per
hour cost PostgreSQL about 100 bytes for 29 of data, its tuple header and index entry: three
quarters of its ledger.) The bucket layout and the entry are part of the on-disk format:
changing either needs a schema migration. Beside the blob, a day's row keeps its checks and
the sums its day-long points are made of (:data:`DAY_SUMS`, :func:`blob_sums`): a 90-day chart
of 1,000 services reads 90,000 days, and unpacking their blobs took 0.6 s when every hour has
checks. Only :class:`monitor.store.ledger.Ledger` (and the migrations,
:mod:`monitor.store.latency_upgrades`) calls the functions over a connection here.
:func:`read_series` reads them back for the status page's response-time charts: per service
and slot of ``per`` hours, the checks counted and their p50 and p95, each the hours' (and
locations') values weighted by their counts (a mean of percentiles, not the percentile of the
slot: close for a steady service, and cheap, since the ledger keeps no more).
"""

from __future__ import annotations

import math
import operator
import struct
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from monitor.store.database import Database

__all__ = ["BUCKETS", "DAY_SUMS", "EDGES", "HOUR_ENTRY", "HOUR_MS", "HourHistogram",
           "LatencyPoint", "LatencyWrites", "add_samples", "blob_sums", "bucket_of",
           "bucket_value", "load_open", "pack_day", "read_location_series", "read_recent",
           "read_series", "save_hours", "unpack_day"]

HOUR_MS = 3_600_000
BASE_MS = 0.1
STEPS_PER_OCTAVE = 4
EDGES: tuple[float, ...] = tuple(BASE_MS * 2 ** (k / STEPS_PER_OCTAVE) for k in range(81))
BUCKETS = len(EDGES) + 1
_BLOB = struct.Struct(f"<{BUCKETS}I")


def bucket_of(latency_ms: float) -> int:
    """The histogram bucket a latency falls in (negative latencies count as 0)."""
    return bisect_right(EDGES, latency_ms)


def bucket_value(bucket: int) -> float:
    """The value reported for a bucket: the geometric middle of its edges."""
    if bucket == 0:
        return BASE_MS / 2
    if bucket >= len(EDGES):
        return math.inf  # the overflow bucket reports the exact maximum (see ``percentile``)
    return math.sqrt(EDGES[bucket - 1] * EDGES[bucket])


@dataclass
class HourHistogram:
    """One (service, location)'s latencies in one UTC hour (``hour`` in epoch hours)."""

    hour: int
    count: int = 0
    sum_ms: float = 0.0
    max_ms: float = 0.0
    last_ms: int = -1  # time of the latest check counted (epoch ms)
    buckets: list[int] = field(default_factory=lambda: [0] * BUCKETS)

    def add(self, ts_ms: int, latency_ms: float) -> None:
        latency_ms = max(0.0, latency_ms)
        self.count += 1
        self.sum_ms += latency_ms
        self.max_ms = max(self.max_ms, latency_ms)
        self.last_ms = max(self.last_ms, ts_ms)
        self.buckets[bucket_of(latency_ms)] += 1

    @property
    def mean_ms(self) -> float:
        return self.sum_ms / self.count if self.count else 0.0

    def percentile(self, q: float) -> float:
        """Nearest-rank ``q``-quantile (0 < q ≤ 1) from the buckets, capped at the maximum."""
        return self.percentiles(q)[0]

    def percentiles(self, *qs: float) -> tuple[float, ...]:
        """:meth:`percentile` of each of ``qs`` (ascending), in one walk of the buckets: the
        status page reads two of every open hour at every build."""
        if not self.count:
            return tuple(0.0 for _ in qs)
        ranks = [max(1, math.ceil(q * self.count)) for q in qs]
        out: list[float] = []
        seen = 0
        for bucket, n in enumerate(self.buckets):
            seen += n
            while len(out) < len(ranks) and seen >= ranks[len(out)]:
                out.append(min(bucket_value(bucket), self.max_ms))
            if len(out) == len(ranks):
                break
        out += [self.max_ms] * (len(ranks) - len(out))
        return tuple(out)

    def blob(self) -> bytes:
        return _BLOB.pack(*self.buckets)

    @classmethod
    def restore(
        cls, hour: int, count: int, sum_ms: float, max_ms: float, last_ms: int, blob: bytes
    ) -> HourHistogram:
        return cls(hour, count, sum_ms, max_ms, last_ms, list(_BLOB.unpack(blob)))


_Key = tuple[int, int]  # (service_id, location_id)

#: One closed hour in a ``latency_days`` blob: hour of the day, count, mean, max, p50, p95,
#: p99 (tenths of a millisecond), little-endian.
HOUR_ENTRY = struct.Struct("<B6I")
#: A ``latency_days`` row's checks, Σ count · p50 and Σ count · p95 of its hours (in dms):
#: what a point of a day is made of, kept beside the blob (:func:`blob_sums` of it).
DAY_SUMS = ("count", "p50_sum", "p95_sum")
_DAY_COLUMNS = ("service_id", "location_id", "day", "hours", *DAY_SUMS)
_DAY_CONFLICT = ("ON CONFLICT (service_id, location_id, day) DO UPDATE SET hours = "
                 "excluded.hours, count = excluded.count, p50_sum = excluded.p50_sum, "
                 "p95_sum = excluded.p95_sum")
_OPEN_COLUMNS = ("service_id", "location_id", "hour", "count", "sum_ms", "max_ms", "last_ms",
                 "buckets")
_OPEN_CONFLICT = """ON CONFLICT (service_id, location_id) DO UPDATE SET hour = excluded.hour,
    count = excluded.count, sum_ms = excluded.sum_ms, max_ms = excluded.max_ms,
    last_ms = excluded.last_ms, buckets = excluded.buckets"""


def load_open(conn: Database) -> dict[_Key, HourHistogram]:
    rows = conn.execute(
        "SELECT service_id, location_id, hour, count, sum_ms, max_ms, last_ms, buckets "
        "FROM latency_open"
    )
    return {(s, loc): HourHistogram.restore(*rest) for s, loc, *rest in rows}


class LatencyWrites:
    """The latency rows one commit writes, saved together (:meth:`save`): one statement per
    table however many services the commit holds (a round trip each to a database server)."""

    def __init__(self) -> None:
        self.hours: list[tuple[int | float, ...]] = []
        self.open: dict[_Key, tuple[int | float | bytes, ...]] = {}

    def save(self, conn: Database) -> None:
        save_hours(conn, self.hours)
        conn.insert_many("latency_open", _OPEN_COLUMNS, list(self.open.values()), _OPEN_CONFLICT)


def add_samples(
    writes: LatencyWrites,
    key: _Key,
    hist: HourHistogram | None,
    samples: Iterable[tuple[int, float]],
) -> HourHistogram | None:
    """Count ``(ts_ms, latency_ms)`` samples (in time order) later than ``hist.last_ms``.

    Closes finished hours into ``latency_days`` and saves the open one, through ``writes``;
    returns the open one.
    """
    changed = False
    for ts, latency in samples:
        if not math.isfinite(latency) or (hist is not None and ts <= hist.last_ms):
            continue  # counted already, or history older than what was counted
        if hist is None or ts // HOUR_MS != hist.hour:
            if hist is not None:
                writes.hours.append((*key, *_row(hist)))
            hist = HourHistogram(ts // HOUR_MS)
        hist.add(ts, latency)
        changed = True
    if hist is not None and changed:
        writes.open[key] = (
            *key, hist.hour, hist.count, hist.sum_ms, hist.max_ms, hist.last_ms, hist.blob())
    return hist


def save_hours(conn: Database, hours: Sequence[Sequence[int | float]]) -> None:
    """Write closed hours, ``(service_id, location_id, hour, count, mean_dms, max_dms, p50_dms,
    p95_dms, p99_dms)`` each, into their days' rows: what those rows hold is read first (one
    query per location); an hour written again replaces its entry."""
    days: dict[tuple[int, int, int], dict[int, tuple[int, ...]]] = {}
    for sid, lid, hour, *values in hours:
        days.setdefault((int(sid), int(lid), int(hour) // 24), {})[int(hour) % 24] = tuple(
            round(v) for v in values)
    wanted: dict[int, list[tuple[int, int]]] = {}
    for sid, lid, day in days:
        wanted.setdefault(lid, []).append((sid, day))
    for lid, pairs in wanted.items():
        sids = sorted({sid for sid, _ in pairs})
        for sid, day, blob in conn.execute(
                "SELECT service_id, day, hours FROM latency_days WHERE location_id = ? AND day "
                f">= ? AND day <= ? AND {conn.one_of('service_id')}",
                (lid, min(d for _, d in pairs), max(d for _, d in pairs),
                 conn.list_param(sids))):
            entries = days.get((sid, lid, day))
            if entries is not None:
                for hour_of_day, *values in HOUR_ENTRY.iter_unpack(bytes(blob)):
                    entries.setdefault(hour_of_day, tuple(int(v) for v in values))
    if days:
        conn.insert_many("latency_days", _DAY_COLUMNS, [
            (sid, lid, day, blob, *blob_sums(blob))
            for (sid, lid, day), entries in days.items() for blob in (pack_day(entries),)],
            _DAY_CONFLICT)


def pack_day(entries: Mapping[int, Sequence[int]]) -> bytes:
    """A ``latency_days`` blob: hour of the day → (count, mean, max, p50, p95, p99 in dms)."""
    return b"".join(HOUR_ENTRY.pack(h, *entries[h]) for h in sorted(entries))


def unpack_day(day: int, blob: bytes) -> Iterator[tuple[int, ...]]:
    """``(hour, count, mean_dms, max_dms, p50_dms, p95_dms, p99_dms)`` of each hour in a
    ``latency_days`` blob (``hour`` in epoch hours)."""
    for hour_of_day, *values in HOUR_ENTRY.iter_unpack(bytes(blob)):
        yield (day * 24 + hour_of_day, *values)


def _row(hist: HourHistogram) -> tuple[int, ...]:
    """The compact row: latencies as integers in tenths of a millisecond."""
    return (
        hist.hour, hist.count, _dms(hist.mean_ms), _dms(hist.max_ms),
        *(_dms(p) for p in hist.percentiles(0.50, 0.95, 0.99)),
    )


def _dms(ms: float) -> int:
    return round(ms * 10)


class LatencyPoint(NamedTuple):
    """One slot of a service's response times: from epoch hour ``hour``, ``count`` checks.
    (A named tuple: a page of 1,000 services reads 90,000 of them, made in a third of the
    time a frozen dataclass takes.)"""

    hour: int
    count: int  # type: ignore[assignment]  # the field, not tuple.count: checks in the slot
    p50_ms: float
    p95_ms: float


def read_series(conn: Database, lo_hour: int, hi_hour: int,
                per: int = 1) -> dict[str, list[LatencyPoint]]:
    """Each service's points in ``[lo_hour, hi_hour)``, one per ``per`` hours that has checks,
    in time order; the open hours (``latency_open``) included."""
    series: dict[str, list[LatencyPoint]] = {}
    for (name, _), points in _read(conn, lo_hour, hi_hour, per, by_location=False).items():
        series[name] = points
    return series


def read_recent(conn: Database, now_hour: int
                ) -> tuple[dict[str, list[LatencyPoint]], dict[str, list[LatencyPoint]]]:
    """:func:`read_series` of the 24 hours to ``now_hour`` (included) by hour, and of today
    (UTC) up to it as one point, from one read: the same points as the two calls give.
    Today's hours are among the last 24, and a status page rebuilt every minute wants both."""
    first_today = now_hour // 24 * 24
    found, unsorted, opened = _sums(conn, now_hour - 23, now_hour + 1, 1, False)
    today: _Closed = {}
    for key, slots in found.items():
        sums = [0, 0, 0]
        for hour, (n, p50, p95) in slots.items():
            if hour >= first_today:
                sums[0] += n
                sums[1] += p50
                sums[2] += p95
        if sums[0]:
            today[key] = {now_hour // 24: sums}
    open_today = {key: kept for key, rows in opened.items()
                  if (kept := [row for row in rows if row[0] >= first_today])}
    return ({name: points for (name, _), points in _points(found, unsorted, opened, 1).items()},
            {name: points for (name, _), points in _points(today, set(), open_today, 24).items()})


def read_location_series(conn: Database, lo_hour: int, hi_hour: int,
                         per: int = 1) -> dict[str, dict[str, list[LatencyPoint]]]:
    """:func:`read_series` of each location apart: service → location name → points."""
    series: dict[str, dict[str, list[LatencyPoint]]] = {}
    for (name, location), points in _read(conn, lo_hour, hi_hour, per, by_location=True).items():
        series.setdefault(name, {})[location] = points
    return series


#: ``struct.Struct`` of a blob of ``k`` hours, by ``k`` (made when first needed).
_WHOLE_DAY: dict[int, struct.Struct] = {}


def blob_sums(blob: bytes) -> tuple[int, int, int]:
    """A ``latency_days`` blob's checks, Σ count · p50 and Σ count · p95 (in dms), unpacked in
    one call rather than hour by hour: its row's :data:`DAY_SUMS`."""
    k = len(blob) // HOUR_ENTRY.size
    whole = _WHOLE_DAY.get(k)
    if whole is None:
        whole = _WHOLE_DAY[k] = struct.Struct("<" + "B6I" * k)
    values = whole.unpack(blob)
    counts = values[1::7]
    return (sum(counts), sum(map(operator.mul, counts, values[4::7])),
            sum(map(operator.mul, counts, values[5::7])))


#: Per series, by (service, location name) or (service, "") over all locations: the closed
#: hours' sums by slot ([checks, Σ count · p50, Σ count · p95] in dms, in time order unless the
#: series is among the unsorted), and the open hours as (hour, checks, Σ p50, Σ p95 in ms), in
#: the order read.
_Closed = dict[tuple[str, str], dict[int, list[int]]]
_Open = dict[tuple[str, str], list[tuple[int, int, float, float]]]


def _read(conn: Database, lo_hour: int, hi_hour: int, per: int,
          by_location: bool) -> dict[tuple[str, str], list[LatencyPoint]]:
    """Points by (service, location name), or by (service, "") over all locations."""
    return _points(*_sums(conn, lo_hour, hi_hour, per, by_location), per)


def _sums(conn: Database, lo_hour: int, hi_hour: int, per: int,
          by_location: bool) -> tuple[_Closed, set[tuple[str, str]], _Open]:
    """What :func:`_points` makes points of (see :data:`_Closed`).

    The rows come ordered by service (and location), then day, so each series' slots are
    summed in time order as they come, without sorting every slot of every service (90,000
    for the 90-day charts of 1,000 services)."""
    where = ("JOIN locations l ON l.id = {t}.location_id" if by_location else "")
    loc = "l.name" if by_location else "''"
    # per series: slot → [checks, Σ count · p50, Σ count · p95] of the closed hours (in dms)
    found: _Closed = {}
    unsorted: set[tuple[str, str]] = set()  # a slot came after a later one (several locations)
    current: tuple[str, str] | None = None  # the series the rows are of
    slots: dict[int, list[int]] = {}
    last = -1
    # a day wholly in the range, by day: its row's sums, not its blob
    hours, params = "d.hours", [lo_hour // 24, (hi_hour + 23) // 24]
    if per == 24:
        hours = "CASE WHEN d.day >= ? AND d.day < ? THEN NULL ELSE d.hours END"
        params = [(lo_hour + 23) // 24, hi_hour // 24, *params]
    for name, location, day, blob, n_day, p50_day, p95_day in conn.execute(
            f"SELECT s.name, {loc}, d.day, {hours}, d.count, d.p50_sum, d.p95_sum "
            f"FROM latency_days d JOIN services s ON s.id = d.service_id "
            f"{where.format(t='d')} WHERE d.day >= ? AND d.day < ? "
            f"ORDER BY 1, {'2, ' if by_location else ''}3", params):
        if current is None or name != current[0] or location != current[1]:
            current = (name, location)
            slots = found.setdefault(current, {})
            last = max(slots, default=-1)
        base = day * 24
        if blob is None:  # a whole day: one slot
            adding = slots.get(day)
            if adding is None:
                slots[day] = [n_day, p50_day, p95_day]
                if day < last:
                    unsorted.add(current)
                last = max(last, day)
            else:
                adding[0] += n_day
                adding[1] += p50_day
                adding[2] += p95_day
            continue
        for h, n, _mean, _max, p50, p95, _p99 in HOUR_ENTRY.iter_unpack(bytes(blob)):
            hour = base + h
            if not lo_hour <= hour < hi_hour:
                continue
            slot = hour // per
            adding = slots.get(slot)
            if adding is None:
                slots[slot] = [n, n * p50, n * p95]
                if slot < last:
                    unsorted.add(current)
                last = max(last, slot)
            else:
                adding[0] += n
                adding[1] += n * p50
                adding[2] += n * p95
    # the open hours (in ms), added in the order read to their slot's closed sums, in ms
    opened: _Open = {}
    for name, location, hour, count, sum_ms, max_ms, last_ms, blob in conn.execute(
            f"SELECT s.name, {loc}, o.hour, o.count, o.sum_ms, o.max_ms, o.last_ms, o.buckets "
            f"FROM latency_open o JOIN services s ON s.id = o.service_id {where.format(t='o')} "
            "WHERE o.hour >= ? AND o.hour < ? AND o.count > 0", (lo_hour, hi_hour)):
        hist = HourHistogram.restore(int(hour), int(count), float(sum_ms), float(max_ms),
                                     int(last_ms), bytes(blob))
        p50, p95 = hist.percentiles(0.50, 0.95)
        opened.setdefault((name, location), []).append(
            (int(hour), hist.count, hist.count * p50, hist.count * p95))
    return found, unsorted, opened


def _points(found: _Closed, unsorted: set[tuple[str, str]], opened: _Open,
            per: int) -> dict[tuple[str, str], list[LatencyPoint]]:
    """Each series' points, one per slot of ``per`` hours with checks, in time order."""
    series: dict[tuple[str, str], list[LatencyPoint]] = {}
    for key in sorted(found.keys() | opened.keys()):
        closed = found.get(key, {})
        in_order = sorted(closed.items()) if key in unsorted else closed.items()
        extra = opened.get(key)
        if extra is None:
            points = [LatencyPoint(slot * per, n, p50_dms / 10 / n, p95_dms / 10 / n)
                      for slot, (n, p50_dms, p95_dms) in in_order if n]
        else:
            rows = [[slot, n, p50_dms / 10, p95_dms / 10]  # dms → ms
                    for slot, (n, p50_dms, p95_dms) in in_order]
            for hour, n, p50_ms, p95_ms in extra:
                slot = hour // per
                i = bisect_left(rows, slot, key=operator.itemgetter(0))
                if i == len(rows) or rows[i][0] != slot:
                    rows.insert(i, [slot, 0, 0.0, 0.0])
                rows[i][1] += n
                rows[i][2] += p50_ms
                rows[i][3] += p95_ms
            points = [LatencyPoint(int(slot) * per, int(n), p50 / n, p95 / n)
                      for slot, n, p50, p95 in rows if n]
        if points:
            series[key] = points
    return series
