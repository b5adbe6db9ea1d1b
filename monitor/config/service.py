"""The per-service and status-page models of probes.yaml, with their value checks.

:class:`ServiceConfig` (one monitored endpoint of a ``kind``: an HTTP(S) URL, a TCP port or a
TLS handshake, with its :class:`ExpectConfig` and :class:`StatusRange` list) and
:class:`SiteConfig`; which keys each kind takes is :mod:`monitor.config.kinds`'s, the top-level
model is in :mod:`monitor.config.model`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from ipaddress import ip_address
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import regex
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    field_validator,
    model_validator,
)

from monitor.config.assertions import (
    HeaderExpectation,
    JsonAssertion,
    parse_header_expectations,
    parse_json_assertions,
)
from monitor.config.branding import check_color, file_check
from monitor.config.durations import (
    POSITIVE,
    Duration,
    at_least,
    format_duration,
    invalid,
    parse_duration,
    parse_size,
    show,
)
from monitor.config.fields import MODEL_CONFIG, Day, Text, TimeZone
from monitor.config.kinds import (
    DEFAULT_CERT_VALID_FOR,
    DEFAULT_GRACE,
    SERVICE_KEYS,
    Kind,
    StartTls,
    check_expect_keys,
    check_kind,
    check_push,
    refuse_foreign,
    require,
)
from monitor.config.lookups import (
    RecordType,
    answer_problem,
    check_answers,
    check_rcode,
    check_record,
)
from monitor.config.schedule import check_schedule
from monitor.config.sla import SlaConfig

__all__ = ["LANGUAGES", "METHODS", "ExpectConfig", "FrozenHeaders", "Int", "Name", "Quorum",
           "ServiceConfig", "SiteConfig", "StatusRange", "Url"]


def _whole(value: object) -> object:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise invalid(f"expected a whole number, got {show(value)}")
    return value


def _between(lo: int, hi: int) -> AfterValidator:
    def check(value: int) -> int:
        if not lo <= value <= hi:
            raise invalid(f"must be between {lo} and {hi}, got {value}")
        return value
    return AfterValidator(check)


_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


def _name(value: object) -> object:
    if isinstance(value, str) and not _NAME.fullmatch(value):
        raise invalid('must be 1-64 lowercase letters, digits, ".", "_" or "-", starting with '
                      f"a letter or digit, got {show(value)}")
    return value


def _url(value: object) -> object:
    if value is None or not isinstance(value, str):
        return value
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 -- raises on a bad port
    except ValueError:
        parts = parts._replace(netloc="")
    if parts.scheme not in ("http", "https") or not parts.hostname or any(
            c.isspace() for c in value):
        raise invalid(f"expected an http:// or https:// URL with a host, got {show(value)}")
    return value


_HOST_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,62}(?:\.[A-Za-z0-9_-]{1,63})*\.?")


def _host(value: object) -> object:
    """A DNS name or an IP address (IPv6 with or without brackets), without scheme or port."""
    if not isinstance(value, str):
        return value
    bare = value[1:-1] if value.startswith("[") and value.endswith("]") else value
    try:
        return str(ip_address(bare))
    except ValueError:
        pass
    if len(value) > 253 or not _HOST_NAME.fullmatch(value):
        raise invalid("expected a host name or IP address, without scheme or port (the port "
                      f"is its own key), got {show(value)}")
    return value


def _not_empty(value: object) -> object:
    if value == "":
        raise invalid("must not be empty")
    return value


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _method(value: object) -> object:
    if not isinstance(value, str):
        return value
    if value.strip().upper() not in METHODS:
        raise invalid(f"unknown method {show(value)} (use one of {', '.join(METHODS)})")
    return value.strip().upper()


class FrozenHeaders(dict[str, str]):
    """A read-only, hashable dict of HTTP headers."""

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items())))

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenHeaders, (dict(self),))

    def _read_only(self, *args: object, **kwargs: object) -> Any:
        raise TypeError("headers are read-only")

    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _headers(value: object) -> FrozenHeaders:
    if value is None:
        return FrozenHeaders()
    if not isinstance(value, Mapping):
        raise invalid(f"expected a mapping of header names to values, got {show(value)}")
    headers = {}
    for name, raw in value.items():
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise invalid(f"invalid header name {show(name)}")
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            raise invalid(f"expected text, got {show(raw)}", name)
        if "\n" in str(raw) or "\r" in str(raw):
            raise invalid("must be a single line", name)
        headers[name] = str(raw)
    return FrozenHeaders(headers)


def _language(value: object) -> object:
    if value not in LANGUAGES:
        raise invalid(f"must be one of {', '.join(LANGUAGES)}, got {show(value)}")
    return value


def _at_least_one(value: int) -> int:
    if value < 1:
        raise invalid(f"must be at least 1, got {value}")
    return value


def _location_list(value: object) -> object:
    names = [value] if isinstance(value, str) else value
    if isinstance(names, list | tuple) and not names:
        raise invalid("must name at least one location (leave locations out to probe the service "
                      "from every location)")
    return names


def _once_each(names: tuple[str, ...] | None) -> tuple[str, ...] | None:
    first: dict[str, int] = {}
    for index, name in enumerate(names or ()):
        if name in first:
            raise invalid(f"location {show(name)} is listed twice (also locations[{first[name]}])",
                          index)
        first[name] = index
    return names


Int = Annotated[int, BeforeValidator(_whole)]
Name = Annotated[str, AfterValidator(_name)]
Url = Annotated[str, AfterValidator(_url)]
Host = Annotated[str, AfterValidator(_host)]
#: How many locations must agree on a result: a whole number, at least 1.
Quorum = Annotated[Int, AfterValidator(_at_least_one)]
LANGUAGES = ("en", "de", "da", "it", "es")


class StatusRange(BaseModel):
    """HTTP status codes ``lo..hi`` inclusive. YAML: ``200``, ``"2xx"`` or ``"200-299"``."""

    model_config = MODEL_CONFIG
    lo: int
    hi: int

    @model_validator(mode="before")
    @classmethod
    def _from_yaml(cls, data: Any) -> Any:
        if isinstance(data, int) and not isinstance(data, bool):
            data = str(data)
        if isinstance(data, dict):
            return data
        text = data.strip().lower() if isinstance(data, str) else ""
        if m := re.fullmatch(r"([1-5])xx", text):
            lo, hi = int(m.group(1)) * 100, int(m.group(1)) * 100 + 99
        elif m := re.fullmatch(r"(\d{3})(?:\s*-\s*(\d{3}))?", text):
            lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        else:
            lo, hi = 0, 0
        if not 100 <= lo <= hi <= 599:
            raise invalid('expected a status code (200), a class ("2xx") or a range '
                          f'("200-299") within 100-599, got {show(data)}')
        return {"lo": lo, "hi": hi}

    def __str__(self) -> str:
        return str(self.lo) if self.lo == self.hi else f"{self.lo}-{self.hi}"


def _statuses(value: object) -> object:
    if isinstance(value, list | tuple):
        if not value:
            raise invalid("must list at least one status")
        return value
    return [value]


def _regex(value: str | None) -> str | None:
    """A pattern the probes' engine (``regex``, :mod:`monitor.probes.matching`) compiles."""
    if value is not None:
        try:
            regex.compile(value)
        except regex.error as err:
            raise invalid(f"invalid regular expression: {err}") from None
    return value


