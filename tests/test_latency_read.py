"""A whole day's blob summed in one unpack gives what summing it hour by hour gives."""

from __future__ import annotations

import math
import random

import pytest

from monitor.store.latency import HOUR_ENTRY, HourHistogram, blob_sums, bucket_value, pack_day


@pytest.mark.parametrize("hours", [0, 1, 7, 24], ids=lambda n: f"{n}-hours")
def test_a_day_summed_at_once_is_summed_hour_by_hour(hours: int) -> None:
    rng = random.Random(hours)
    entries = {h: tuple(rng.randrange(0, 2**31) for _ in range(6))
               for h in sorted(rng.sample(range(24), hours))}
    blob = pack_day(entries)
    count = p50 = p95 = 0
    for _hour, n, _mean, _max, a, b, _p99 in HOUR_ENTRY.iter_unpack(blob):
        count, p50, p95 = count + n, p50 + n * a, p95 + n * b
    assert blob_sums(blob) == (count, p50, p95)


def _nearest_rank(h: HourHistogram, q: float) -> float:
    """The percentile as one walk of the buckets per quantile takes it (the reference)."""
    if not h.count:
        return 0.0
    rank, seen = max(1, math.ceil(q * h.count)), 0
    for bucket, n in enumerate(h.buckets):
        seen += n
        if seen >= rank:
            return min(bucket_value(bucket), h.max_ms)
    return h.max_ms


@pytest.mark.parametrize("seed", range(40))
def test_several_percentiles_in_one_walk_are_each_ones_own(seed: int) -> None:
    rng = random.Random(seed)
    h = HourHistogram(hour=1)
    for _ in range(rng.choice([0, 1, 2, 3, 20, 500])):
        h.add(0, rng.choice([rng.uniform(0, 5), rng.lognormvariate(4, 1.5), 2e5]))
    qs = (0.5, 0.95, 0.99)
    assert h.percentiles(*qs) == tuple(_nearest_rank(h, q) for q in qs)
    assert all(h.percentile(q) == _nearest_rank(h, q) for q in (0.01, 0.5, 1.0))
