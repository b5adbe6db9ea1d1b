"""A whole day's blob summed in one unpack gives what summing it hour by hour gives."""

from __future__ import annotations

import random

import pytest

from monitor.store.latency import HOUR_ENTRY, _day_sums, pack_day


@pytest.mark.parametrize("hours", [0, 1, 7, 24], ids=lambda n: f"{n}-hours")
def test_a_day_summed_at_once_is_summed_hour_by_hour(hours: int) -> None:
    rng = random.Random(hours)
    entries = {h: tuple(rng.randrange(0, 2**31) for _ in range(6))
               for h in sorted(rng.sample(range(24), hours))}
    blob = pack_day(entries)
    count = p50 = p95 = 0
    for _hour, n, _mean, _max, a, b, _p99 in HOUR_ENTRY.iter_unpack(blob):
        count, p50, p95 = count + n, p50 + n * a, p95 + n * b
    assert _day_sums(blob) == (count, p50, p95)