class ExpectConfig(BaseModel):
    """What a good answer looks like. ``status``, ``body_contains``, ``body_regex``, ``json``
    and ``headers`` are for http services, ``banner`` for tcp, ``cert_valid_for`` for tls and
    https, ``rcode``, ``answers`` and ``answers_contain`` for dns (:mod:`~.kinds`)."""

    model_config = MODEL_CONFIG
    status: Annotated[tuple[StatusRange, ...], BeforeValidator(_statuses)] = (
        StatusRange(lo=200, hi=399),)
    body_contains: str | None = None
    body_regex: Annotated[str | None, AfterValidator(_regex)] = None
    #: ``expect.json`` (``json`` would hide pydantic's method of that name)
    json_assertions: Annotated[tuple[JsonAssertion, ...], BeforeValidator(parse_json_assertions),
                               Field(alias="json")] = ()
    headers: Annotated[tuple[HeaderExpectation, ...],
                       BeforeValidator(parse_header_expectations)] = ()
    banner: Annotated[str | None, AfterValidator(_regex)] = None
    cert_valid_for: Duration = DEFAULT_CERT_VALID_FOR
    rcode: Annotated[str, BeforeValidator(check_rcode)] = "NOERROR"
    answers: Annotated[tuple[str, ...] | None, BeforeValidator(check_answers)] = None
    answers_contain: Annotated[tuple[str, ...], BeforeValidator(check_answers)] = ()
    max_latency: Annotated[Duration | None, POSITIVE] = None

    def status_ok(self, code: int) -> bool:
        return any(r.lo <= code <= r.hi for r in self.status)

    @property
    def max_latency_ms(self) -> float | None:
        return None if self.max_latency is None else self.max_latency.total_seconds() * 1000


