"""probes.yaml written to hurt: YAML anchor bombs, values that contain themselves, huge numbers,
deep nesting, and recurrence rules that recur every second or never. Each is refused with a
clear, path-qualified ConfigError, quickly and in little memory; the fair uses (an anchor
shared among many services, hourly or weekly maintenance) still parse.

A hang is caught by running the parse in a thread with a generous deadline (never by timing
it); memory by tracemalloc's peak.
"""

from __future__ import annotations

import threading
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest

from monitor.cli import main
from monitor.config import ConfigError, MaintenanceWindowConfig, parse_config
from monitor.config.durations import SHOW_WIDTH, show
from monitor.config.reader import MAX_ALIAS_VALUES
from monitor.config.windows import MIN_RECURRENCE_GAP
from monitor.core.windows import expand_recurring

T = TypeVar("T")

HANG_GUARD_S = 20  # far above the few milliseconds these take; only a hang comes near it
PEAK_BYTES = 64 * 2**20

SERVICE = '  - {name: api, url: "http://127.0.0.1:1/"}\n'


def bounded(work: Callable[[], T], *, traced: bool = True) -> T:
    """``work()`` run in a thread: it must end within HANG_GUARD_S (else it hangs) and, if
    ``traced``, allocate less than PEAK_BYTES at its peak (tracing slows dateutil ~30x, so
    recurrence rules are only timed). Its exception is raised here."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as err:  # handed to the test's thread
            outcome["error"] = err

    if traced:
        tracemalloc.start()
    try:
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        thread.join(HANG_GUARD_S)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not thread.is_alive(), f"still running after {HANG_GUARD_S} s"
    assert peak < PEAK_BYTES, f"peak {peak:,} bytes"
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def refused(text: str, *, traced: bool = True) -> list[str]:
    """The ConfigError lines for ``text``, parsed under :func:`bounded`."""
    with pytest.raises(ConfigError) as caught:
        bounded(lambda: parse_config(text), traced=traced)
    return list(caught.value.problems)


def anchors() -> str:
    """Nine anchors, each a list of nine aliases of the previous one: ~400 bytes that stand for
    9⁹ (387 million) strings. The last anchor is ``&i``."""
    lines = ["x-bomb:", '  - &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"  - &{name} [{', '.join([f'*{previous}'] * 9)}]")
    return "\n".join(lines) + "\n"


TOO_MANY_ALIASES = (f"probes.yaml: invalid YAML: aliases (*name) repeat more than "
                    f"{MAX_ALIAS_VALUES:,} values; anchor smaller values, or repeat them less "
                    "often")


# ---- YAML aliases ------------------------------------------------------------------------------


@pytest.mark.parametrize("use", [
    pytest.param("site: {title: *i}\nservices:\n" + SERVICE, id="site_title"),
    pytest.param("services:\n  - {name: *i, url: *i}\n", id="service_name_and_url"),
    pytest.param("services: *i\n", id="services"),
    pytest.param("services:\n" + SERVICE + "maintenance:\n  - {services: *i, title: *i, "
                 "start: *i, end: *i}\n", id="maintenance"),
])
def test_an_anchor_bomb_is_refused_quickly(use: str) -> None:
    assert refused(anchors() + use) == [TOO_MANY_ALIASES]


def test_an_anchor_shared_among_50_services_parses() -> None:
    text = ("defaults: &common {interval: 30s, timeout: 5s, expect: {status: [200, 204]}}\n"
            "services:\n"
            '  - {name: s0, url: "http://127.0.0.1:1/", sla: &sla {target: 99.5, timezone: UTC}}\n'
            + "".join(f'  - {{<<: *common, name: s{i}, url: "http://127.0.0.1:{i + 1}/", '
                      "sla: *sla}\n" for i in range(1, 50)))
    config = bounded(lambda: parse_config(text))
    assert len(config.services) == 50
    assert {s.sla.target for s in config.services} == {99.5}
    assert {s.timeout for s in config.services} == {timedelta(seconds=5)}


def test_a_large_file_may_alias_more_than_the_limit_in_proportion_to_its_size() -> None:
    # 2,000 services of 6 values each, merging 54 more: 108,000 repeated, more than
    # MAX_ALIAS_VALUES but less than ten times what the file writes itself
    codes = ", ".join(str(200 + i) for i in range(45))
    common = f"{{interval: 30s, timeout: 5s, expect: {{status: [{codes}]}}}}"
    text = (f"site: {{title: &common {common}}}\n"
            "services:\n" + "".join(
                f'  - {{<<: *common, name: s{i}, url: "http://127.0.0.1:{i % 60000 + 1}/"}}\n'
                for i in range(2_000)))
    lines = refused(text, traced=False)  # the site's title is not text; the services parse
    assert lines == ['probes.yaml: site.title: expected text, got {"interval": "30s", "timeout": '
                     '"5s", "expect": {"status": [200, 201, 202, 203...']


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    # PyYAML builds it: a mapping that holds itself, which no message could quote whole
    assert refused("site: &s {title: t, description: [*s]}\nservices:\n" + SERVICE) == [
        "probes.yaml:1: invalid YAML: an alias inside its own anchor (its value would contain "
        "itself) (column 7)"]


# ---- numbers and nesting -----------------------------------------------------------------------


def test_a_5000_digit_number_is_refused() -> None:
    text = 'services:\n  - {name: api, url: "http://127.0.0.1:1/", retries: ' + "9" * 5000 + "}\n"
    assert refused(text) == [
        "probes.yaml:2: invalid YAML: number too long (5,000 characters) (column 54)"]


def test_100k_nested_brackets_are_refused() -> None:
    (line,) = refused("[" * 100_000)
    # libyaml stops at its depth limit; PyYAML alone runs out of recursion
    assert line in ("probes.yaml:1: invalid YAML: exceeded maximum nesting depth (column 1001)",
                    "probes.yaml: invalid YAML: nested too deeply")


def test_a_deeply_nested_key_is_refused() -> None:
    assert refused("? " + "[" * 400 + "]" * 400 + "\n: 1\n") == [
        "probes.yaml: invalid YAML: nested too deeply"]


def test_check_config_exits_2_with_the_message(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "probes.yaml"
    path.write_text(anchors() + "site: {title: *i}\nservices:\n" + SERVICE, encoding="utf-8")
    assert bounded(lambda: main(["check-config", "--config", str(path)])) == 2
    assert capsys.readouterr().err == TOO_MANY_ALIASES.replace("probes.yaml", str(path)) + "\n"


# ---- show: quoting a value in a message --------------------------------------------------------


def _shared(levels: int) -> list[object]:
    value: list[object] = ["lol"] * 9
    for _ in range(levels):
        value = [value] * 9
    return value


def _self_containing() -> list[object]:
    value: list[object] = [1]
    value.append(value)
    return value


@pytest.mark.parametrize("value", [
    pytest.param(list(range(1_000_000)), id="list"),
    pytest.param({f"k{i}": i for i in range(100_000)}, id="dict"),
    pytest.param("x" * 10_000_000, id="string"),
    pytest.param(_shared(12), id="shared_lists_9_to_the_13th"),
    pytest.param(_self_containing(), id="self_containing"),
    pytest.param(int("f" * 5000, 16), id="6000_digit_int"),
])
def test_show_is_bounded(value: object) -> None:
    shown = bounded(lambda: show(value))
    assert len(shown) <= SHOW_WIDTH
    if not isinstance(value, int):
        assert shown.endswith("...")


@pytest.mark.parametrize(("value", "shown"), [
    ("api", '"api"'), (1.0, "1"), (2.5, "2.5"), (True, "true"), (None, "null"),
    ([1, "a", None], '[1, "a", null]'), ({"a": [1, 2], 3: False}, '{"a": [1, 2], "3": false}'),
    pytest.param("é" * 100, '"' + "é" * 76 + "...", id="long_text"),
    pytest.param(int("f" * 5000, 16), "a number too long to show", id="6000_digit_int"),
    pytest.param(list(range(100)), "[" + ", ".join(str(i) for i in range(100))[:76] + "...",
                 id="long_list"),
])
def test_show_spells_values_as_before(value: object, shown: str) -> None:
    assert show(value) == shown


# ---- recurrence rules --------------------------------------------------------------------------


def window(rrule: str, timezone: str = "UTC") -> str:
    return ("services:\n" + SERVICE + "maintenance:\n  - {services: api, title: Patch, "
            f'rrule: "{rrule}", duration: 1h, timezone: {timezone}}}\n')


COARSER = "use FREQ=HOURLY or coarser, or fewer BYHOUR/BYMINUTE values"


@pytest.mark.parametrize(("rrule", "message"), [
    ("FREQ=SECONDLY", "FREQ=SECONDLY is not allowed, occurrences must be at least 1h apart "
                      f"({COARSER})"),
    ("FREQ=SECONDLY;INTERVAL=3600", "FREQ=SECONDLY is not allowed, occurrences must be at least "
                                    f"1h apart ({COARSER})"),
    ("FREQ=MINUTELY", f"occurrences only 1m apart, they must be at least 1h apart ({COARSER})"),
    ("FREQ=MINUTELY;INTERVAL=59", "occurrences only 59m apart, they must be at least 1h apart "
                                  f"({COARSER})"),
    ("FREQ=DAILY;BYHOUR=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23;"
     "BYMINUTE=0,5,10", f"occurrences only 5m apart, they must be at least 1h apart ({COARSER})"),
    ("FREQ=HOURLY;BYMINUTE=0,30", "occurrences only 30m apart, they must be at least 1h apart "
                                  f"({COARSER})"),
    ("FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0;BYSECOND=0,30",
     f"occurrences only 30s apart, they must be at least 1h apart ({COARSER})"),
    # bounded by UNTIL or COUNT, but still a window a minute for a month
    ("FREQ=MINUTELY;UNTIL=20261101T000000Z",
     f"occurrences only 1m apart, they must be at least 1h apart ({COARSER})"),
])
@pytest.mark.parametrize("timezone", ["UTC", "Europe/Copenhagen"])
def test_a_rule_recurring_more_than_hourly_is_refused(rrule: str, message: str,
                                                      timezone: str) -> None:
    assert refused(window(rrule, timezone), traced=False) == [
        f"probes.yaml: maintenance[0].rrule: invalid rrule: {message}"]


@pytest.mark.parametrize("rrule", [
    "FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=30",
    "FREQ=HOURLY;BYMONTH=4;BYMONTHDAY=31",
    "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
    "FREQ=WEEKLY;BYMONTH=2;BYMONTHDAY=30",
    "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
])
def test_a_rule_that_never_occurs_is_refused_without_hanging(rrule: str) -> None:
    # dateutil looks for the first occurrence until year 9999: 5-16 s from 2000, every time
    # the windows were worked out
    assert refused(window(rrule, "Europe/Copenhagen"), traced=False) == [
        "probes.yaml: maintenance[0].rrule: invalid rrule: never occurs (no date fits all of "
        "its BY... parts)"]


@pytest.mark.parametrize("rrule", [
    "FREQ=HOURLY",
    "FREQ=WEEKLY;BYDAY=SU;BYHOUR=2",
    "FREQ=MINUTELY;INTERVAL=90",
    "FREQ=MINUTELY;INTERVAL=60",
    "FREQ=DAILY;BYHOUR=0,23;BYMINUTE=30",
    "FREQ=DAILY;BYMONTH=1;BYMONTHDAY=1",
    "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO",  # once in 28 years
    "FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;UNTIL=20261011T000000Z",
])
@pytest.mark.parametrize("timezone", ["UTC", "Europe/Copenhagen"])
def test_a_rule_an_hour_or_more_apart_is_accepted(rrule: str, timezone: str) -> None:
    config = bounded(lambda: parse_config(window(rrule, timezone)), traced=False)
    assert config.maintenance[0].rrule == rrule


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_expanding_an_hourly_rule_across_dst_is_within_the_cap() -> None:
    cfg = MaintenanceWindowConfig(services=("api",), title="Hourly", rrule="FREQ=HOURLY",
                                  start=utc(2026, 9, 1), duration=timedelta(minutes=5),
                                  timezone="Europe/Copenhagen")
    got = expand_recurring(cfg, utc(2026, 10, 1), utc(2026, 11, 1), id_prefix="r")
    # 02:00 CEST on 1 October to 00:00 CET on 1 November: 743 wall hours, 02:00 on the 25th
    # (when the clocks go back) once
    assert len(got) == 743
    assert got[0].start == utc(2026, 10, 1) and got[-1].start == utc(2026, 10, 31, 23)


def test_expanding_a_rule_that_skipped_validation_is_capped() -> None:
    cfg = MaintenanceWindowConfig.model_construct(
        services=("api",), title="Every minute", start=utc(2026, 9, 30), end=None,
        rrule="FREQ=MINUTELY", duration=timedelta(minutes=1), timezone="UTC")
    with pytest.raises(ValueError, match="occurs more than 74 times"):
        bounded(lambda: expand_recurring(cfg, utc(2026, 10, 1), utc(2026, 10, 2), id_prefix="r"),
                traced=False)
    assert MIN_RECURRENCE_GAP == timedelta(hours=1)
