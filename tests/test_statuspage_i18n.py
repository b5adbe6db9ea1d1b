"""The status page's languages: catalogues complete and current, locale formatting."""

from __future__ import annotations

import random
import re
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel import Locale
from babel.dates import format_interval, format_skeleton
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent

from statuspage.i18n import (
    LANGUAGES,
    LOCALE_DIR,
    Formatter,
    formatter,
    translations,
    truncated_percent,
)

PACKAGE = Path(__file__).parent.parent / "statuspage"
TRANSLATED = [lang for lang in LANGUAGES if lang != "en"]
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _ids(message_id: object) -> tuple[str, ...]:
    """A message's id (or its singular and plural ids) as a tuple."""
    if isinstance(message_id, str):
        return (message_id,)
    assert isinstance(message_id, tuple | list)
    return tuple(str(m) for m in message_id)


def test_template_catalogue_is_current() -> None:
    """messages.pot holds exactly what the code and templates ask to translate (if this
    fails, re-run the extract command at the top of statuspage/babel.cfg, then update)."""
    with open(PACKAGE / "babel.cfg") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found = {_ids(msg[2]) for msg in extract_from_dir(
        str(PACKAGE), method_map, options_map, keywords={"gettext": None, "ngettext": (1, 2),
                                                         "_": None})}
    with open(LOCALE_DIR / "messages.pot", "rb") as fh:
        pot = {_ids(m.id) for m in read_po(fh) if m.id}
    assert found == pot


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_message_is_translated_with_the_same_placeholders(lang: str) -> None:
    with open(LOCALE_DIR / "messages.pot", "rb") as fh:
        pot = {_ids(m.id) for m in read_po(fh) if m.id}
    po_path = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    with open(po_path, "rb") as fh:
        catalog = read_po(fh, locale=lang)
    assert catalog.plural_forms == "nplurals=2; plural=(n != 1);"
    seen = set()
    for m in catalog:
        if not m.id:
            continue
        ids = _ids(m.id)
        seen.add(ids)
        strings = _ids(m.string)
        assert "fuzzy" not in m.flags, ids
        assert all(strings) and len(strings) == len(ids), f"{lang}: {ids[0]!r} not translated"
        wanted = set(PLACEHOLDER.findall(ids[0]))
        for s in strings:
            assert set(PLACEHOLDER.findall(s)) == wanted, f"{lang}: {s!r}"
    assert seen == pot
    assert not catalog.obsolete


@pytest.mark.parametrize(
    ("lang", "message", "expected"),
    [
        ("de", "Down", "Ausgefallen"),
        ("da", "All systems operational", "Alle systemer kører normalt"),
        ("it", "Under maintenance", "In manutenzione"),
        ("es", "Partial outage", "Interrupción parcial"),
        ("en", "Down", "Down"),
    ],
    ids=TRANSLATED + ["en-is-the-source"],
)
def test_catalogue_compiled_in_memory(lang: str, message: str, expected: str) -> None:
    assert translations(lang).gettext(message) == expected


@pytest.mark.parametrize(
    ("lang", "n", "expected"),
    [("de", 1, "1 Minute Ausfall"), ("de", 12, "12 Minuten Ausfall"),
     ("da", 1, "1 minut nede"), ("es", 2, "2 minutos sin servicio")],
    ids=["de-one", "de-many", "da-one", "es-two"],
)
def test_plurals(lang: str, n: int, expected: str) -> None:
    f = formatter(lang)
    text = f.ngettext("%(num)s minute down", "%(num)s minutes down", n)
    assert text % {"num": n} == expected


CPH = ZoneInfo("Europe/Copenhagen")
AT = datetime(2026, 10, 1, 13, 5, tzinfo=UTC)
#: The CLDR locale each language of the page must format in (English: day before month).
BABEL_LOCALES = {"en": "en_GB", "de": "de", "da": "da", "it": "it", "es": "es"}


@pytest.mark.parametrize(
    ("lang", "moment"),
    [
        ("en", "{day}, 15:05 CEST"),
        ("de", "{day}, 15:05 MESZ"),
        ("da", "{day} 15.05 CEST"),
        ("it", "{day}, 15:05 CEST"),
        ("es", "{day}, 15:05 CEST"),
    ],
    ids=LANGUAGES,
)
def test_dates(lang: str, moment: str) -> None:
    """A day is CLDR's ``yMMMd`` in the language's locale, a range of days CLDR's ``yMMMd``
    interval with both days inclusive, a moment that day with the local time and zone.

    The expected day and range are asked of Babel, so new CLDR data is picked up with the Babel
    pinned in requirements.lock (``make lock``), not edited in here. With Babel 2.19: en
    ``1 Oct 2026`` and ``1\u2009–\u200930 Oct 2026`` (thin spaces), de ``1.–30. Okt. 2026``,
    it ``01–30 ott 2026``.
    """
    loc = Locale.parse(BABEL_LOCALES[lang])
    day = format_skeleton("yMMMd", date(2026, 10, 1), locale=loc)
    span = format_interval(date(2026, 10, 1), date(2026, 10, 30), "yMMMd", locale=loc)
    f = formatter(lang)
    assert f.day(date(2026, 10, 1)) == day
    assert f.day_range(date(2026, 10, 1), date(2026, 10, 30)) == span
    assert f.day_range(date(2026, 10, 1), date(2026, 10, 1)) == day
    assert f.moment(AT, CPH) == moment.format(day=day)


def test_winter_time_and_utc_zone_names() -> None:
    f = formatter("en")
    assert f.moment(datetime(2026, 12, 1, 13, 5, tzinfo=UTC), CPH) == "1 Dec 2026, 14:05 CET"
    assert f.moment(AT, ZoneInfo("UTC")) == "1 Oct 2026, 13:05 UTC"


@pytest.mark.parametrize(
    ("lang", "minutes", "expected"),
    [
        ("en", 0.43, "25 secs"),
        ("en", 4.38, "4.3 mins"),
        ("en", 4.0, "4 mins"),
        ("en", 15.9, "15 mins"),
        ("en", 125.5, "2 hrs 5 mins"),
        ("en", 120, "2 hrs"),
        ("en", 3000, "2 days 2 hrs"),
        ("en", -38.6, "38 mins"),
        ("de", 4.38, "4,3 Min."),
        ("da", 125, "2 t. 5 min."),
    ],
    ids=["seconds", "one-decimal", "whole", "truncated", "hours-minutes", "whole-hours",
         "days-hours", "sign-dropped", "de", "da"],
)
def test_durations(lang: str, minutes: float, expected: str) -> None:
    assert formatter(lang).duration(minutes) == expected


def test_integers_are_grouped_per_locale() -> None:
    assert [formatter(lang).integer(44700) for lang in LANGUAGES] == [
        "44,700", "44.700", "44.700", "44.700", "44.700"]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_percentages_and_integers_are_babels(lang: str) -> None:
    """The formatter parses its number patterns once; what it writes is what Babel's
    format_percent and format_decimal write with those patterns."""
    rng = random.Random(lang)
    f = Formatter(lang)
    pattern = f.locale.percent_formats[None].pattern
    for _ in range(500):
        value, places, n = rng.uniform(0, 100), rng.randrange(0, 5), rng.randrange(10**8)
        wanted = pattern if not places else pattern.replace("#,##0", "#,##0." + "0" * places)
        assert f.percent(value, places) == format_percent(
            truncated_percent(value, places) / 100, format=wanted, locale=f.locale)
        assert f.integer(n) == format_decimal(n, format="#,##0", locale=f.locale)


def test_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match='unknown language "fr"'):
        Formatter("fr")