class ServiceConfig(BaseModel):
    """One monitored endpoint: an HTTP(S) ``url``, or a ``host`` and ``port`` for kinds tcp and
    tls. A key of another kind is refused, a key its kind requires is required
    (:mod:`monitor.config.kinds`)."""

    model_config = MODEL_CONFIG
    name: Name
    kind: Annotated[Kind, BeforeValidator(check_kind)] = "http"  # before the keys it governs
    title: Text = ""  # filled with the name when not given
    group: str = ""
    #: The status page's history starts at this date's month (None: the first with data).
    since: Day | None = None
    url: Annotated[Url | None, Field(validate_default=True)] = None
    host: Annotated[Host | None, Field(validate_default=True)] = None
    starttls: StartTls | None = None  # before port: it sets port's default
    port: Annotated[Annotated[Int, _between(1, 65535)] | None,
                    Field(validate_default=True)] = None
    server_name: Host | None = None
    send: Annotated[str | None, AfterValidator(_not_empty)] = None
    query: Annotated[Host | None, Field(validate_default=True)] = None
    record: Annotated[RecordType, BeforeValidator(check_record)] = "A"
    server: Host | None = None
    period: Annotated[Duration | None, at_least(timedelta(seconds=1))] = None
    grace: Annotated[Duration, at_least(timedelta(0))] = DEFAULT_GRACE
    schedule: Annotated[str | None, BeforeValidator(check_schedule)] = None
    timezone: TimeZone = "UTC"
    method: Annotated[str, BeforeValidator(_method)] = "GET"
    headers: Annotated[Mapping[str, str], BeforeValidator(_headers),
                       AfterValidator(FrozenHeaders)] = Field(default_factory=FrozenHeaders)
    body: str | None = None
    interval: Annotated[Duration, at_least(timedelta(seconds=1))] = timedelta(seconds=60)
    timeout: Annotated[Duration, POSITIVE] = timedelta(seconds=10)
    retries: Annotated[Int, _between(0, 5)] = 1
    expect: ExpectConfig = ExpectConfig()
    tls_verify: bool = True
    follow_redirects: bool = True
    max_redirects: Annotated[Int, _between(0, 30)] = 5
    max_body_bytes: Annotated[int, BeforeValidator(parse_size), _between(1, 2**30)] = 1_048_576
    sla: SlaConfig = SlaConfig()
    #: The locations that probe this service (None: all of them), and how many must agree;
    #: resolved and checked against the top-level ``locations`` by :mod:`monitor.config.locations`.
    locations: Annotated[tuple[Name, ...] | None, BeforeValidator(_location_list),
                         AfterValidator(_once_each)] = None
    quorum: Quorum | None = None

    _foreign = field_validator(*SERVICE_KEYS, mode="before")(refuse_foreign)
    _required = field_validator("url", "host", "port", "query", mode="after")(require)
    _expect_keys = field_validator("expect", mode="before")(check_expect_keys)

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        """``title`` defaults to ``name``; ``timeout`` to 10s or ``interval`` if shorter."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "title" not in data:  # a missing or bad name is reported once, as the name's
            data["title"] = data["name"] if isinstance(data.get("name"), str) else "-"
        if data.get("kind") == "push":
            data.setdefault("retries", 0)  # a push check reads what came: nothing to retry
        if "timeout" not in data and "interval" in data:
            try:
                interval = data["interval"]
                interval = interval if isinstance(interval, timedelta) else parse_duration(interval)
            except (ValueError, TypeError):
                interval = timedelta(0)  # the interval's own error is reported
            if interval >= timedelta(seconds=1):
                data["timeout"] = min(interval, timedelta(seconds=10))
        return data

    _push = model_validator(mode="after")(check_push)

    @model_validator(mode="after")
    def _answers_of_the_record(self) -> ServiceConfig:
        """``expect.answers`` and ``answers_contain`` of a dns service read as its ``record``."""
        if self.kind == "dns":
            for key in ("answers", "answers_contain"):
                for i, text in enumerate(getattr(self.expect, key) or ()):
                    problem = answer_problem(self.record, text)
                    if problem is not None:
                        raise invalid(problem, "expect", key, i)
        return self

    @model_validator(mode="after")
    def _timeout_within_interval(self) -> ServiceConfig:
        if self.timeout > self.interval:
            raise invalid(f"must not be longer than interval ({format_duration(self.interval)})"
                          f', got "{format_duration(self.timeout)}"', "timeout")
        return self

    @property
    def interval_ms(self) -> int:
        return self.interval // timedelta(milliseconds=1)

    @property
    def target(self) -> str:
        """What a check reaches, for people: the url, or ``tcp://host:port``,
        ``tls://host:port`` (with ``starttls``, and the server name when it is not the host),
        ``dns:query A`` (``@server:port`` when it asks one), ``push every 1h (grace 5m)``."""
        if self.kind == "http":
            return self.url or ""
        if self.kind == "dns":
            asked = "" if self.server is None else f" @{_bracketed(self.server)}:{self.port}"
            return f"dns:{self.query} {self.record}{asked}"
        if self.kind == "push":
            when = (f"on {self.schedule} {self.timezone}" if self.schedule is not None
                    else f"every {format_duration(self.period or timedelta(0))}")
            return f"push {when} (grace {format_duration(self.grace)})"
        where = f"{self.kind}://{_bracketed(self.host or '')}:{self.port}"
        if self.kind == "tls" and self.starttls is not None:
            where += f" (starttls {self.starttls})"
        if self.kind == "tls" and self.server_name not in (None, self.host):
            where += f" (server name {self.server_name})"
        return where


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class SiteConfig(BaseModel):
    """The public status page."""

    model_config = MODEL_CONFIG
    title: Text = "Service status"
    description: str = ""
    url: Url | None = None
    #: Where the page's subscribe form posts (``upwatch run``'s /subscribe); default
    #: ``url`` + "subscribe" (:func:`monitor.config.subscriptions.subscribe_url`).
    subscribe_url: Url | None = None
    language: Annotated[Literal["en", "de", "da", "it", "es"], BeforeValidator(_language)] = "en"
    timezone: TimeZone = "UTC"
    #: Branding (:mod:`monitor.config.branding`): files relative to probes.yaml's folder.
    logo: Annotated[str | None, AfterValidator(file_check("logo"))] = None
    favicon: Annotated[str | None, AfterValidator(file_check("favicon"))] = None
    custom_css: Annotated[str | None, AfterValidator(file_check("custom_css"))] = None
    accent_color: Annotated[str | None, BeforeValidator(check_color)] = None

    @property
    def files(self) -> dict[str, str | None]:
        """The branding files by key (None: not given)."""
        return {"logo": self.logo, "favicon": self.favicon, "custom_css": self.custom_css}

