"""A push service's ``schedule``: a cron expression, checked when the config is loaded.

Five fields (minute, hour, day of month, month, day of week), as crontab(5) writes them,
including ``*/15``, ranges, lists and names (``mon-fri``, ``jan``); evaluated by ``cronsim``
in the service's ``timezone`` (:func:`monitor.core.pings.due_run`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from cronsim import CronSim, CronSimError

from monitor.config.durations import invalid, show

__all__ = ["check_schedule"]

_SOME_TIME = datetime(2026, 1, 1, tzinfo=UTC)


def check_schedule(value: object) -> object:
    """A cron expression cronsim reads and that comes round at least once."""
    if value is None:
        return value
    if not isinstance(value, str) or not value.strip():
        raise invalid(f'expected a cron expression such as "0 3 * * *", got {show(value)}')
    text = " ".join(value.split())
    try:
        next(CronSim(text, _SOME_TIME))
    except (CronSimError, StopIteration) as err:
        raise invalid(f'invalid cron expression {show(value)}: {err or "it never comes round"} '
                      '(five fields: minute hour day-of-month month day-of-week, like '
                      '"0 3 * * *")') from None
    return text
