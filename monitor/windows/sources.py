"""Where the maintenance windows and exclusions in force come from: ``probes.yaml`` and the
ledger (declared with the CLI or the admin API). A :data:`WindowsFn` asks both for a span.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from monitor.config import Config
from monitor.core.windows import Window, windows_from_config
from monitor.store.ledger import Ledger
from monitor.store.windows import DeclaredWindow

__all__ = ["WindowsFn", "config_windows", "declared_windows", "with_declared"]

#: The windows overlapping ``[start, end)``, given the ledger to read declared ones from.
WindowsFn = Callable[[Ledger, datetime, datetime], Sequence[Window]]


def declared_windows(
    ledger: Ledger, start: datetime | None = None, end: datetime | None = None
) -> list[DeclaredWindow]:
    """Every declared window (both kinds, cancelled included) overlapping ``[start, end)``.

    A bound left out is open. Ready for ``build_reports(extra_windows=...)``:
    ``effective_range`` applies the audit rule and the cancellations.
    """
    return ledger.windows(start=start, end=end)


def config_windows(config: Config) -> WindowsFn:
    """A :data:`WindowsFn` for the windows ``probes.yaml`` declares (the ledger is not asked)."""

    def windows(_ledger: Ledger, start: datetime, end: datetime) -> Sequence[Window]:
        return windows_from_config(config, start, end)

    return windows


def with_declared(windows_fn: WindowsFn) -> WindowsFn:
    """``windows_fn``'s windows plus the declared ones."""

    def both(ledger: Ledger, start: datetime, end: datetime) -> Sequence[Window]:
        return [*windows_fn(ledger, start, end), *declared_windows(ledger, start, end)]

    return both
