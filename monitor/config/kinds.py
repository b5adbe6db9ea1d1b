"""Which keys each kind of service takes: ``http`` (the default), ``tcp`` and ``tls``.

A service's ``kind`` says what a check is: an HTTP(S) request to ``url``, a TCP connection to
``host`` and ``port`` (``send``, ``expect.banner``), or a verified TLS handshake with ``host``
and ``port`` (``server_name``, ``expect.cert_valid_for``). Every other key (``name``,
``interval``, ``timeout``, ``retries``, ``expect.max_latency``, ``sla``, ``locations`` …) is
common to all kinds. A key of another kind is refused where it is written, naming the service
and its kind, e.g. ``services[2].method: only for kind http (service "mail" is kind tcp)``;
when it came from ``defaults:`` the line is at ``defaults.method``, once per service of
another kind.

:class:`~monitor.config.service.ServiceConfig` calls these checks from its validators; they
read the service's ``kind`` and ``name`` from the fields validated before (``kind`` comes
right after ``name``), and skip what they cannot know: a service whose kind is itself wrong is
reported for its kind alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal, get_args

from pydantic import ValidationError, ValidationInfo
from pydantic_core import InitErrorDetails

from monitor.config.durations import invalid, show

__all__ = ["DEFAULT_CERT_VALID_FOR", "DEFAULT_TLS_PORT", "EXPECT_KEYS", "KINDS", "SERVICE_KEYS",
           "Kind", "check_expect_keys", "check_kind", "refuse_foreign", "require"]

Kind = Literal["http", "tcp", "tls"]
KINDS: tuple[Kind, ...] = get_args(Kind)

#: Service keys of some kinds only (every other key is common to all kinds).
SERVICE_KEYS: Mapping[str, tuple[Kind, ...]] = {
    "url": ("http",), "method": ("http",), "headers": ("http",), "body": ("http",),
    "tls_verify": ("http",), "follow_redirects": ("http",), "max_redirects": ("http",),
    "max_body_bytes": ("http",),
    "host": ("tcp", "tls"), "port": ("tcp", "tls"), "send": ("tcp",), "server_name": ("tls",),
}
#: The keys of ``expect``, and the kinds that take each.
EXPECT_KEYS: Mapping[str, tuple[Kind, ...]] = {
    "status": ("http",), "body_contains": ("http",), "body_regex": ("http",),
    "banner": ("tcp",), "cert_valid_for": ("tls",), "max_latency": KINDS,
}
#: What a key of another kind is given instead, in the message that refuses it.
_INSTEAD = {("url", "tcp"): "give host and port", ("url", "tls"): "give host and port",
            ("host", "http"): "give url", ("port", "http"): "give url"}

DEFAULT_TLS_PORT = 443
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
    """``url`` (http) and ``host`` and ``port`` (tcp, tls) are required by the kinds that take
    them; a tls service's port defaults to 443."""
    kind = _kind(info)
    key = info.field_name
    if value is not None or kind is None or key is None or kind not in SERVICE_KEYS[key]:
        return value
    if key == "port" and kind == "tls":
        return DEFAULT_TLS_PORT
    if kind == "http":
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
