"""Windows: the audit rule, cancellation, recurring windows across DST, windows from config."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.config import Config, ExclusionConfig, MaintenanceWindowConfig, ServiceConfig
from monitor.core.windows import Window, effective_range, expand_recurring, windows_from_config
from monitor.times import epoch_minute


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, sec: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, sec, tzinfo=UTC)


def m(*args: int) -> int:
    return epoch_minute(utc(*args))


TEN, NOON = utc(2026, 10, 10, 10), utc(2026, 10, 10, 12)


def window(kind: str = "maintenance", *, start: datetime = TEN, end: datetime = NOON,
           declared_at: datetime | None = None, cancelled_at: datetime | None = None) -> Window:
    return Window(id="7", kind=kind,  # type: ignore[arg-type]
                  services=("api",), start=start, end=end, title="t", declared_at=declared_at,
                  declared_by="api:ops", cancelled_at=cancelled_at)


@pytest.mark.parametrize(
    ("w", "expected"),
    [
        (window(), (m(2026, 10, 10, 10), m(2026, 10, 10, 12))),
        (window(declared_at=utc(2026, 10, 9)), (m(2026, 10, 10, 10), m(2026, 10, 10, 12))),
        (window(declared_at=utc(2026, 10, 10, 10, 17, 20)),
         (m(2026, 10, 10, 10, 18), m(2026, 10, 10, 12))),
        (window(declared_at=utc(2026, 10, 10, 10, 17)),
         (m(2026, 10, 10, 10, 17), m(2026, 10, 10, 12))),
        (window(declared_at=utc(2026, 10, 10, 12)), None),
        (window(cancelled_at=utc(2026, 10, 10, 11, 0, 1)),
         (m(2026, 10, 10, 10), m(2026, 10, 10, 11, 1))),
        (window(cancelled_at=utc(2026, 10, 10, 9)), None),
        (window(cancelled_at=utc(2026, 10, 10, 13)), (m(2026, 10, 10, 10), m(2026, 10, 10, 12))),
        (window(declared_at=utc(2026, 10, 10, 11), cancelled_at=utc(2026, 10, 10, 11, 30)),
         (m(2026, 10, 10, 11), m(2026, 10, 10, 11, 30))),
        (window("exclusion", declared_at=utc(2026, 10, 20)),
         (m(2026, 10, 10, 10), m(2026, 10, 10, 12))),
        (window("exclusion", declared_at=utc(2026, 10, 20), cancelled_at=utc(2026, 10, 21)),
         None),
        (window(start=utc(2026, 10, 10, 10, 0, 30), end=utc(2026, 10, 10, 11, 0, 30)),
         (m(2026, 10, 10, 10, 1), m(2026, 10, 10, 11, 1))),
        (window(start=utc(2026, 10, 10, 10, 0, 10), end=utc(2026, 10, 10, 10, 0, 50)), None),
    ],
    ids=["plain", "declared-before-start", "declared-after-start-ceil-minute",
         "declared-after-start-on-the-minute", "declared-after-end", "cancelled-midway-ceil",
         "cancelled-before-start", "cancelled-after-end", "late-and-cancelled",
         "exclusion-declared-later-counts-in-full", "exclusion-cancelled-counts-not-at-all",
         "seconds-boundaries", "shorter-than-any-minute-start"],
)
def test_effective_range(w: Window, expected: tuple[int, int] | None) -> None:
    assert effective_range(w) == expected


def test_applies_to() -> None:
    w = window()
    assert w.applies_to("api")
    assert not w.applies_to("web")


WEEKLY_SUN_2 = "FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0"
WEEKLY_SUN_1 = "FREQ=WEEKLY;BYDAY=SU;BYHOUR=1;BYMINUTE=0"
WEEKLY_SUN_0230 = "FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=30"
CPH, LON = "Europe/Copenhagen", "Europe/London"


@pytest.mark.parametrize(
    ("tz", "rule", "start", "end", "starts"),
    [
        (CPH, WEEKLY_SUN_2, utc(2026, 3, 1), utc(2026, 4, 6),
         [utc(2026, 3, 1, 1), utc(2026, 3, 8, 1), utc(2026, 3, 15, 1), utc(2026, 3, 22, 1),
          utc(2026, 3, 29, 1),  # 02:00 does not exist: moved forward to 03:00 CEST
          utc(2026, 4, 5, 0)]),
        (CPH, WEEKLY_SUN_2, utc(2026, 10, 1), utc(2026, 11, 2),
         [utc(2026, 10, 4, 0), utc(2026, 10, 11, 0), utc(2026, 10, 18, 0),
          utc(2026, 10, 25, 0),  # 02:00 happens twice: the first (CEST) one
          utc(2026, 11, 1, 1)]),
        (CPH, WEEKLY_SUN_0230, utc(2026, 3, 29), utc(2026, 3, 30), [utc(2026, 3, 29, 1, 30)]),
        (CPH, WEEKLY_SUN_0230, utc(2026, 10, 25), utc(2026, 10, 26), [utc(2026, 10, 25, 0, 30)]),
        (LON, WEEKLY_SUN_1, utc(2026, 3, 22), utc(2026, 4, 6),
         [utc(2026, 3, 22, 1), utc(2026, 3, 29, 1), utc(2026, 4, 5, 0)]),
        (LON, WEEKLY_SUN_1, utc(2026, 10, 18), utc(2026, 11, 2),
         [utc(2026, 10, 18, 0), utc(2026, 10, 25, 0), utc(2026, 11, 1, 1)]),
        (LON, WEEKLY_SUN_2, utc(2026, 3, 29), utc(2026, 3, 30), [utc(2026, 3, 29, 1)]),
        (LON, WEEKLY_SUN_2, utc(2026, 10, 25), utc(2026, 10, 26), [utc(2026, 10, 25, 2)]),
        (CPH, "FREQ=WEEKLY", utc(2026, 10, 1), utc(2026, 10, 13),
         [utc(2026, 10, 4, 22), utc(2026, 10, 11, 22)]),  # anchored on a Monday, 00:00 local
        (CPH, "FREQ=DAILY;BYHOUR=23;BYMINUTE=59;BYSECOND=30", utc(2026, 10, 2), utc(2026, 10, 3),
         [utc(2026, 10, 2, 21, 59)]),
        (CPH, "DTSTART;TZID=Europe/London:20261004T010000\nRRULE:FREQ=WEEKLY;COUNT=2",
         utc(2026, 10, 1), utc(2026, 11, 1), [utc(2026, 10, 4, 0), utc(2026, 10, 11, 0)]),
        (CPH, "FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;UNTIL=20261011T000000Z", utc(2026, 10, 1),
         utc(2026, 11, 1), [utc(2026, 10, 4, 0), utc(2026, 10, 11, 0)]),  # UNTIL is included
    ],
    ids=["cph-spring-skip-hour", "cph-autumn-repeat-hour", "cph-0230-in-gap-to-0330-cest",
         "cph-0230-twice-takes-cest", "lon-0100-spring-gap", "lon-0100-autumn-repeat",
         "lon-0200-spring-exists", "lon-0200-autumn-gmt", "no-dtstart-monday-midnight",
         "seconds-dropped", "dtstart-with-tzid", "until-in-utc-included"],
)
def test_expand_recurring_across_dst(tz: str, rule: str, start: datetime, end: datetime,
                                     starts: list[datetime]) -> None:
    cfg = MaintenanceWindowConfig(services=("api",), title="Patch", rrule=rule,
                                  duration=timedelta(hours=2), timezone=tz)
    got = expand_recurring(cfg, start, end, id_prefix="cfg-m3")
    assert [w.start for w in got] == starts
    assert all(w.end - w.start == timedelta(hours=2) for w in got)
    assert all(w.kind == "maintenance" and w.declared_at is None for w in got)
    assert all(w.declared_by == "probes.yaml" and w.title == "Patch" for w in got)


def test_recurring_duration_is_elapsed_and_ids_are_stable() -> None:
    cfg = MaintenanceWindowConfig(services=("api", "web"), title="Patch", rrule=WEEKLY_SUN_2,
                                  duration=timedelta(hours=2), timezone=CPH)
    (w,) = expand_recurring(cfg, utc(2026, 10, 25), utc(2026, 10, 26), id_prefix="cfg-m0")
    assert w.id == "cfg-m0@2026-10-25T00:00:00Z"
    assert w.end == utc(2026, 10, 25, 2)  # 03:00 CET: 120 minutes after 02:00 CEST
    assert w.services == ("api", "web")
    whole_month = expand_recurring(cfg, utc(2026, 10, 1), utc(2026, 11, 1), id_prefix="cfg-m0")
    assert w in whole_month


def test_recurring_overlap_with_the_period() -> None:
    cfg = MaintenanceWindowConfig(services=("api",), title="Patch", rrule=WEEKLY_SUN_2,
                                  duration=timedelta(hours=2), timezone=CPH)
    # the occurrence 00:00Z-02:00Z on 4 Oct overlaps a period starting at 01:59Z ...
    assert len(expand_recurring(cfg, utc(2026, 10, 4, 1, 59), utc(2026, 10, 5), id_prefix="r"))
    # ... but not one starting at its end, nor one ending at its start
    assert not expand_recurring(cfg, utc(2026, 10, 4, 2), utc(2026, 10, 5), id_prefix="r")
    assert not expand_recurring(cfg, utc(2026, 10, 3), utc(2026, 10, 4), id_prefix="r")


def test_recurring_from_configured_start() -> None:
    cfg = MaintenanceWindowConfig(services=("api",), title="Patch", start=utc(2026, 10, 4, 1),
                                  rrule="FREQ=WEEKLY;INTERVAL=2", duration=timedelta(hours=1),
                                  timezone=CPH)
    got = expand_recurring(cfg, utc(2026, 9, 1), utc(2026, 11, 10), id_prefix="r")
    # every other Sunday at 03:00 local, from the configured start on; CET from November
    assert [w.start for w in got] == [utc(2026, 10, 4, 1), utc(2026, 10, 18, 1),
                                      utc(2026, 11, 1, 2)]


def test_windows_from_config() -> None:
    cfg = Config(
        services=(ServiceConfig(name="api", url="http://127.0.0.1:9/"),
                  ServiceConfig(name="web", url="http://127.0.0.1:9/")),
        maintenance=(
            MaintenanceWindowConfig(services=("api",), title="DB upgrade",
                                    start=utc(2026, 10, 10, 2), end=utc(2026, 10, 10, 4)),
            MaintenanceWindowConfig(services=("web",), title="Weekly", rrule=WEEKLY_SUN_2,
                                    duration=timedelta(hours=1), timezone=CPH),
            MaintenanceWindowConfig(services=("api",), title="Last year",
                                    start=utc(2025, 10, 10, 2), end=utc(2025, 10, 10, 4)),
        ),
        exclusions=(
            ExclusionConfig(services=("api", "web"), start=utc(2026, 10, 12, 9),
                            end=utc(2026, 10, 12, 10), reason="DNS provider outage",
                            declared_at=utc(2026, 10, 13, 8)),
        ),
    )
    got = windows_from_config(cfg, utc(2026, 10, 1), utc(2026, 10, 15))
    assert [(w.id, w.kind, w.services, w.title) for w in got] == [
        ("cfg-m0", "maintenance", ("api",), "DB upgrade"),
        ("cfg-m1@2026-10-04T00:00:00Z", "maintenance", ("web",), "Weekly"),
        ("cfg-m1@2026-10-11T00:00:00Z", "maintenance", ("web",), "Weekly"),
        ("cfg-x0", "exclusion", ("api", "web"), "DNS provider outage"),
    ]
    assert got[0].start == utc(2026, 10, 10, 2) and got[0].end == utc(2026, 10, 10, 4)
    assert got[0].declared_at is None and got[0].declared_by == "probes.yaml"
    assert got[3].declared_at == utc(2026, 10, 13, 8)
