"""probes.yaml → frozen models, and every error message by its exact text."""

from __future__ import annotations

import re
import textwrap
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from monitor.config import (
    Config,
    ConfigError,
    Coverage,
    CoverageRule,
    DateRange,
    ExclusionConfig,
    ExpectConfig,
    MaintenancePolicy,
    MaintenanceWindowConfig,
    ServiceConfig,
    SiteConfig,
    SlaConfig,
    StatusRange,
    default_config_path,
    default_db_path,
    format_duration,
    load_config,
    parse_config,
    parse_duration,
)
from monitor.config.subscriptions import SubscriptionsConfig

SHIPPED = Path(__file__).resolve().parent.parent / "probes.yaml"
DOCS = SHIPPED.parent / "docs" / "configuration.md"
WEEKDAYS = frozenset(range(5))

FOUR = """\
services:
  - {name: api, url: "http://127.0.0.1:1/"}
  - {name: web, url: "http://127.0.0.1:2/"}
  - {name: db, url: "http://127.0.0.1:3/"}
  - {name: cdn, url: "http://127.0.0.1:4/"}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(textwrap.dedent(text))
    assert str(caught.value) == "\n".join(caught.value.problems)
    return list(caught.value.problems)


def one(name: str = "api", **keys: str) -> str:
    extra = "".join(f", {k}: {v}" for k, v in keys.items())
    return f'services:\n  - {{name: {name}, url: "http://127.0.0.1:1/"{extra}}}\n'


ERRORS = [
    ("interval_too_short",
     FOUR.replace('db, url: "http://127.0.0.1:3/"', 'db, url: "http://127.0.0.1:3/", interval: 0s'),
     ['probes.yaml: services[2].interval: must be at least 1s, got "0s"']),
    ("unknown_key",
     one(expect="{staus: 200}"),
     ["probes.yaml: services[0].expect.staus: unknown key (allowed: body_contains, body_regex, "
      "cert_valid_for, headers, json, max_latency, status)"]),
    ("unknown_service_key",
     one(intervall="5s"),
     ["probes.yaml: services[0].intervall: unknown key (allowed: body, expect, follow_redirects, "
      "group, headers, interval, kind, locations, max_body_bytes, max_redirects, method, name, "
      "quorum, retries, since, sla, timeout, title, tls_verify, url)"]),
    ("unknown_top_level_key",
     one() + "servics: []\n",
     ["probes.yaml: servics: unknown key (allowed: central_url, defaults, exclusions, incident, "
      "location, locations, maintenance, notifications, quorum, services, site, "
      "subscriptions)"]),
    ("duplicate_name",
     FOUR.replace("name: cdn", "name: web"),
     ['probes.yaml: services[3].name: duplicate service name "web" (also services[1])']),
    ("duplicate_name_beside_other_errors",
     FOUR.replace("name: cdn", "name: api").replace("name: db,", "name: db, retries: 9,"),
     ["probes.yaml: services[2].retries: must be between 0 and 5, got 9",
      'probes.yaml: services[3].name: duplicate service name "api" (also services[0])']),
    ("unknown_time_zone",
     FOUR.replace('2/"}', '2/", sla: {timezone: Europe/Copenhagn}}'),
     ['probes.yaml: services[1].sla.timezone: unknown time zone "Europe/Copenhagn"']),
    ("target_out_of_range",
     one(sla="{target: 120}"),
     ["probes.yaml: services[0].sla.target: must be between 0 and 100, got 120"]),
    ("target_zero",
     one(sla="{target: 0}"),
     ["probes.yaml: services[0].sla.target: must be between 0 and 100, got 0"]),
    ("bad_duration_text",
     one(interval='"5 minutes"'),
     ['probes.yaml: services[0].interval: expected a duration like "30s", "5m" or "1h", '
      'got "5 minutes"']),
    ("bad_hours",
     one(sla='{coverage: {days: mon-fri, hours: "9-5"}}'),
     ['probes.yaml: services[0].sla.coverage.hours: expected hours like "09:00-17:00" '
      '(24:00 may end the day), got "9-5"']),
    ("hours_across_midnight",
     one(sla='{coverage: {rules: [{days: mon}, {hours: "22:00-06:00"}]}}'),
     ['probes.yaml: services[0].sla.coverage.rules[1].hours: end must be after start, got '
      '"22:00-06:00" (split hours that cross midnight into two rules)']),
    ("bad_days",
     one(sla='{coverage: {days: mon-fry, hours: "09:00-17:00"}}'),
     ['probes.yaml: services[0].sla.coverage.days: expected days like "mon-fri", "sat,sun" or '
      '["mon", "wed"], got "mon-fry"']),
    ("unknown_holiday_calendar",
     one(sla="{coverage: {holidays: [DK, XX]}}"),
     ['probes.yaml: services[0].sla.coverage.holidays[1]: unknown holiday calendar "XX" (use a '
      "country code such as DK or a subdivision such as GB-ENG)"]),
    ("unknown_subdivision",
     one(sla="{coverage: {holidays: GB-XX}}"),
     ['probes.yaml: services[0].sla.coverage.holidays: unknown holiday calendar "GB-XX" '
      "(GB subdivisions: ENG, NIR, SCT, WLS)"]),
    ("norway_read_as_false",
     one(sla="{coverage: {holidays: [NO]}}"),
     ['probes.yaml: services[0].sla.coverage.holidays[0]: got false: write the country code in '
      'quotes, e.g. "NO"']),
    ("bad_date_range",
     one(sla='{coverage: {days: mon, dates: "07-01..02-30"}}'),
     ['probes.yaml: services[0].sla.coverage.dates.end: no such day of the year: "02-30" '
      '(write "MM-DD")']),
    ("bad_closed_date",
     one(sla="{coverage: {closed: [2026-12-24, 24.12.2026]}}"),
     ['probes.yaml: services[0].sla.coverage.closed[1]: expected a date like "2026-12-24", '
      'got "24.12.2026"']),
    ("coverage_unknown_key",
     one(sla='{coverage: {days: mon, hour: "09:00-17:00"}}'),
     ["probes.yaml: services[0].sla.coverage.hour: unknown key (allowed: closed, dates, days, "
      "holidays, hours, rules)"]),
    ("coverage_rule_unknown_key",
     one(sla="{coverage: {rules: [{days: mon, holidays: [DK]}]}}"),
     ["probes.yaml: services[0].sla.coverage.rules[0].holidays: unknown key (allowed: dates, "
      "days, hours)"]),
    ("coverage_both_forms",
     one(sla="{coverage: {days: mon, rules: [{days: tue}]}}"),
     ["probes.yaml: services[0].sla.coverage.rules: use either days/hours/dates (one rule) or "
      "rules (several), not both"]),
    ("coverage_bad_text",
     one(sla="{coverage: always}"),
     ['probes.yaml: services[0].sla.coverage: expected "24x7" or a mapping with days and hours, '
      'got "always"']),
    ("bad_regex",
     one(expect='{body_regex: "(ok"}'),
     ["probes.yaml: services[0].expect.body_regex: invalid regular expression: missing ) at "
      "position 3"]),
    ("bad_status_in_list",
     one(expect='{status: [200, "2xx", 700]}'),
     ['probes.yaml: services[0].expect.status[2]: expected a status code (200), a class ("2xx") '
      'or a range ("200-299") within 100-599, got "700"']),
    ("bad_status_alone",
     one(expect='{status: "9xx"}'),
     ['probes.yaml: services[0].expect.status: expected a status code (200), a class ("2xx") '
      'or a range ("200-299") within 100-599, got "9xx"']),
    ("bad_url",
     'services:\n  - {name: api, url: "ftp://example.com/"}\n',
     ['probes.yaml: services[0].url: expected an http:// or https:// URL with a host, '
      'got "ftp://example.com/"']),
    ("url_without_host",
     'services:\n  - {name: api, url: "http:///healthz"}\n',
     ['probes.yaml: services[0].url: expected an http:// or https:// URL with a host, '
      'got "http:///healthz"']),
    ("bad_method",
     one(method="FETCH"),
     ['probes.yaml: services[0].method: unknown method "FETCH" (use one of GET, HEAD, POST, PUT, '
      "PATCH, DELETE, OPTIONS)"]),
    ("bad_name",
     one(name='"My API"'),
     ['probes.yaml: services[0].name: must be 1-64 lowercase letters, digits, ".", "_" or "-", '
      'starting with a letter or digit, got "My API"']),
    ("timeout_longer_than_interval",
     one(interval="15s", timeout="30s"),
     ['probes.yaml: services[0].timeout: must not be longer than interval (15s), got "30s"']),
    ("timeout_zero",
     one(timeout="0s"),
     ['probes.yaml: services[0].timeout: must be more than 0s, got "0s"']),
    ("retries_not_a_number",
     one(retries="many"),
     ['probes.yaml: services[0].retries: expected a whole number, got "many"']),
    ("flag_not_a_bool",
     one(tls_verify="maybe"),
     ['probes.yaml: services[0].tls_verify: expected true or false, got "maybe"']),
    ("bad_size",
     one(max_body_bytes='"1 meg"'),
     ['probes.yaml: services[0].max_body_bytes: expected a size like 65536, "512KiB" or "1MiB", '
      'got "1 meg"']),
    ("missing_required_field",
     "services:\n  - {name: api}\n",
     ["probes.yaml: services[0].url: required but missing"]),
    ("service_not_a_mapping",
     "services:\n  - api\n",
     ['probes.yaml: services[0]: expected a mapping (key: value), got "api"']),
    ("empty_services",
     "services: []\n",
     ["probes.yaml: services: must list at least one service"]),
    ("services_missing",
     "site: {title: x}\n",
     ["probes.yaml: services: required but missing"]),
    ("language",
     one() + "site: {language: fr}\n",
     ['probes.yaml: site.language: must be one of en, de, da, it, es, got "fr"']),
    ("window_end_before_start",
     one() + "maintenance:\n  - {services: [api], title: t, start: 2026-10-01T02:00:00Z, "
             "end: 2026-10-01T01:00:00Z}\n",
     ["probes.yaml: maintenance[0].end: must be after start (2026-10-01T02:00:00Z)"]),
    ("window_end_equal_start_with_offset",
     one() + "maintenance:\n  - {services: [api], title: t, start: 2026-10-01T02:00:00Z, "
             'end: "2026-10-01T04:00:00+02:00"}\n',
     ["probes.yaml: maintenance[0].end: must be after start (2026-10-01T02:00:00Z)"]),
    ("window_unknown_service",
     one() + "maintenance:\n  - {services: [api, apj], title: t, start: 2026-10-01T02:00:00Z, "
             "end: 2026-10-01T03:00:00Z}\n",
     ['probes.yaml: maintenance[0].services[1]: unknown service "apj" (did you mean "api"? '
      "known services: api)"]),
    ("window_unknown_service_single",
     one() + "maintenance:\n  - {services: zzz, title: t, start: 2026-10-01T02:00:00Z, "
             "end: 2026-10-01T03:00:00Z}\n",
     ['probes.yaml: maintenance[0].services: unknown service "zzz" (known services: api)']),
    ("window_naive_time",
     one() + "maintenance:\n  - {services: api, title: t, start: 2026-10-01T02:00:00, "
             "end: 2026-10-01T03:00:00Z}\n",
     ['probes.yaml: maintenance[0].start: has no time zone: add "Z" for UTC or an offset such as '
      '"+02:00", got "2026-10-01T02:00:00"']),
    ("window_not_a_time",
     one() + "maintenance:\n  - {services: api, title: t, start: tomorrow, "
             "end: 2026-10-01T03:00:00Z}\n",
     ['probes.yaml: maintenance[0].start: expected a date and time like "2026-10-01T02:00:00Z", '
      'got "tomorrow"']),
    ("window_bad_rrule",
     one() + "maintenance:\n  - {services: api, title: t, rrule: FREQ=WEEKLY;BYDAY=XX, "
             "duration: 1h}\n",
     ["probes.yaml: maintenance[0].rrule: invalid rrule: invalid 'BYDAY': XX (expected RFC 5545 "
      'text such as "FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0")']),
    ("window_rrule_without_freq",
     one() + "maintenance:\n  - {services: api, title: t, rrule: BYDAY=SU, duration: 1h}\n",
     ["probes.yaml: maintenance[0].rrule: invalid rrule: FREQ is missing (expected RFC 5545 "
      'text such as "FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0")']),
    ("window_rrule_without_duration",
     one() + "maintenance:\n  - {services: api, title: t, rrule: FREQ=DAILY}\n",
     ["probes.yaml: maintenance[0].duration: required with rrule (how long each occurrence "
      "lasts)"]),
    ("window_rrule_with_end",
     one() + "maintenance:\n  - {services: api, title: t, rrule: FREQ=DAILY, duration: 1h, "
             "end: 2026-10-01T03:00:00Z}\n",
     ["probes.yaml: maintenance[0].end: not used with rrule (end a recurring window with UNTIL or "
      "COUNT in the rrule)"]),
    ("window_one_off_without_end",
     one() + "maintenance:\n  - {services: api, title: t, start: 2026-10-01T03:00:00Z}\n",
     ["probes.yaml: maintenance[0].end: required for a one-off window (a recurring one takes "
      "rrule and duration)"]),
    ("policy_mapping_form",
     one() + "maintenance:\n  min_notice: soon\n  windowz: []\n",
     ["probes.yaml: maintenance.windowz: unknown key (allowed: max_duration, min_notice, "
      "windows)",
      'probes.yaml: maintenance.min_notice: expected a duration like "30s", "5m" or "1h", '
      'got "soon"']),
    ("window_in_mapping_form",
     one() + "maintenance:\n  windows:\n    - {services: api, title: t, "
             "start: 2026-10-01T02:00:00Z, end: 2026-10-01T02:00:00Z}\n",
     ["probes.yaml: maintenance.windows[0].end: must be after start (2026-10-01T02:00:00Z)"]),
    ("exclusion_without_reason",
     one() + "exclusions:\n  - {services: api, start: 2026-10-01T02:00:00Z, "
             "end: 2026-10-01T03:00:00Z}\n",
     ["probes.yaml: exclusions[0].reason: required but missing"]),
    ("exclusion_blank_reason",
     one() + "exclusions:\n  - {services: api, start: 2026-10-01T02:00:00Z, "
             'end: 2026-10-01T03:00:00Z, reason: " "}\n',
     ["probes.yaml: exclusions[0].reason: must not be empty"]),
    ("default_not_allowed",
     "defaults: {url: 'http://x/'}\n" + one(),
     ["probes.yaml: defaults.url: cannot be a default (set it on each service)"]),
    ("error_in_defaults_reported_once",
     "defaults: {interval: 0s, expect: {staus: 200}}\n" + FOUR,
     ['probes.yaml: defaults.interval: must be at least 1s, got "0s"',
      "probes.yaml: defaults.expect.staus: unknown key (allowed: body_contains, body_regex, "
      "cert_valid_for, headers, json, max_latency, status)"]),
    ("clash_with_a_default",
     "defaults: {timeout: 20s}\n" + one(interval="15s"),
     ['probes.yaml: services[0].timeout: must not be longer than interval (15s), got "20s" '
      "(set in defaults)"]),
    ("top_level_not_a_mapping",
     "- api\n- web\n",
     ["probes.yaml: expected a mapping at the top level (site, services, ...), "
      'got ["api", "web"]']),
    ("empty_file",
     "",
     ["probes.yaml: expected a mapping at the top level (site, services, ...), got nothing "
      "(the file is empty)"]),
    ("yaml_syntax_error",
     "site:\n  title: demo\nservices:\n  - name: api\n    url: http://127.0.0.1:1/\n"
     "   interval: 5s\n",
     ["probes.yaml:6: invalid YAML: expected <block end>, but found '<block mapping start>' "
      "(column 4)"]),
    ("yaml_duplicate_key",
     "services:\n  - name: api\n    url: http://127.0.0.1:1/\n    name: web\n",
     ['probes.yaml:4: invalid YAML: duplicate key "name" (first on line 2)']),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in ERRORS],
                         ids=[c[0] for c in ERRORS])
def test_error_messages(text: str, expected: list[str]) -> None:
    assert problems(text) == expected


def test_all_problems_are_reported_in_one_pass() -> None:
    lines = problems(FOUR.replace("interval", "x")
                     .replace('api, url: "http://127.0.0.1:1/"', 'api, url: "ftp://x", retries: 9')
                     .replace("name: cdn", "name: api")
                     + "site: {language: fr}\nmaintenance:\n  - {services: apj, title: t, "
                       "start: 2026-10-01T02:00:00, end: 2026-10-01T03:00:00Z}\nbogus: 1\n")
    assert [line.split(": ")[1] for line in lines] == [
        "bogus", "site.language", "services[0].url", "services[0].retries",
        "maintenance[0].start", "services[3].name", "maintenance[0].services"]


def test_source_prefixes_every_line() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("services: []\n", source="/etc/upwatch/probes.yaml")
    assert caught.value.problems == (
        "/etc/upwatch/probes.yaml: services: must list at least one service",)


def test_file_not_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_config("probes.yaml")
    assert str(caught.value) == (
        "probes.yaml: file not found (create it, or set UPWATCH_CONFIG / --config)")


def test_load_config_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "custom.yaml"
    path.write_text(one(interval="5s"), encoding="utf-8")
    assert load_config(path).service("api").interval == timedelta(seconds=5)
    path.write_text("services: []\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(f"{path}: services: must list")):
        load_config(path)


# ---- the shipped file ------------------------------------------------------------------------

def test_shipped_probes_yaml_loads() -> None:
    config = load_config(SHIPPED)
    assert config.service_names == ("self", "closed-port")
    own, closed = config.service("self"), config.service("closed-port")
    assert own.url == "http://127.0.0.1:8080/healthz"
    assert closed.url == "http://127.0.0.1:9/"
    assert own.interval == closed.interval == timedelta(seconds=15)
    assert own.expect.status_ok(200) and not own.expect.status_ok(204)
    assert own.expect.body_contains is not None and "ok" in own.expect.body_contains
    assert own.sla.target == 99.9 and own.sla.coverage.always
    assert config.site.title == "upwatch demo"
    assert config.maintenance == () and config.exclusions == ()


def test_shipped_examples_load_when_uncommented() -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    text = re.sub(r"^\s*(timezone: UTC|coverage: 24x7)\b.*\n", "", text, flags=re.M)
    text = re.sub(r"^(\s*)# (?=\s*(?:- |[a-z_]+:))", r"\1", text, flags=re.M)
    config = parse_config(text)
    sla = config.service("self").sla
    assert sla.timezone == "Europe/Copenhagen"
    assert sla.coverage.rules == (CoverageRule(days=WEEKDAYS, start_minute=540, end_minute=1020),)
    assert sla.coverage.holidays == ("DK",)
    assert sla.coverage.closed == (date(2026, 12, 24), date(2026, 12, 31))
    one_off, weekly = config.maintenance
    assert one_off.start == datetime(2026, 10, 1, 2, tzinfo=UTC)
    assert weekly.rrule is not None and weekly.duration == timedelta(hours=1)
    assert config.exclusions[0].reason.startswith("Upstream DNS")


@pytest.mark.parametrize("keys", [
    ("site", "location", "locations", "quorum", "central_url", "defaults", "services",
     "maintenance", "exclusions", "windows", "incident", "notifications", "subscriptions"),
    tuple(SiteConfig.model_fields), tuple(SubscriptionsConfig.model_fields),
    tuple(ServiceConfig.model_fields),
    tuple(f.alias or k for k, f in ExpectConfig.model_fields.items()),  # expect.json
    tuple(SlaConfig.model_fields), Coverage.yaml_keys,
    CoverageRule.yaml_keys, tuple(MaintenancePolicy.model_fields),
    tuple(MaintenanceWindowConfig.model_fields), tuple(ExclusionConfig.model_fields),
], ids=["top_level", "site", "subscriptions", "service", "expect", "sla", "coverage",
        "coverage_rule", "maintenance_policy", "maintenance_window", "exclusion"])
def test_every_key_is_documented(keys: tuple[str, ...]) -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert [k for k in keys if f"| `{k}`" not in text and f"`{k}`, `" not in text] == []


# ---- defaults --------------------------------------------------------------------------------

DEFAULTS = """\
defaults:
  interval: 30s
  retries: 2
  expect: {status: 2xx, max_latency: 2s}
  sla:
    target: 99.9
    timezone: Europe/Copenhagen
    coverage: {days: mon-fri, hours: "09:00-17:00", holidays: [DK]}
