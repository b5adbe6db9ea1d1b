"""``upwatch run`` on a clock that runs SPEED times faster than the wall clock.

The replica tests start this as their ``upwatch run`` so that minutes — which incidents are
counted in — pass in seconds: ``python tests/replica.py SPEED EPOCH CONFIG DB SITE``, listening
on a free loopback port that it logs as ``upwatch run`` does. Replicas given the same EPOCH (a
Unix time) share one sped-up clock. Everything else is the real thing:
the process, its ledger, leader election, the outbox, signals; ``kill -9`` ends it as it ends
``upwatch run``.
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.config import db_target
from monitor.logs import setup_logging
from monitor.run.pages import SitePlan
from monitor.run.runner import RunOptions, serve


class SpeedClock:
    """The wall clock from ``epoch`` on, ``speed`` times faster; durations stay real."""

    def __init__(self, speed: float, epoch: float) -> None:
        self.speed = speed
        self.epoch = epoch
        self.start = datetime.fromtimestamp(epoch, UTC)

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.time() - self.epoch) * self.speed)

    def monotonic(self) -> float:
        return time.monotonic()


def main() -> int:
    speed, epoch, config, db, site = sys.argv[1:6]
    setup_logging("text")
    opts = RunOptions(config_path=Path(config), db_path=db_target(db), port=0,
                      site=SitePlan(Path(site)))
    return asyncio.run(serve(opts, clock=SpeedClock(float(speed), float(epoch))))


if __name__ == "__main__":
    sys.exit(main())
