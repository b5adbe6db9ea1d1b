"""``incident:`` and ``notifications:`` in probes.yaml: detection thresholds, severity names,
response targets, and the channels notifications go to.

Secrets never sit in the file: a channel names the environment variables that hold them
(``secret_env``, ``username_env``, ``password_env``). :func:`monitor.notify.channels
.channels_from_config` reads them when the channels are built.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from email.utils import parseaddr
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, model_validator

from monitor.config.coverage import Coverage
from monitor.config.durations import POSITIVE, Duration, invalid, parse_duration, show
from monitor.config.fields import MODEL_CONFIG, Text, TimeZone
from monitor.config.service import Name, Url

__all__ = [
    "CHANNEL_KINDS", "NOTIFY_EVENTS", "BusinessHours", "Channels", "EmailChannelConfig",
    "IncidentConfig", "NotificationChannelConfig", "Severities", "SlackChannelConfig",
    "WebhookChannelConfig",
]

CHANNEL_KINDS = ("webhook", "slack", "email")
NOTIFY_EVENTS = ("state", "incident", "maintenance", "location")
NotifyEvent = Literal["state", "incident", "maintenance", "location"]

#: The seeds' first-response targets, by impact: severity 1 → 1 h, 2 → 4 h, 3 → 8 h.
DEFAULT_TARGETS = {"critical": timedelta(hours=1), "major": timedelta(hours=4),
                   "minor": timedelta(hours=8)}


def _minutes(least: int) -> BeforeValidator:
    """Whole minutes: ``2`` or duration text in whole minutes ("5m", "1h")."""

    def check(value: object) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            minutes = value
        elif isinstance(value, str):
            try:
                span = parse_duration(value)
            except ValueError:
                raise invalid(f'expected minutes like 2 or "5m", got {show(value)}') from None
            if span % timedelta(minutes=1):
                raise invalid(f"must be a whole number of minutes, got {show(value)}")
            minutes = span // timedelta(minutes=1)
        else:
            raise invalid(f'expected minutes like 2 or "5m", got {show(value)}')
        if minutes < least:
            raise invalid(f"must be at least {least} minute{'s' * (least != 1)}, got {show(value)}")
        return minutes
    return BeforeValidator(check)


class Severities(BaseModel):
    """The severity name for each impact (the seeds' "severity 1" … "severity 3")."""

    model_config = MODEL_CONFIG
    minor: Text = "severity 3"
    major: Text = "severity 2"
    critical: Text = "severity 1"

    def by_impact(self) -> dict[str, str]:
        return {"critical": self.critical, "major": self.major, "minor": self.minor}


class BusinessHours(BaseModel):
    """The calendar response targets are counted in (same forms as ``sla.coverage``)."""

    model_config = MODEL_CONFIG
    timezone: TimeZone = "UTC"
    coverage: Coverage = Coverage()

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _targets(value: object) -> object:
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    return value


class IncidentConfig(BaseModel):
    """``incident:``: when the detector opens and resolves incidents, and response targets."""

    model_config = MODEL_CONFIG
    open_after: Annotated[int, _minutes(1)] = 2
    resolve_after: Annotated[int, _minutes(0)] = 5
    severities: Severities = Severities()
    # None: the seeds' targets (1 h / 4 h / 8 h) under the configured severity names
    response_targets: Annotated[dict[str, Annotated[Duration, POSITIVE]] | None,
                                BeforeValidator(_targets)] = None
    business_hours: BusinessHours = BusinessHours()

    @model_validator(mode="after")
    def _known_severities(self) -> IncidentConfig:
        names = list(dict.fromkeys(self.severities.by_impact().values()))
        for name in self.response_targets or {}:
            if name not in names:
                listed = ", ".join(f'"{n}"' for n in names)
                raise invalid(f"unknown severity {show(name)} (severities: {listed})",
                              "response_targets", name)
        return self

    def targets(self) -> dict[str, timedelta]:
        """Business time allowed until the first human update, per severity name."""
        if self.response_targets is not None:
            return dict(self.response_targets)
        named = self.severities.by_impact()
        out: dict[str, timedelta] = {}
        for impact in ("minor", "major", "critical"):  # the tighter target wins a shared name
            out[named[impact]] = DEFAULT_TARGETS[impact]
        return out


_ENV = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INLINE_SECRETS = ("secret", "password", "username", "token")


def _env_name(value: object) -> object:
    if isinstance(value, str) and not _ENV.fullmatch(value):
        raise invalid("expected the name of an environment variable (letters, digits and _), "
                      f"got {show(value)}")
    return value


EnvName = Annotated[str, AfterValidator(_env_name)]


def _events(value: object) -> object:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        return value
    if not items:
        raise invalid(f"must name at least one event kind ({', '.join(NOTIFY_EVENTS)})")
    for index, item in enumerate(items):
        if item not in NOTIFY_EVENTS:
            raise invalid(f"unknown event kind {show(item)} (kinds: {', '.join(NOTIFY_EVENTS)})",
                          index)
    return frozenset(items)


Events = Annotated[frozenset[NotifyEvent], BeforeValidator(_events)]
ALL_EVENTS: frozenset[NotifyEvent] = frozenset(("state", "incident", "maintenance", "location"))


def _address(value: object) -> object:
    if not isinstance(value, str):
        return value
    _, address = parseaddr(value)
    local, _, domain = address.rpartition("@")
    if "\n" in value or "\r" in value or not local or "." not in domain:
        raise invalid(f'expected an email address like "ops@example.com", got {show(value)}')
    return value.strip()


Address = Annotated[str, AfterValidator(_address)]


def _port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise invalid(f"must be between 1 and 65535, got {value}")
    return value


def _addresses(value: object) -> object:
    items = [value] if isinstance(value, str) else value
    if isinstance(items, list | tuple) and not items:
        raise invalid("must list at least one address")
    return items


class _ChannelBase(BaseModel):
    model_config = MODEL_CONFIG
    yaml_keys: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for key in data:
            if key in cls.yaml_keys:
                continue
            if key in _INLINE_SECRETS:
                raise invalid("secrets do not go in probes.yaml: put it in an environment "
                              f"variable and name that with {key}_env"
                              if f"{key}_env" in cls.yaml_keys else
                              f"unknown key (allowed: {', '.join(sorted(cls.yaml_keys))})", key)
            raise invalid(f"unknown key (allowed: {', '.join(sorted(cls.yaml_keys))})", key)
        return data


class WebhookChannelConfig(_ChannelBase):
    """Signed JSON POSTs (``monitor.notify.webhook``)."""

    yaml_keys: ClassVar[tuple[str, ...]] = ("name", "kind", "url", "secret_env", "events")
    name: Name
    kind: Literal["webhook"]
    url: Url
    secret_env: EnvName | None = None
    events: Events = ALL_EVENTS

    @property
    def endpoint(self) -> str:
        """Where it sends, safe to print (scheme and host only)."""
        return _origin(self.url)


class SlackChannelConfig(_ChannelBase):
    """A Slack-compatible incoming webhook (``monitor.notify.slack``)."""

    yaml_keys: ClassVar[tuple[str, ...]] = ("name", "kind", "url", "events")
    name: Name
    kind: Literal["slack"]
    url: Url
    events: Events = ALL_EVENTS

    @property
    def endpoint(self) -> str:
        """Scheme and host only: a Slack URL's path is its secret."""
        return _origin(self.url)


class EmailChannelConfig(_ChannelBase):
    """Mail over SMTP (``monitor.notify.email``). YAML ``from`` is :attr:`sender`."""

    model_config = MODEL_CONFIG | {"validate_by_alias": True, "validate_by_name": False}
    yaml_keys: ClassVar[tuple[str, ...]] = ("name", "kind", "host", "port", "starttls",
                                            "username_env", "password_env", "from", "to",
                                            "events")
    name: Name
    kind: Literal["email"]
    host: Annotated[Text, AfterValidator(lambda h: h.strip())]
    port: Annotated[int, AfterValidator(_port)] = 587
    starttls: bool = True
    username_env: EnvName | None = None
    password_env: EnvName | None = None
    sender: Annotated[Address, Field(alias="from")]
    to: Annotated[tuple[Address, ...], BeforeValidator(_addresses)]
    events: Events = ALL_EVENTS

    @model_validator(mode="after")
    def _auth(self) -> EmailChannelConfig:
        if (self.username_env is None) != (self.password_env is None):
            missing = "password_env" if self.password_env is None else "username_env"
            raise invalid("required with " + ("username_env" if missing == "password_env"
                                              else "password_env") + " (auth needs both)",
                          missing)
        if self.username_env is not None and not self.starttls:
            raise invalid("must be true when username_env is set (the password would cross "
                          "the network in clear)", "starttls")
        return self

    @property
    def endpoint(self) -> str:
        return f"smtp://{self.host}:{self.port}"


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0].rpartition('@')[2]}"


def _kind(value: object) -> object:
    if not isinstance(value, dict):
        raise invalid(f"expected a mapping (key: value), got {show(value)}")
    if "kind" not in value:
        raise invalid(f"required but missing ({', '.join(CHANNEL_KINDS)})", "kind")
    if value["kind"] not in CHANNEL_KINDS:
        raise invalid(f"unknown kind {show(value['kind'])} (kinds: {', '.join(CHANNEL_KINDS)})",
                      "kind")
    return value


NotificationChannelConfig = Annotated[
    WebhookChannelConfig | SlackChannelConfig | EmailChannelConfig,
    Field(discriminator="kind"), BeforeValidator(_kind)]


def _unique(channels: Sequence[WebhookChannelConfig | SlackChannelConfig | EmailChannelConfig]
            ) -> Sequence[WebhookChannelConfig | SlackChannelConfig | EmailChannelConfig]:
    first: dict[str, int] = {}
    for index, channel in enumerate(channels):
        if channel.name in first:
            raise invalid(f"duplicate channel name {show(channel.name)} "
                          f"(also notifications[{first[channel.name]}])", index, "name")
        first[channel.name] = index
    return channels


Channels = Annotated[tuple[NotificationChannelConfig, ...], AfterValidator(_unique)]