services:
  - {name: plain, url: "http://127.0.0.1:1/"}
  - name: own
    url: "http://127.0.0.1:2/"
    retries: 0
    expect: {body_contains: ok}
    sla: {target: 99.5}
  - name: coverage
    url: "http://127.0.0.1:3/"
    sla: {coverage: 24x7}
"""


def test_defaults_apply_and_merge_one_level() -> None:
    config = parse_config(DEFAULTS)
    plain, own, coverage = config.services
    assert plain.interval == own.interval == timedelta(seconds=30)
    assert (plain.retries, own.retries) == (2, 0)
    assert own.expect.status == (StatusRange(lo=200, hi=299),)
    assert own.expect.max_latency == timedelta(seconds=2)
    assert own.expect.body_contains == "ok"
    assert own.sla.target == 99.5
    assert own.sla.timezone == "Europe/Copenhagen"
    assert own.sla.coverage == plain.sla.coverage
    assert own.sla.coverage.holidays == ("DK",)
    assert coverage.sla.coverage.always and coverage.sla.coverage.holidays == ()
    assert coverage.sla.timezone == "Europe/Copenhagen"


@pytest.mark.parametrize(("keys", "timeout"), [
    ({}, timedelta(seconds=10)),
    ({"interval": "5s"}, timedelta(seconds=5)),
    ({"interval": "5s", "timeout": "2s"}, timedelta(seconds=2)),
    ({"interval": "2m"}, timedelta(seconds=10)),
], ids=["default", "short_interval", "explicit", "long_interval"])
def test_timeout_default_fits_the_interval(keys: dict[str, str], timeout: timedelta) -> None:
    assert parse_config(one(**keys)).services[0].timeout == timeout


# ---- coverage --------------------------------------------------------------------------------

@pytest.mark.parametrize(("coverage", "expected"), [
    ("24x7", Coverage()),
    ('"24/7"', Coverage()),
    ("{holidays: GB-ENG}", Coverage(always=True, holidays=("GB-ENG",))),
    ('{days: mon-fri, hours: "09:00-17:00"}',
     Coverage(always=False, rules=(CoverageRule(days=WEEKDAYS, start_minute=540,
                                                end_minute=1020),))),
    ('{days: [sat, sun], hours: "00:00-24:00", closed: 2026-12-24}',
     Coverage(always=False, rules=(CoverageRule(days=frozenset({5, 6})),),
              closed=(date(2026, 12, 24),))),
    ('{rules: [{days: mon-fri, hours: "09:00-18:00"}, '
     '{days: mon-fri, hours: "08:00-15:00", dates: "07-01..08-31"}], holidays: [es-md]}',
     Coverage(always=False, holidays=("ES-MD",), rules=(
         CoverageRule(days=WEEKDAYS, start_minute=540, end_minute=1080),
         CoverageRule(days=WEEKDAYS, start_minute=480, end_minute=900,
                      dates=DateRange(start=(7, 1), end=(8, 31)))))),
], ids=["24x7", "24_slash_7", "24x7_minus_holidays", "one_rule", "weekend_whole_days",
        "seasonal_rules"])
def test_coverage_forms(coverage: str, expected: Coverage) -> None:
    assert parse_config(one(sla=f"{{coverage: {coverage}}}")).services[0].sla.coverage == expected


@pytest.mark.parametrize(("days", "expected"), [
    ("mon-fri", {0, 1, 2, 3, 4}),
    ("sat,sun", {5, 6}),
    ("mon-sun", set(range(7))),
    (["mon", "wed"], {0, 2}),
    ("fri-mon", {4, 5, 6, 0}),
    ("Monday, thu", {0, 3}),
    ("sun", {6}),
], ids=["weekdays", "weekend", "all", "list", "wraps", "full_names", "single"])
def test_days(days: object, expected: set[int]) -> None:
    assert CoverageRule.model_validate({"days": days}).days == frozenset(expected)


@pytest.mark.parametrize(("hours", "start", "end"), [
    ("09:00-17:00", 540, 1020),
    ("9:30 - 12:15", 570, 735),
    ("00:00-24:00", 0, 1440),
    ("23:59-24:00", 1439, 1440),
], ids=["office", "loose_spacing", "whole_day", "last_minute"])
def test_hours(hours: str, start: int, end: int) -> None:
    rule = CoverageRule.model_validate({"hours": hours})
    assert (rule.start_minute, rule.end_minute) == (start, end)
    assert rule.hours == f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"


@pytest.mark.parametrize(("text", "inside", "outside"), [
    ("07-01..08-31", [date(2026, 7, 1), date(2026, 8, 31)], [date(2026, 6, 30), date(2026, 9, 1)]),
    ("12-15..01-15", [date(2026, 12, 15), date(2026, 12, 31), date(2027, 1, 1),
                      date(2027, 1, 15)], [date(2026, 12, 14), date(2027, 1, 16)]),
    ("12-24..12-24", [date(2026, 12, 24)], [date(2026, 12, 23), date(2026, 12, 25)]),
    ("02-29..03-01", [date(2028, 2, 29), date(2027, 3, 1)], [date(2027, 2, 28)]),
], ids=["summer", "wraps_the_year", "one_day", "leap_day"])
def test_date_range_contains(text: str, inside: list[date], outside: list[date]) -> None:
    dates = DateRange.model_validate(text)
    assert str(dates) == text
    assert all(dates.contains(d) for d in inside)
    assert not any(dates.contains(d) for d in outside)


def test_dated_rules_replace_undated_rules_on_their_dates() -> None:
    normal = CoverageRule.model_validate({"days": "mon-fri", "hours": "09:00-18:00"})
    summer = CoverageRule.model_validate(
        {"days": "mon-fri", "hours": "08:00-15:00", "dates": "07-01..08-31"})
    coverage = Coverage(rules=(normal, summer), always=False)
    assert coverage.rules_for(date(2026, 6, 30)) == (normal,)
    assert coverage.rules_for(date(2026, 7, 1)) == (summer,)


# ---- expect ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("status", "ok", "not_ok"), [
    (None, [200, 302, 399], [199, 400, 500]),
    (200, [200], [201, 204]),
    ("2xx", [200, 299], [199, 300]),
    ("200-204", [200, 204], [205]),
    ([200, "3xx", "404-404"], [200, 301, 404], [201, 403, 405]),
], ids=["default", "code", "class", "range", "list"])
def test_status_ranges(status: object, ok: list[int], not_ok: list[int]) -> None:
    expect = ExpectConfig.model_validate({} if status is None else {"status": status})
    assert all(expect.status_ok(code) for code in ok)
    assert not any(expect.status_ok(code) for code in not_ok)


def test_expect_latency_and_service_helpers() -> None:
    config = parse_config(one(expect="{max_latency: 250ms}", interval="1m30s"))
    service = config.service("api")
    assert service.expect.max_latency_ms == 250.0
    assert ExpectConfig().max_latency_ms is None
    assert service.interval_ms == 90_000
    assert service.title == "api" and service.method == "GET"
    with pytest.raises(KeyError):
        config.service("nope")


def test_service_values_are_normalised() -> None:
    service = parse_config(one(method="post", max_body_bytes="512KiB",
                               headers="{X-Token: 12, Accept: text/plain}")).services[0]
    assert service.method == "POST"
    assert service.max_body_bytes == 512 * 1024
    assert dict(service.headers) == {"X-Token": "12", "Accept": "text/plain"}


# ---- durations -------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("500ms", timedelta(milliseconds=500)),
    ("30s", timedelta(seconds=30)),
    ("5m", timedelta(minutes=5)),
    ("2h", timedelta(hours=2)),
    ("7d", timedelta(days=7)),
    ("1h30m", timedelta(minutes=90)),
    ("1.5h", timedelta(minutes=90)),
    ("2d3h4m5s6ms7us", timedelta(days=2, hours=3, minutes=4, seconds=5, milliseconds=6,
                                 microseconds=7)),
    (15, timedelta(seconds=15)),
    (0.25, timedelta(milliseconds=250)),
    ("45", timedelta(seconds=45)),
    (" 10s ", timedelta(seconds=10)),
], ids=["ms", "s", "m", "h", "d", "h_m", "fraction", "every_unit", "int", "float", "number_text",
        "spaces"])
def test_parse_duration(text: str | int | float, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["5 minutes", "", "m", "30m1h", "1h1h", "-5s", "1x", True, -1],
                         ids=["words", "empty", "unit_only", "wrong_order", "repeated",
                              "negative_text", "unknown_unit", "bool", "negative"])
def test_parse_duration_rejects(text: str | int) -> None:
    with pytest.raises(ValueError, match=r'^expected a duration like "30s", "5m" or "1h", got '):
        parse_duration(text)


@pytest.mark.parametrize(("td", "text"), [
    (timedelta(0), "0s"),
    (timedelta(seconds=30), "30s"),
    (timedelta(minutes=90), "1h30m"),
    (timedelta(days=7), "7d"),
    (timedelta(milliseconds=1500), "1s500ms"),
    (timedelta(microseconds=1), "1us"),
    (timedelta(seconds=-30), "-30s"),
], ids=["zero", "seconds", "hours_minutes", "days", "milliseconds", "microsecond", "negative"])
def test_format_duration(td: timedelta, text: str) -> None:
    assert format_duration(td) == text


@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=10_000)))
def test_durations_round_trip(td: timedelta) -> None:
    assert parse_duration(format_duration(td)) == td


# ---- points in time --------------------------------------------------------------------------

def test_times_are_stored_in_utc() -> None:
    config = parse_config(one() + "exclusions:\n  - {services: api, reason: CDN, "
                          'start: "2026-10-01T04:00:00+02:00", end: 2026-10-01T03:00:00Z, '
                          "declared_at: 2026-10-02 09:00:00Z}\n")
    exclusion = config.exclusions[0]
    assert exclusion.start == datetime(2026, 10, 1, 2, tzinfo=UTC)
    assert exclusion.start.utcoffset() == timedelta(0)
    assert exclusion.declared_at == datetime(2026, 10, 2, 9, tzinfo=UTC)
    assert exclusion.services == ("api",)


def test_maintenance_forms() -> None:
    window = ("{services: [api], title: Upgrade, start: 2026-10-01T02:00:00Z, "
              "end: 2026-10-01T03:00:00Z}")
    listed = parse_config(one() + f"maintenance:\n  - {window}\n")
    mapped = parse_config(one() + f"maintenance:\n  min_notice: 48h\n  windows: [{window}]\n")
    assert listed.maintenance == mapped.maintenance
    assert listed.maintenance_policy.max_duration == timedelta(days=7)
    assert listed.maintenance_policy.min_notice == timedelta(0)
    assert mapped.maintenance_policy.min_notice == timedelta(hours=48)
    recurring = parse_config(one() + "maintenance:\n  - {services: api, title: Patching, "
                             "rrule: FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0, duration: 1h, "
                             "timezone: Europe/London}\n").maintenance[0]
    assert (recurring.start, recurring.end) == (None, None)
    assert recurring.timezone == "Europe/London"


# ---- models ----------------------------------------------------------------------------------

def test_models_are_frozen_and_hashable() -> None:
    config = parse_config(one(headers="{X-A: b}", sla='{coverage: {days: mon, holidays: [DK]}}'))
    service = config.services[0]
    with pytest.raises(ValidationError, match="frozen"):
        service.interval = timedelta(seconds=1)
    with pytest.raises(ValidationError, match="frozen"):
        config.site.title = "x"
    with pytest.raises(ValidationError, match="frozen"):
        service.sla.coverage.rules[0].start_minute = 1
    with pytest.raises(TypeError):
        service.headers["X-B"] = "c"  # type: ignore[index]
    assert hash(service.sla.coverage) == hash(parse_config(one(
        sla='{coverage: {days: mon, holidays: [DK]}}')).services[0].sla.coverage)
    assert hash(config) == hash(parse_config(one(
        headers="{X-A: b}", sla='{coverage: {days: mon, holidays: [DK]}}')))


def test_models_can_be_built_in_python() -> None:
    service = ServiceConfig.model_validate(
        {"name": "api", "url": "http://127.0.0.1:1/", "interval": "2s",
         "expect": {"status": "2xx"}})
    assert service.timeout == timedelta(seconds=2)
    assert service.expect.status_ok(204)
    config = Config(services=(service,))
    assert config.service("api") is service
    with pytest.raises(ValidationError, match="must be at least 1s"):
        ServiceConfig(name="api", url="http://127.0.0.1:1/", interval=timedelta(0))


# ---- default paths ---------------------------------------------------------------------------

@pytest.mark.parametrize(("env", "config", "db"), [
    ({}, "probes.yaml", "upwatch.db"),
    ({"UPWATCH_CONFIG": "/etc/upwatch/probes.yaml", "UPWATCH_DB": "/var/lib/upwatch.db"},
     "/etc/upwatch/probes.yaml", "/var/lib/upwatch.db"),
    ({"UPWATCH_CONFIG": "", "UPWATCH_DB": ""}, "probes.yaml", "upwatch.db"),
], ids=["unset", "set", "empty"])
def test_default_paths(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], config: str,
                       db: str) -> None:
    monkeypatch.delenv("UPWATCH_CONFIG", raising=False)
    monkeypatch.delenv("UPWATCH_DB", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert default_config_path() == Path(config)
    assert default_db_path() == Path(db)
