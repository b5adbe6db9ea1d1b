"""Languages of the status page: gettext catalogues and locale-aware numbers, dates, durations.

The catalogues are the ``.po`` files under ``statuspage/locale/<lang>/LC_MESSAGES/``; they are
compiled in memory the first time a language is used (no ``.mo`` files in the repository).
English is the source language: its messages are the msgids themselves.

:class:`Formatter` formats with Babel in the language's locale (English uses ``en_GB``: day
before month, as the companies this serves write it). Percentages are *truncated*, never
rounded up, so 99.996 % is shown as 99.99 %, not as a 100 % that was not reached.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, tzinfo
from decimal import ROUND_DOWN, Decimal
from functools import cache, lru_cache
from pathlib import Path
from typing import Final, Literal

from babel import Locale
from babel.dates import format_datetime, format_interval, format_skeleton, format_time
from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import parse_pattern
from babel.support import NullTranslations, Translations
from babel.units import format_unit

__all__ = ["LANGUAGES", "LANGUAGE_NAMES", "LOCALE_DIR", "Formatter", "count", "duration_parts",
           "formatter", "millis_parts", "translations", "truncated_percent"]

Language = Literal["en", "de", "da", "it", "es"]
LANGUAGES: Final[tuple[str, ...]] = ("en", "de", "da", "it", "es")
#: Each language named in itself, for the language switcher.
LANGUAGE_NAMES: Final[dict[str, str]] = {
    "en": "English", "de": "Deutsch", "da": "Dansk", "it": "Italiano", "es": "Español",
}
LOCALE_DIR: Final = Path(__file__).parent / "locale"
_BABEL_LOCALE: Final[dict[str, str]] = {"en": "en_GB"}


def _check(lang: str) -> None:
    if lang not in LANGUAGES:
        raise ValueError(f'unknown language "{lang}" (known: {", ".join(LANGUAGES)})')


@cache
def translations(lang: str) -> NullTranslations:
    """The gettext translations of ``lang``, compiled from its ``.po`` file on first use."""
    _check(lang)
    if lang == "en":
        return NullTranslations()
    po = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=lang, domain="messages")
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return Translations(fp=buf, domain="messages")


def millis_parts(ms: float) -> tuple[int | Decimal, str]:
    """A response time as :meth:`Formatter.millis` says it in every language: whole
    milliseconds under a second, else seconds truncated to one decimal; and the unit."""
    if ms < 1000:
        return max(int(ms), 0), "millisecond"
    seconds = _truncate(ms / 1000, 1)
    return seconds.normalize() if seconds == seconds.to_integral() else seconds, "second"


def _truncate(value: float, places: int) -> Decimal:
    return Decimal(repr(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN)


class Formatter:
    """Numbers, percentages, dates and durations in one language's conventions."""

    def __init__(self, lang: str) -> None:
        _check(lang)
        self.lang = lang
        self.locale = Locale.parse(_BABEL_LOCALE.get(lang, lang))
        self._t = translations(lang)
        pattern = self.locale.percent_formats[None].pattern
        # parsed once: format_percent and format_decimal parse their pattern at every call
        self._percent_patterns = {places: parse_pattern(text) for places, text in (
            {0: pattern} | {places: pattern.replace("#,##0", "#,##0." + "0" * places)
                            for places in range(1, 5)}).items()}
        self._integer_pattern = parse_pattern("#,##0")
        self._dt_pattern: str = self.locale.datetime_formats["medium"]

    def gettext(self, message: str) -> str:
        return self._t.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self._t.ngettext(singular, plural, n)

    @lru_cache(maxsize=16384)  # noqa: B019 - formatters live as long as the process, by design
    def percent(self, value: float, places: int = 2) -> str:
        """``value`` (0..100) truncated to ``places`` decimals: ``99.99%``, ``99,99 %``."""
        exact = truncated_percent(value, places) / 100
        text: str = self._percent_patterns[min(max(places, 0), 4)].apply(exact, self.locale)
        return text

    @lru_cache(maxsize=16384)  # noqa: B019
    def integer(self, value: int) -> str:
        text: str = self._integer_pattern.apply(value, self.locale)
        return text

    @lru_cache(maxsize=16384)  # noqa: B019
    def day(self, d: date, *, year: bool = True) -> str:
        """``1 Oct 2026`` (or ``1 Oct`` with ``year=False``), ``1. Okt. 2026``."""
        return format_skeleton("yMMMd" if year else "MMMd", d, locale=self.locale)

    @lru_cache(maxsize=16384)  # noqa: B019
    def day_range(self, first: date, last: date, *, year: bool = True) -> str:
        """Both days inclusive: ``1–30 Oct 2026``; one day is just the date."""
        if first == last:
            return self.day(first, year=year)
        return format_interval(first, last, "yMMMd" if year else "MMMd", locale=self.locale)

    @lru_cache(maxsize=1024)  # noqa: B019 - a window of 1,000 services is listed every build
    def listing(self, items: tuple[str, ...]) -> str:
        """``a, b and c``, ``a, b und c``: Babel's ``format_list`` in this language."""
        return format_list(list(items), locale=self.locale)

    @lru_cache(maxsize=256)  # noqa: B019
    def month(self, year: int, month: int) -> str:
        """``October 2026``, ``Oktober 2026``, ``octubre de 2026``."""
        return format_skeleton("yMMMM", date(year, month, 1), locale=self.locale)

    # The moments are kept by their instant in UTC: two local times of one zone compare equal
    # when their wall clocks do, fold or not (02:00 CEST and 02:00 CET, the night the clocks
    # go back), and one would be said as the other.

    def moment(self, dt: datetime, tz: tzinfo, *, zone: bool = True) -> str:
        """``1 Oct 2026, 15:05 CEST``: the date as :meth:`day`, the time, the zone."""
        return self._moment(dt.astimezone(UTC), tz, zone)

    @lru_cache(maxsize=16384)  # noqa: B019
    def _moment(self, dt: datetime, tz: tzinfo, zone: bool) -> str:
        day = self.day(dt.astimezone(tz).date())
        text = self._dt_pattern.replace("{1}", day).replace("{0}", self._time(dt, tz))
        return f"{text} {self._zone(dt, tz)}" if zone else text

    def zone(self, dt: datetime, tz: tzinfo) -> str:
        """The abbreviation of ``tz`` at ``dt``: ``CEST``, ``MESZ``, ``UTC``."""
        return self._zone(dt.astimezone(UTC), tz)

    @lru_cache(maxsize=16384)  # noqa: B019
    def _zone(self, dt: datetime, tz: tzinfo) -> str:
        return format_datetime(dt, "z", tzinfo=tz, locale=self.locale)

    def time(self, dt: datetime, tz: tzinfo) -> str:
        """``15:05`` (``15.05`` in Danish), in ``tz``."""
        return self._time(dt.astimezone(UTC), tz)

    @lru_cache(maxsize=16384)  # noqa: B019
    def _time(self, dt: datetime, tz: tzinfo) -> str:
        return format_time(dt, "short", tzinfo=tz, locale=self.locale)

    @lru_cache(maxsize=16384)  # noqa: B019
    def duration(self, minutes: float) -> str:
        """A length of time: ``26 secs``, ``4.3 mins``, ``2 hrs 5 mins``, ``3 days 4 hrs``
        (:func:`duration_parts` decides the units and numbers)."""
        return self._join(*(self._unit(value, unit) for value, unit in duration_parts(minutes)))

    @lru_cache(maxsize=16384)  # noqa: B019
    def millis(self, ms: float) -> str:
        """A response time: ``87 ms`` under a second, ``1.2 secs`` (one decimal) above."""
        return self._unit(*millis_parts(ms))

    @lru_cache(maxsize=4096)  # noqa: B019 - a response time in whole ms: a few hundred values
    def _unit(self, value: int | Decimal, unit: str) -> str:
        return format_unit(value, f"duration-{unit}", length="short", locale=self.locale)

    @staticmethod
    def _join(big: str, small: str = "") -> str:
        return f"{big} {small}" if small else big


