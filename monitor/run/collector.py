"""The garbage collector as a long-running monitor (or a big build or import) wants it.

Thousands of services' config, folds and metric series live as long as the run; left in the
collector's generations, every full collection scans them all. :func:`tune_collector` freezes
what is alive once start-up is done (out of every later scan) and raises the first threshold,
so that the few hundred short-lived objects a check or a pushed line leaves die before a
collection looks at them. :func:`restore_collector` undoes it.

Measured: bench/probes.py at 20,000 services, the collector took 60-75 % of the monitor's CPU
with full collections of 0.3-1.6 s stalling the loop, and under 10 % with this; bench/ingest.py
(PostgreSQL), a central taking 22,800-23,700 pushed results a second with it against
18,000-19,100 without, in interleaved runs; bench/page.py, 1,000 services, collections took
2.5-3 s of a build from nothing with the defaults and 0.9-1.2 s with this; ``upwatch import``
of 150,000 lines, 6.0-6.6 CPU-s with the defaults and 5.0-5.4 with this.
``upwatch build-page`` and ``upwatch import`` tune it for the length of their work
(:func:`tuned_collector`).

A status page build makes hardly any reference cycles (six objects, for 1,000 services), yet
its tens of thousands of new objects per hundred services drew collections that scanned them
again and again: 0.43-0.49 s of a 1,000-service build from nothing, 35-120 ms of each
minute's rebuild. A build runs with the collector paused (:func:`paused_collector`); a process
that builds again and again collects after each build, once the page is published.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["GC_THRESHOLD0", "paused_collector", "restore_collector", "tune_collector",
           "tuned_collector"]

#: The collector's first threshold while running (CPython's default is 700).
GC_THRESHOLD0 = 20_000


def tune_collector() -> tuple[int, int, int]:
    """Collect, freeze what is alive, raise the first threshold; the thresholds before."""
    before = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD0, *before[1:])
    return before


def restore_collector(before: tuple[int, int, int]) -> None:
    """Undo :func:`tune_collector`: unfreeze, and the thresholds ``before``."""
    gc.unfreeze()
    gc.set_threshold(*before)


@contextmanager
def tuned_collector() -> Iterator[None]:
    """The collector tuned for the length of the block (a command's work), then put back.
    One at a time in a process: putting it back unfreezes every object, an outer tuning's
    too."""
    before = tune_collector()
    try:
        yield
    finally:
        restore_collector(before)


@contextmanager
def paused_collector() -> Iterator[None]:
    """No automatic collection during the block; the collector as it was after (nested
    blocks leave it paused until the outermost ends). Objects freed by their reference count
    are freed as ever: only reference cycles wait for the next collection."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
