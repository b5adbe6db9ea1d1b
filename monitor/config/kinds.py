"""Which keys each kind of service takes: ``http`` (the default), ``tcp``, ``tls``, ``dns`` and
``push``.

A service's ``kind`` says what a check is: an HTTP(S) request to ``url`` (``expect.json``,
``expect.headers``), a TCP connection to ``host`` and ``port`` (``send``, ``expect.banner``), a
verified TLS handshake with ``host`` and ``port`` (``server_name``, ``starttls``,
``expect.cert_valid_for``), a DNS query for ``query`` of type ``record`` (``server``, ``port``,
``expect.rcode``, ``expect.answers``, ``expect.answers_contain``), or, for ``push``, whether the
service's own pings came in time (``period`` or ``schedule`` and ``timezone``, ``grace``). Every
other key (``name``, ``interval``, ``timeout``, ``retries``, ``expect.max_latency``, ``sla`` …)
is common to all kinds; a push service is judged where its pings arrive, so it takes no
``locations`` or ``quorum``.

A key of another kind is refused where it is written, naming the service and its kind, e.g.
``services[2].method: only for kind http (service "mail" is kind tcp)``; when it came from
``defaults:`` the line is at ``defaults.method``, once per service of another kind.

:class:`~monitor.config.service.ServiceConfig` calls these checks from its validators; they
read the service's ``kind`` and ``name`` from the fields validated before (``kind`` comes
right after ``name``), and skip what they cannot know: a service whose kind is itself wrong is
reported for its kind alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal, Protocol, TypeVar, cast, get_args

from pydantic import ValidationError, ValidationInfo
from pydantic_core import InitErrorDetails

from monitor.config.durations import invalid, show

__all__ = ["DEFAULT_CERT_VALID_FOR", "DEFAULT_DNS_PORT", "DEFAULT_GRACE", "DEFAULT_TLS_PORT",
           "EXPECT_KEYS", "KINDS", "SERVICE_KEYS", "STARTTLS_PORTS",
           "Kind", "StartTls", "check_expect_keys", "check_kind", "check_push", "refuse_foreign",
           "require"]

_T = TypeVar("_T")

Kind = Literal["http", "tcp", "tls", "dns", "push"]
KINDS: tuple[Kind, ...] = get_args(Kind)
_PROBED: tuple[Kind, ...] = ("http", "tcp", "tls", "dns")  # from locations: all but push

#: Service keys of some kinds only (every other key is common to all kinds).
SERVICE_KEYS: Mapping[str, tuple[Kind, ...]] = {
    "url": ("http",), "method": ("http",), "headers": ("http",), "body": ("http",),
    "tls_verify": ("http",), "follow_redirects": ("http",), "max_redirects": ("http",),
    "max_body_bytes": ("http",),
    "host": ("tcp", "tls"), "port": ("tcp", "tls", "dns"), "send": ("tcp",),
    "server_name": ("tls",), "starttls": ("tls",),
    "query": ("dns",), "record": ("dns",), "server": ("dns",),
    "period": ("push",), "grace": ("push",), "schedule": ("push",), "timezone": ("push",),
    "locations": _PROBED, "quorum": _PROBED,
}
#: The keys of ``expect``, and the kinds that take each.
EXPECT_KEYS: Mapping[str, tuple[Kind, ...]] = {
    "status": ("http",), "body_contains": ("http",), "body_regex": ("http",),
    "json": ("http",), "headers": ("http",),
    "banner": ("tcp",), "cert_valid_for": ("http", "tls"),
    "rcode": ("dns",), "answers": ("dns",), "answers_contain": ("dns",),
    "max_latency": KINDS,
}
#: What a key of another kind is given instead, in the message that refuses it.
_INSTEAD = {("url", "tcp"): "give host and port", ("url", "tls"): "give host and port",
            ("host", "http"): "give url", ("port", "http"): "give url",
            ("url", "dns"): "give query", ("host", "dns"): "give query, and server to ask one",
            ("url", "push"): "it is pinged at its own URL: upwatch push-url NAME",
            ("locations", "push"): "it is judged where its pings arrive",
            ("quorum", "push"): "it is judged where its pings arrive"}

DEFAULT_TLS_PORT = 443
#: What a tls service's ``starttls`` takes (monitor.probes.starttls speaks each), and its port
#: when the service gives none.
StartTls = Literal["smtp", "imap", "pop3", "postgres"]
STARTTLS_PORTS: Mapping[str, int] = {"smtp": 25, "imap": 143, "pop3": 110, "postgres": 5432}
DEFAULT_DNS_PORT = 53
#: How long after its deadline a push service's ping may still come before it is down.
DEFAULT_GRACE = timedelta(minutes=5)
DEFAULT_CERT_VALID_FOR = timedelta(days=14)


def check_kind(value: object) -> object:
    """A known kind, or the message that lists them."""
    if value not in KINDS:
        raise invalid(f"unknown kind {show(value)} (kinds: {', '.join(KINDS)})")
    return value


def _kind(info: ValidationInfo) -> Kind | None:
    """The service's kind, if it was valid (``kind`` is validated before the other keys)."""
    kind = info.data.get("kind")
    return kind if kind in KINDS else None


