"""The availability commitment of a service: ``sla:`` in probes.yaml (target, time zone and
the coverage of :mod:`monitor.config.coverage`)."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, BeforeValidator

from monitor.config.coverage import Coverage
from monitor.config.durations import invalid, show
from monitor.config.fields import MODEL_CONFIG, TimeZone

__all__ = ["SlaConfig"]


def _percent(value: object) -> object:
    if isinstance(value, str) and value.strip().endswith("%"):
        return value.strip()[:-1]
    return value


def _check_target(value: float) -> float:
    if not 0 < value <= 100:
        raise invalid(f"must be between 0 and 100, got {show(value)}")
    return value


class SlaConfig(BaseModel):
    """The availability commitment: ``target`` percent per calendar month in ``timezone``."""

    model_config = MODEL_CONFIG
    target: Annotated[float, BeforeValidator(_percent), AfterValidator(_check_target)] = 99.9
    timezone: TimeZone = "UTC"
    coverage: Coverage = Coverage()

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