def count(message: str, n: int, f: Formatter) -> str:
    """Fill ``%(num)s`` of an already chosen singular/plural ``message`` with ``n``."""
    return message % {"num": f.integer(n)}


def duration_parts(minutes: float) -> tuple[tuple[int | Decimal, str], ...]:
    """The numbers and units :meth:`Formatter.duration` says ``minutes`` with, the same in
    every language: ``((2, "hour"), (5, "minute"))``.

    Under ten minutes one decimal is kept (an error budget of 4.3 minutes is not 4); longer
    spans are given in at most two units, the smaller one truncated (left out when 0).
    """
    minutes = abs(minutes)
    if minutes < 1:
        return ((int(minutes * 60), "second"),)
    if minutes < 10:
        exact = _truncate(minutes, 1)
        return ((exact.normalize() if exact == exact.to_integral() else exact, "minute"),)
    whole = int(minutes)
    if whole < 60:
        return ((whole, "minute"),)
    if whole < 1440:
        h, m = divmod(whole, 60)
        return ((h, "hour"), (m, "minute")) if m else ((h, "hour"),)
    d, rest = divmod(whole, 1440)
    h = rest // 60
    return ((d, "day"), (h, "hour")) if h else ((d, "day"),)


def truncated_percent(value: float, places: int) -> Decimal:
    """The number :meth:`Formatter.percent` shows ``value`` (0..100) as, in every language."""
    return _truncate(value, min(max(places, 0), 4))


@cache
def formatter(lang: str) -> Formatter:
    """The shared :class:`Formatter` of ``lang`` (its caches are kept between builds)."""
    return Formatter(lang)