def _only_for(key: str, kinds: tuple[Kind, ...], kind: Kind, info: ValidationInfo) -> str:
    which = (f"kind {kinds[0]}" if len(kinds) == 1
             else f"kinds {', '.join(kinds[:-1])} and {kinds[-1]}")
    name = info.data.get("name")
    service = f"service {show(name)}" if isinstance(name, str) else "this service"
    instead = _INSTEAD.get((key, kind))
    return f"only for {which} ({service} is kind {kind}{': ' + instead if instead else ''})"


def refuse_foreign(value: Any, info: ValidationInfo) -> Any:
    """A service key given to a service of a kind that does not take it is refused.

    ``None`` passes: it is how a key left out reaches the validators of ``url``, ``host`` and
    ``port``, which validate their defaults to tell whether a required one is missing."""
    kind = _kind(info)
    key = info.field_name
    if value is None or kind is None or key is None:
        return value
    kinds = SERVICE_KEYS[key]
    if kind not in kinds:
        raise invalid(_only_for(key, kinds, kind, info))
    return value


def require(value: Any, info: ValidationInfo) -> Any:
    """``url`` (http), ``host`` and ``port`` (tcp, tls) and ``query`` (dns) are required by the
    kinds that take them; a tls service's port defaults to 443 (or its ``starttls``
    protocol's: 25, 143, 110, 5432), a dns service's to 53."""
    kind = _kind(info)
    key = info.field_name
    if value is not None or kind is None or key is None or kind not in SERVICE_KEYS[key]:
        return value
    if key == "port" and kind == "tls":
        starttls = info.data.get("starttls")
        return DEFAULT_TLS_PORT if starttls is None else STARTTLS_PORTS[starttls]
    if key == "port" and kind == "dns":
        return DEFAULT_DNS_PORT
    if kind in ("http", "dns"):
        raise invalid("required but missing")
    raise invalid(f"required but missing (a {kind} service connects to host and port)")


def check_expect_keys(value: Any, info: ValidationInfo) -> Any:
    """The keys of ``expect`` against the service's kind: every key of another kind, and every
    unknown key (listing the ones this kind takes), each reported at its own path."""
    kind = _kind(info)
    if not isinstance(value, Mapping) or kind is None:
        return value
    allowed = sorted(k for k, kinds in EXPECT_KEYS.items() if kind in kinds)
    errors: list[InitErrorDetails] = []
    for key in value:
        kinds = EXPECT_KEYS.get(key) if isinstance(key, str) else None
        if kinds is None:
            message = f"unknown key (allowed: {', '.join(allowed)})"
        elif kind not in kinds:
            message = _only_for(key, kinds, kind, info)
        else:
            continue
        errors.append({"type": invalid(message), "loc": (str(key),), "input": value[key]})
    if errors:
        raise ValidationError.from_exception_data("expect", errors)
    return value


class _PushFields(Protocol):
    kind: str
    period: timedelta | None
    schedule: str | None


def check_push(service: _T) -> _T:
    """A push service is due on a ``period`` or a ``schedule``: one of them, not both."""
    fields = cast(_PushFields, service)
    if fields.kind != "push":
        return service
    if fields.period is None and fields.schedule is None:
        raise invalid("a push service needs period (it pings at least this often, like 1h) or "
                      'schedule (a cron expression, like "0 3 * * *")', "period")
    if fields.period is not None and fields.schedule is not None:
        raise invalid("give period or schedule, not both", "schedule")
    return service
