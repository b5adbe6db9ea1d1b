"""Coverage calendars: month lengths, business hours, seasons, holidays, closed dates, DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from monitor.config import Coverage, CoverageRule, DateRange
from monitor.core.coverage import covered_ranges, day_hours, holiday_dates, is_covered, month_bounds
from monitor.core.intervals import total
from monitor.times import epoch_minute, minute_start

CPH = ZoneInfo("Europe/Copenhagen")
LON = ZoneInfo("Europe/London")
MAD = ZoneInfo("Europe/Madrid")
UTCZ = ZoneInfo("UTC")
WEEKDAYS = frozenset(range(5))


def rule(days: frozenset[int], hours: tuple[int, int], dates: str | None = None) -> CoverageRule:
    h0, h1 = hours
    rng = None
    if dates is not None:
        (m0, d0), (m1, d1) = (map(int, part.split("-")) for part in dates.split(".."))
        rng = DateRange(start=(m0, d0), end=(m1, d1))
    return CoverageRule(days=days, start_minute=h0, end_minute=h1, dates=rng)


def hours(
    *rules: CoverageRule, holidays: tuple[str, ...] = (), closed: tuple[date, ...] = ()
) -> Coverage:
    return Coverage(always=False, rules=rules, holidays=holidays, closed=closed)


ALWAYS = Coverage()
OFFICE_CPH = hours(rule(WEEKDAYS, (9 * 60, 17 * 60)), holidays=("DK",))
OFFICE_LON = hours(rule(WEEKDAYS, (9 * 60, 18 * 60)), holidays=("GB-ENG",))
# The Spanish seed: 09-18 on weekdays; 08-15 in July-August and on 5 Jan, 24 Dec and 31 Dec.
SPAIN = hours(
    rule(WEEKDAYS, (9 * 60, 18 * 60)),
    rule(WEEKDAYS, (8 * 60, 15 * 60), "07-01..08-31"),
    rule(WEEKDAYS, (8 * 60, 15 * 60), "01-05..01-05"),
    rule(WEEKDAYS, (8 * 60, 15 * 60), "12-24..12-24"),
    rule(WEEKDAYS, (8 * 60, 15 * 60), "12-31..12-31"),
)
# A season that wraps the year end, with short hours the rest of the year.
WINTER = hours(rule(WEEKDAYS, (0, 1440), "12-15..01-15"), rule(WEEKDAYS, (60, 120)))
CLOSED_XMAS_EVE = Coverage(closed=(date(2026, 12, 24),))


def test_epoch_minute_and_minute_start() -> None:
    t = datetime(2026, 10, 25, 0, 59, 59, 999_999, tzinfo=UTC)
    m = epoch_minute(t)
    assert minute_start(m) == datetime(2026, 10, 25, 0, 59, tzinfo=UTC)
    assert epoch_minute(t.astimezone(CPH)) == m
    assert epoch_minute(datetime(1969, 12, 31, 23, 59, 30, tzinfo=UTC)) == -1
    with pytest.raises(ValueError, match="timezone-aware"):
        epoch_minute(datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("tz", "year", "month", "minutes"),
    [
        (UTCZ, 2026, 10, 44_640),
        (CPH, 2026, 10, 44_700),
        (CPH, 2026, 3, 44_580),
        (LON, 2026, 10, 44_700),
        (LON, 2026, 3, 44_580),
        (CPH, 2026, 7, 44_640),
        (UTCZ, 2028, 2, 41_760),
        (CPH, 2028, 2, 41_760),
        (CPH, 2026, 12, 44_640),
    ],
    ids=["utc-oct", "cph-oct-autumn", "cph-mar-spring", "lon-oct-autumn", "lon-mar-spring",
         "cph-july", "utc-leap-feb", "cph-leap-feb", "cph-december-to-january"],
)
def test_month_bounds(tz: ZoneInfo, year: int, month: int, minutes: int) -> None:
    start, end = month_bounds(year, month, tz)
    assert end - start == minutes
    assert minute_start(start) == datetime(year, month, 1, tzinfo=tz)


@pytest.mark.parametrize(
    ("coverage", "tz", "year", "month", "covered"),
    [
        (ALWAYS, CPH, 2026, 10, 44_700),
        (ALWAYS, CPH, 2026, 3, 44_580),
        (OFFICE_CPH, CPH, 2026, 4, 19 * 480),  # 22 weekdays - Maundy Thu, Good Fri, Easter Mon
        (OFFICE_CPH, CPH, 2026, 10, 22 * 480),
        (OFFICE_CPH, CPH, 2026, 5, 19 * 480),  # Ascension Day 14th, Whit Monday 25th
        (OFFICE_LON, LON, 2026, 5, 19 * 540),  # May Day 4th, Spring bank holiday 25th
        (OFFICE_LON, LON, 2026, 3, 22 * 540),
        (SPAIN, MAD, 2026, 6, 22 * 540),
        (SPAIN, MAD, 2026, 7, 23 * 420),  # summer hours replace normal hours
        (SPAIN, MAD, 2026, 12, 21 * 540 + 2 * 420),  # 24th and 31st are short days
        (Coverage(holidays=("DK",)), CPH, 2026, 4, 26 * 1440),  # not 2, 3, 5, 6 April
        (hours(rule(frozenset(range(7)), (0, 1440))), CPH, 2028, 2, 41_760),
        (hours(rule(WEEKDAYS, (9 * 60, 17 * 60)), closed=(date(2026, 10, 2),
                                                          date(2026, 10, 3))),
         CPH, 2026, 10, 21 * 480),  # the 3rd is a Saturday anyway
    ],
    ids=["24x7-autumn", "24x7-spring", "dk-easter-april", "dk-october", "dk-may",
         "gb-eng-may-bank-holidays", "gb-eng-march", "spain-june", "spain-july-summer",
         "spain-december-short-days", "24x7-minus-holidays", "every-day-leap-feb",
         "closed-dates"],
)
def test_covered_minutes_per_month(coverage: Coverage, tz: ZoneInfo, year: int, month: int,
                                   covered: int) -> None:
    start, end = month_bounds(year, month, tz)
    ranges = covered_ranges(coverage, tz, start, end)
    assert total(ranges) == covered
    assert all(start <= lo < hi <= end for lo, hi in ranges)


def _at(tz: ZoneInfo, y: int, mo: int, d: int, h: int = 0, mi: int = 0, sec: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, sec, tzinfo=tz)


@pytest.mark.parametrize(
    ("coverage", "tz", "when", "expected"),
    [
        (OFFICE_CPH, CPH, _at(CPH, 2026, 10, 1, 8, 59), False),
        (OFFICE_CPH, CPH, _at(CPH, 2026, 10, 1, 9, 0), True),
        (OFFICE_CPH, CPH, _at(CPH, 2026, 10, 1, 16, 59), True),
        (OFFICE_CPH, CPH, _at(CPH, 2026, 10, 1, 16, 59, 59), True),
        (OFFICE_CPH, CPH, _at(CPH, 2026, 10, 1, 17, 0), False),
        (OFFICE_CPH, CPH, _at(CPH, 2026, 10, 3, 12, 0), False),
        (OFFICE_CPH, CPH, _at(CPH, 2026, 4, 3, 12, 0), False),
        (OFFICE_CPH, CPH, datetime(2026, 10, 1, 7, 0, tzinfo=UTC), True),  # 09:00 CEST
        (OFFICE_CPH, CPH, datetime(2026, 10, 1, 15, 0, tzinfo=UTC), False),  # 17:00 CEST
        (OFFICE_CPH, CPH, datetime(2026, 11, 2, 16, 0, tzinfo=UTC), False),  # 17:00 CET
        (OFFICE_CPH, CPH, datetime(2026, 11, 2, 15, 59, tzinfo=UTC), True),  # 16:59 CET
        (SPAIN, MAD, _at(MAD, 2026, 6, 30, 8, 30), False),
        (SPAIN, MAD, _at(MAD, 2026, 6, 30, 17, 30), True),
        (SPAIN, MAD, _at(MAD, 2026, 7, 1, 8, 30), True),
        (SPAIN, MAD, _at(MAD, 2026, 7, 1, 15, 0), False),
        (SPAIN, MAD, _at(MAD, 2026, 7, 4, 10, 0), False),
        (SPAIN, MAD, _at(MAD, 2026, 8, 31, 14, 59), True),
        (SPAIN, MAD, _at(MAD, 2026, 9, 1, 8, 30), False),
        (SPAIN, MAD, _at(MAD, 2026, 12, 24, 16, 0), False),
        (SPAIN, MAD, _at(MAD, 2026, 12, 23, 16, 0), True),
        (SPAIN, MAD, _at(MAD, 2027, 1, 5, 8, 0), True),
        (WINTER, CPH, _at(CPH, 2027, 1, 15, 12), True),
        (WINTER, CPH, _at(CPH, 2027, 1, 18, 12), False),
        (WINTER, CPH, _at(CPH, 2027, 1, 18, 1, 30), True),
        (CLOSED_XMAS_EVE, CPH, _at(CPH, 2026, 12, 24, 0, 0), False),
        (CLOSED_XMAS_EVE, CPH, _at(CPH, 2026, 12, 23, 23, 59), True),
    ],
    ids=["cph-0859-not", "cph-0900-yes", "cph-1659-yes", "cph-16:59:59-yes", "cph-1700-not",
         "cph-saturday", "cph-good-friday", "utc-0700-is-0900-cest", "utc-1500-is-1700-cest",
         "utc-1600-is-1700-cet", "utc-1559-is-1659-cet",
         "es-june-0830-not", "es-june-1730-yes", "es-july-0830-yes", "es-july-1500-not",
         "es-july-saturday", "es-aug-31-last-summer-day", "es-september-back-to-normal",
         "es-christmas-eve-short", "es-dec-23-normal", "es-jan-5-short",
         "wrapping-range-end-included", "wrapping-range-after", "undated-after-season",
         "closed-date-start", "day-before-closed"],
)
def test_is_covered(coverage: Coverage, tz: ZoneInfo, when: datetime, expected: bool) -> None:
    assert is_covered(coverage, tz, when) is expected
    m = epoch_minute(when)
    in_ranges = any(lo <= m < hi for lo, hi in covered_ranges(coverage, tz, m - 5, m + 5))
    assert in_ranges is expected  # every edge here is on a minute: instant and minute agree


@pytest.mark.parametrize(
    ("tz", "day", "span", "covered"),
    [
        (CPH, date(2026, 3, 29), (0, 1440), 23 * 60),
        (CPH, date(2026, 10, 25), (0, 1440), 25 * 60),
        (CPH, date(2026, 3, 29), (2 * 60, 3 * 60), 0),
        (CPH, date(2026, 3, 29), (60, 4 * 60), 120),
        (CPH, date(2026, 10, 25), (2 * 60, 3 * 60), 120),
        (CPH, date(2026, 10, 25), (60, 4 * 60), 240),
        (CPH, date(2026, 10, 25), (3 * 60, 4 * 60), 60),
        (LON, date(2026, 3, 29), (60, 2 * 60), 0),
        (LON, date(2026, 3, 29), (0, 3 * 60), 120),
        (LON, date(2026, 10, 25), (60, 2 * 60), 120),
        (LON, date(2026, 10, 25), (23 * 60, 1440), 60),
        (UTCZ, date(2026, 10, 25), (0, 1440), 1440),
    ],
    ids=["cph-spring-day", "cph-autumn-day", "cph-spring-gap-hour", "cph-spring-around-gap",
         "cph-autumn-repeated-hour", "cph-autumn-around-repeat", "cph-autumn-after-repeat",
         "lon-spring-gap-hour", "lon-spring-morning", "lon-autumn-repeated-hour",
         "lon-autumn-evening", "utc-no-dst"],
)
def test_dst_days(tz: ZoneInfo, day: date, span: tuple[int, int], covered: int) -> None:
    # a seasonal rule of that one day: no other day is covered (no undated rule)
    coverage = hours(rule(frozenset(range(7)), span, f"{day:%m-%d}..{day:%m-%d}"))
    lo = epoch_minute(datetime(day.year, day.month, day.day, tzinfo=UTC)) - 3 * 60
    ranges = covered_ranges(coverage, tz, lo, lo + 30 * 60)
    assert total(ranges) == covered
    for lo_, hi_ in ranges:  # every covered minute starts on that local date, inside the span
        for m in (lo_, hi_ - 1):
            local = minute_start(m).astimezone(tz)
            assert local.date() == day
            assert span[0] <= local.hour * 60 + local.minute < span[1]


def test_one_range_per_covered_day() -> None:
    start, end = month_bounds(2026, 10, CPH)
    ranges = covered_ranges(OFFICE_CPH, CPH, start, end)
    assert len(ranges) == 22
    assert minute_start(ranges[0][0]) == datetime(2026, 10, 1, 7, 0, tzinfo=UTC)
    assert minute_start(ranges[-1][1]) == datetime(2026, 10, 30, 16, 0, tzinfo=UTC)  # 17:00 CET


def test_covered_ranges_clip_to_the_period_and_return_fresh_lists() -> None:
    start, _ = month_bounds(2026, 10, CPH)
    nine = start + 9 * 60
    first = covered_ranges(OFFICE_CPH, CPH, nine + 30, nine + 90)
    assert first == [(nine + 30, nine + 90)]
    first.clear()
    assert covered_ranges(OFFICE_CPH, CPH, nine + 30, nine + 90) == [(nine + 30, nine + 90)]
    assert covered_ranges(OFFICE_CPH, CPH, nine, nine) == []


def test_day_hours_precedence_and_holidays() -> None:
    assert day_hours(SPAIN, date(2026, 7, 1)) == [(480, 900)]
    assert day_hours(SPAIN, date(2026, 6, 30)) == [(540, 1080)]
    assert day_hours(SPAIN, date(2026, 7, 4)) == []
    assert day_hours(OFFICE_CPH, date(2026, 4, 6)) == []
    assert day_hours(ALWAYS, date(2026, 4, 6)) == [(0, 1440)]
    assert date(2026, 5, 25) in holiday_dates("GB-ENG", 2026)
    assert date(2026, 5, 14) not in holiday_dates("GB-ENG", 2026)
    assert date(2026, 5, 14) in holiday_dates("DK", 2026)


def test_is_covered_rejects_naive() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        is_covered(ALWAYS, CPH, datetime(2026, 1, 1) + timedelta(0))
