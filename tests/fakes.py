"""Stand-ins for what ``monitor.web.app.Runtime`` reads of a running monitor's scheduler and
ledger writer, for tests that serve /healthz, /metrics or the admin API without ``upwatch run``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Scheduler:
    """What /healthz reads of the probe scheduler."""

    running: bool = True
    inflight: int = 0
    lag_p99_ms: float | None = None

    def lag_quantile_ms(self, q: float) -> float | None:
        return self.lag_p99_ms


@dataclass
class Writer:
    """What /healthz reads of the ledger writer."""

    queued: int = 0
    last_commit_monotonic: float | None = None
    started_monotonic: float | None = None
    last_error: str | None = None
