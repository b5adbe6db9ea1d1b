"""``incident:`` and ``notifications:`` in probes.yaml: models, exact errors, the policy and the
channels built from them, and the documentation's examples."""

from __future__ import annotations

import re
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiohttp import ClientSession

from monitor.config import ConfigError, Coverage, parse_config
from monitor.config.incident import (
    BusinessHours,
    EmailChannelConfig,
    IncidentConfig,
    Severities,
    SlackChannelConfig,
    WebhookChannelConfig,
)
from monitor.core.clock import FakeClock
from monitor.core.incidents import Impact, IncidentPolicy
from monitor.incidents.detection import policy_from_config
from monitor.notify import ChannelSetupError, Event
from monitor.notify.channels import channels_from_config
from monitor.notify.email import EmailChannel
from monitor.notify.slack import SlackChannel
from monitor.notify.webhook import WebhookChannel

DOCS = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
SERVICES = 'services:\n  - {name: api, url: "http://127.0.0.1:9/"}\n'
T0 = datetime(2026, 10, 1, tzinfo=UTC)
EVENT = Event("e", "state", T0, "t")
HOOK = '{name: ops, kind: webhook, url: "http://127.0.0.1:9/h"}'


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(SERVICES + textwrap.dedent(text))
    return list(caught.value.problems)


def doc_example(heading: str) -> str:
    """The first ```yaml block under ``## `heading` `` in configuration.md."""
    text = DOCS.read_text(encoding="utf-8")
    section = text.split(f"## `{heading}`", 1)[1]
    return re.search(r"```yaml\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


def test_defaults_when_left_out() -> None:
    config = parse_config(SERVICES)
    assert config.incident == IncidentConfig()
    assert config.notifications == ()
    assert policy_from_config(config) == IncidentPolicy()


def test_documented_examples_load() -> None:
    config = parse_config(SERVICES + doc_example("incident") + doc_example("notifications"))
    inc = config.incident
    assert (inc.open_after, inc.resolve_after) == (3, 10)
    assert inc.severities == Severities(critical="P1", major="P2", minor="P3")
    assert inc.targets() == {"P1": timedelta(minutes=30), "P2": timedelta(hours=4)}
    assert inc.business_hours.tz == ZoneInfo("Europe/Copenhagen")
    assert inc.business_hours.coverage.holidays == ("DK",)
    hook, slack, mail = config.notifications
    assert isinstance(hook, WebhookChannelConfig) and hook.secret_env == "UPWATCH_HOOK_SECRET"
    assert hook.events == {"state", "incident", "maintenance"}
    assert isinstance(slack, SlackChannelConfig) and slack.events == {"incident", "maintenance"}
    assert slack.endpoint == "https://hooks.slack.com"
    assert isinstance(mail, EmailChannelConfig)
    assert (mail.sender, mail.to, mail.port, mail.starttls) == (
        "upwatch <status@example.com>", ("ops@example.com",), 587, True)
    assert mail.endpoint == "smtp://smtp.example.com:587"


@pytest.mark.parametrize(("text", "expected"), [
    ("incident: {open_after: 0}\n",
     ["incident.open_after: must be at least 1 minute, got 0"]),
    ("incident: {open_after: 90s, resolve_after: -1}\n",
     ['incident.open_after: must be a whole number of minutes, got "90s"',
      "incident.resolve_after: must be at least 0 minutes, got -1"]),
    ("incident: {open_after: soon}\n",
     ['incident.open_after: expected minutes like 2 or "5m", got "soon"']),
    ("incident: {severities: {minor: '', huge: x}}\n",
     ["incident.severities.minor: must not be empty",
      "incident.severities.huge: unknown key (allowed: critical, major, minor)"]),
    ("incident: {severities: {critical: P1, major: P2, minor: P3}, "
     "response_targets: {P4: 1h}}\n",
     ['incident.response_targets.P4: unknown severity "P4" (severities: "P1", "P2", "P3")']),
    ("incident: {response_targets: {severity 1: 0s}}\n",
     ['incident.response_targets.severity 1: must be more than 0s, got "0s"']),
    ("incident: {business_hours: {timezone: Mars/Base, coverage: {days: mon-fry}}}\n",
     ['incident.business_hours.timezone: unknown time zone "Mars/Base"',
      'incident.business_hours.coverage.days: expected days like "mon-fri", "sat,sun" or '
      '["mon", "wed"], got "mon-fry"']),
    ("notifications: x\n", ['notifications: expected a list, got "x"']),
    ("notifications: [3]\n", ["notifications[0]: expected a mapping (key: value), got 3"]),
    ("notifications: [{name: a, url: 'http://x.example/'}]\n",
     ["notifications[0].kind: required but missing (webhook, slack, email)"]),
    ("notifications: [{name: a, kind: sms}]\n",
     ['notifications[0].kind: unknown kind "sms" (kinds: webhook, slack, email)']),
    ("notifications: [{name: a, kind: webhook, url: 'http://x.example/', secret: abc}]\n",
     ["notifications[0].secret: secrets do not go in probes.yaml: put it in an environment "
      "variable and name that with secret_env"]),
    ("notifications: [{name: a, kind: slack, url: 'http://x.example/', secret_env: S}]\n",
     ["notifications[0].secret_env: unknown key (allowed: events, kind, name, url)"]),
    ("notifications: [{name: A, kind: webhook, url: 'ftp://x', secret_env: 'a-b', "
     "events: [state, pager]}]\n",
     ['notifications[0].name: must be 1-64 lowercase letters, digits, ".", "_" or "-", '
      'starting with a letter or digit, got "A"',
      'notifications[0].url: expected an http:// or https:// URL with a host, got "ftp://x"',
      'notifications[0].secret_env: expected the name of an environment variable (letters, '
      'digits and _), got "a-b"',
      'notifications[0].events[1]: unknown event kind "pager" (kinds: state, incident, '
      'maintenance, location)']),
    ("notifications: [{name: a, kind: slack, url: 'http://x.example/', events: []}]\n",
     ["notifications[0].events: must name at least one event kind (state, incident, "
      "maintenance, location)"]),
    ("notifications: [{name: m, kind: email, host: h, sender: a@b.example, to: []}]\n",
     ["notifications[0].sender: unknown key (allowed: events, from, host, kind, name, "
      "password_env, port, starttls, to, username_env)"]),
    ("notifications: [{name: m, kind: email, host: h, from: nobody, to: [], port: 0}]\n",
     ["notifications[0].port: must be between 1 and 65535, got 0",
      'notifications[0].from: expected an email address like "ops@example.com", got "nobody"',
      "notifications[0].to: must list at least one address"]),
    ("notifications: [{name: m, kind: email, host: h, from: a@b.example, to: c@d.example, "
     "password_env: P}]\n",
     ["notifications[0].username_env: required with password_env (auth needs both)"]),
    ("notifications: [{name: m, kind: email, host: h, from: a@b.example, to: c@d.example, "
     "username_env: U, password_env: P, starttls: false}]\n",
     ["notifications[0].starttls: must be true when username_env is set (the password would "
      "cross the network in clear)"]),
    (f"notifications: [{HOOK}, {{name: b, kind: slack, url: 'http://x.example/'}}, {HOOK}]\n",
     ['notifications[2].name: duplicate channel name "ops" (also notifications[0])']),
], ids=["open_after_zero", "minutes_whole_and_positive", "minutes_text", "severities",
        "target_unknown_severity", "target_zero", "business_hours", "not_a_list",
        "not_a_mapping", "kind_missing", "kind_unknown", "secret_inline", "slack_has_no_secret",
        "webhook_fields", "events_empty", "email_from_not_sender", "email_fields",
        "auth_needs_both", "auth_needs_starttls", "duplicate_names"])
def test_error_messages(text: str, expected: list[str]) -> None:
    assert problems(text) == [f"probes.yaml: {line}" for line in expected]


@pytest.mark.parametrize(("incident", "severities", "targets"), [
    ("{}", {Impact.CRITICAL: "severity 1", Impact.MAJOR: "severity 2",
            Impact.MINOR: "severity 3", Impact.NONE: "severity 3"},
     {"severity 1": timedelta(hours=1), "severity 2": timedelta(hours=4),
      "severity 3": timedelta(hours=8)}),
    ("{severities: {critical: P1, major: P2, minor: P3}}",
     {Impact.CRITICAL: "P1", Impact.MAJOR: "P2", Impact.MINOR: "P3", Impact.NONE: "P3"},
     {"P1": timedelta(hours=1), "P2": timedelta(hours=4), "P3": timedelta(hours=8)}),
    ("{severities: {critical: urgent, major: urgent, minor: low}}",
     {Impact.CRITICAL: "urgent", Impact.MAJOR: "urgent", Impact.MINOR: "low",
      Impact.NONE: "low"},
     {"urgent": timedelta(hours=1), "low": timedelta(hours=8)}),
    ("{response_targets: {severity 1: 15m}}",
     {Impact.CRITICAL: "severity 1", Impact.MAJOR: "severity 2", Impact.MINOR: "severity 3",
      Impact.NONE: "severity 3"}, {"severity 1": timedelta(minutes=15)}),
], ids=["seeds_default", "renamed_keep_seed_targets", "shared_name_takes_tighter",
        "explicit_targets_replace"])
def test_policy_from_config(incident: str, severities: dict[Impact, str],
                            targets: dict[str, timedelta]) -> None:
    config = parse_config(SERVICES + f"incident: {incident}\n")
    policy = policy_from_config(config)
    assert dict(policy.severities) == severities
    assert dict(policy.response_targets) == targets
    assert policy_from_config(config.incident) == policy


def test_policy_thresholds_reach_the_detector() -> None:
    policy = policy_from_config(parse_config(SERVICES + "incident: {open_after: 1h, "
                                                        "resolve_after: 0}\n"))
    assert (policy.open_after, policy.resolve_after) == (60, 0)


MIXED = SERVICES + """\
notifications:
  - {name: hook, kind: webhook, url: "http://127.0.0.1:9/h", secret_env: HOOK_SECRET,
     events: state}
  - {name: plain, kind: webhook, url: "http://127.0.0.1:9/p"}
  - {name: slack, kind: slack, url: "http://127.0.0.1:9/s", events: [incident]}
  - {name: mail, kind: email, host: 127.0.0.1, from: a@example.com, to: b@example.com,
     username_env: SMTP_USER, password_env: SMTP_PASSWORD}
"""


async def test_channels_from_config() -> None:
    config = parse_config(MIXED)
    env = {"HOOK_SECRET": "k", "SMTP_USER": "u", "SMTP_PASSWORD": "p"}
    async with ClientSession() as session:
        hook, plain, slack, mail = channels_from_config(config, session, FakeClock(T0), env)
    assert [type(c) for c in (hook, plain, slack, mail)] == [
        WebhookChannel, WebhookChannel, SlackChannel, EmailChannel]
    assert [c.name for c in (hook, plain, slack, mail)] == ["hook", "plain", "slack", "mail"]
    assert hook.events == {"state", "test"}
    assert slack.events == {"incident", "test"}
    assert mail.events == {"state", "incident", "maintenance", "location", "test"}
    assert isinstance(hook, WebhookChannel) and isinstance(plain, WebhookChannel)
    assert "X-Upwatch-Signature" in hook.headers(EVENT, b"{}", "k")
    assert "X-Upwatch-Signature" not in plain.headers(EVENT, b"{}", "k")


async def test_every_missing_variable_is_listed() -> None:
    async with ClientSession() as session:
        with pytest.raises(ChannelSetupError) as err:
            channels_from_config(parse_config(MIXED), session, FakeClock(T0),
                                 {"SMTP_USER": "u"})
    assert str(err.value).splitlines() == [
        'notifications: channel "hook": environment variable HOOK_SECRET is not set (it holds '
        "the channel's secret)",
        'notifications: channel "mail": environment variable SMTP_PASSWORD is not set (it holds '
        "the channel's secret)",
    ]


@pytest.mark.parametrize("keys", [
    tuple(IncidentConfig.model_fields), tuple(Severities.model_fields),
    tuple(BusinessHours.model_fields), WebhookChannelConfig.yaml_keys,
    SlackChannelConfig.yaml_keys, EmailChannelConfig.yaml_keys,
], ids=["incident", "severities", "business_hours", "webhook", "slack", "email"])
def test_every_key_is_documented(keys: tuple[str, ...]) -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert [k for k in keys if f"| `{k}`" not in text and f"`{k}`, `" not in text] == []


def test_business_hours_default_is_24x7_utc() -> None:
    hours = IncidentConfig().business_hours
    assert hours.coverage == Coverage() and hours.tz == ZoneInfo("UTC")
