"""probes.yaml, parsed once into frozen, validated models.

:func:`load_config` / :func:`parse_config` return a :class:`Config` or raise :class:`ConfigError`
listing every problem found, one line each, e.g.
``probes.yaml: services[2].interval: must be at least 1s, got "0s"``. The SLA models live in
:mod:`monitor.coverage_config`, duration text in :mod:`monitor.durations`; both are re-exported.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Hashable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from monitor.coverage_config import (
    MODEL_CONFIG,
    Coverage,
    CoverageRule,
    DateRange,
    ExclusionConfig,
    MaintenancePolicy,
    MaintenanceWindowConfig,
    SlaConfig,
    Text,
    TimeZone,
)
from monitor.durations import (
    POSITIVE,
    Duration,
    at_least,
    format_duration,
    invalid,
    parse_duration,
    parse_size,
    show,
)

__all__ = [
    "Config", "ConfigError", "Coverage", "CoverageRule", "DateRange", "ExclusionConfig",
    "ExpectConfig", "MaintenancePolicy", "MaintenanceWindowConfig", "ServiceConfig", "SiteConfig",
    "SlaConfig", "StatusRange", "default_config_path", "default_db_path", "format_duration",
    "load_config", "parse_config", "parse_duration",
]

Loc = tuple[str | int, ...]


class ConfigError(Exception):
    """probes.yaml is unusable; ``problems`` holds one line per problem, ``str`` joins them."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))

    def __str__(self) -> str:
        return "\n".join(self.problems)


def default_config_path() -> Path:
    """``$UPWATCH_CONFIG`` if set, else ``./probes.yaml``."""
    return Path(os.environ.get("UPWATCH_CONFIG") or "probes.yaml")


def default_db_path() -> Path:
    """``$UPWATCH_DB`` if set, else ``./upwatch.db``."""
    return Path(os.environ.get("UPWATCH_DB") or "upwatch.db")


# ---- value types -------------------------------------------------------------------------

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


Int = Annotated[int, BeforeValidator(_whole)]
Name = Annotated[str, AfterValidator(_name)]
Url = Annotated[str, AfterValidator(_url)]
LANGUAGES = ("en", "de", "da", "it", "es")


# ---- models ------------------------------------------------------------------------------

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
    if value is not None:
        try:
            re.compile(value)
        except re.error as err:
            raise invalid(f"invalid regular expression: {err}") from None
    return value


class ExpectConfig(BaseModel):
    """What a good answer looks like."""

    model_config = MODEL_CONFIG
    status: Annotated[tuple[StatusRange, ...], BeforeValidator(_statuses)] = (
        StatusRange(lo=200, hi=399),)
    body_contains: str | None = None
    body_regex: Annotated[str | None, AfterValidator(_regex)] = None
    max_latency: Annotated[Duration | None, POSITIVE] = None

    def status_ok(self, code: int) -> bool:
        return any(r.lo <= code <= r.hi for r in self.status)

    @property
    def max_latency_ms(self) -> float | None:
        return None if self.max_latency is None else self.max_latency.total_seconds() * 1000


class ServiceConfig(BaseModel):
    """One monitored HTTP endpoint."""

    model_config = MODEL_CONFIG
    name: Name
    title: Text = ""  # filled with the name when not given
    group: str = ""
    url: Url
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

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        """``title`` defaults to ``name``; ``timeout`` to 10s or ``interval`` if shorter."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "title" not in data:  # a missing or bad name is reported once, as the name's
            data["title"] = data["name"] if isinstance(data.get("name"), str) else "-"
        if "timeout" not in data and "interval" in data:
            try:
                interval = data["interval"]
                interval = interval if isinstance(interval, timedelta) else parse_duration(interval)
            except (ValueError, TypeError):
                interval = timedelta(0)  # the interval's own error is reported
            if interval >= timedelta(seconds=1):
                data["timeout"] = min(interval, timedelta(seconds=10))
        return data

    @model_validator(mode="after")
    def _timeout_within_interval(self) -> ServiceConfig:
        if self.timeout > self.interval:
            raise invalid(f"must not be longer than interval ({format_duration(self.interval)})"
                          f', got "{format_duration(self.timeout)}"', "timeout")
        return self

    @property
    def interval_ms(self) -> int:
        return self.interval // timedelta(milliseconds=1)


class SiteConfig(BaseModel):
    """The public status page."""

    model_config = MODEL_CONFIG
    title: Text = "Service status"
    description: str = ""
    url: Url | None = None
    language: Annotated[Literal["en", "de", "da", "it", "es"], BeforeValidator(_language)] = "en"
    timezone: TimeZone = "UTC"


def _some_services(services: tuple[ServiceConfig, ...]) -> tuple[ServiceConfig, ...]:
    if not services:
        raise invalid("must list at least one service")
    return services


class Config(BaseModel):
    """The whole of probes.yaml."""

    model_config = MODEL_CONFIG
    site: SiteConfig = SiteConfig()
    location: Name = "local"
    services: Annotated[tuple[ServiceConfig, ...], AfterValidator(_some_services)]
    maintenance: tuple[MaintenanceWindowConfig, ...] = ()
    maintenance_policy: MaintenancePolicy = MaintenancePolicy()
    exclusions: tuple[ExclusionConfig, ...] = ()
    _by_name: dict[str, ServiceConfig] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _cross_check(self) -> Config:
        names = [(("services", i, "name"), s.name) for i, s in enumerate(self.services)]
        refs: list[tuple[Loc, Hashable]] = [
            (("maintenance", i, "services", j), name)
            for i, w in enumerate(self.maintenance) for j, name in enumerate(w.services)]
        refs += [(("exclusions", i, "services", j), name)
                 for i, x in enumerate(self.exclusions) for j, name in enumerate(x.services)]
        problems = cross_problems(names, refs)
        if problems:
            raise PydanticCustomError("upwatch_cross", "{message}", {
                "message": "; ".join(msg for _, msg in problems), "problems": problems})
        self._by_name = {s.name: s for s in self.services}
        return self

    def service(self, name: str) -> ServiceConfig:
        """The service called ``name``; KeyError if there is none."""
        if len(self._by_name) != len(self.services):  # built without validation
            self._by_name = {s.name: s for s in self.services}
        return self._by_name[name]

    @property
    def service_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.services)


def cross_problems(names: Sequence[tuple[Loc, Hashable]],
                   refs: Sequence[tuple[Loc, Hashable]]) -> list[tuple[Loc, str]]:
    """Duplicate service names, and references to services that do not exist."""
    first: dict[Hashable, Loc] = {}
    problems: list[tuple[Loc, str]] = []
    for loc, name in names:
        if name in first:
            problems.append((loc, f"duplicate service name {show(name)} "
                                  f"(also services[{first[name][1]}])"))
        else:
            first[name] = loc
    known = sorted(str(n) for n in first)
    for loc, name in refs:
        if name not in first:
            close = difflib.get_close_matches(str(name), known, n=1)
            hint = (f'did you mean "{close[0]}"?' if close
                    else f"services: {', '.join(known)}" if len(known) <= 10 else "see services")
            problems.append((loc, f"unknown service {show(name)} ({hint})"))
    return problems


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a probes.yaml; ConfigError lists every problem."""
    source = os.fspath(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{source}: file not found (create it, or set UPWATCH_CONFIG / "
                           "--config)"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{source}: not UTF-8 text"]) from None
    except OSError as err:
        raise ConfigError([f"{source}: cannot read: {err.strerror or err}"]) from None
    return parse_config(text, source)


def parse_config(text: str, source: str = "probes.yaml") -> Config:
    """Validate probes.yaml text; every ConfigError line starts with ``source``."""
    try:
        raw = yaml.load(text, Loader=_Loader)  # noqa: S506 -- a SafeLoader subclass
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f"{source}:{mark.line + 1}" if mark else source
        column = f" (column {mark.column + 1})" if mark and err.note != _DUPLICATE else ""
        raise ConfigError([f"{where}: invalid YAML: {err.problem}{column}"]) from None
    except yaml.YAMLError as err:
        raise ConfigError([f"{source}: invalid YAML: {err}"]) from None
    if not isinstance(raw, dict):
        got = "nothing (the file is empty)" if raw is None else show(raw)
        raise ConfigError([f"{source}: expected a mapping at the top level (site, services, "
                           f"...), got {got}"])
    return _Reader(raw, source).validate()


_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_DUPLICATE = "duplicate key"


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as text and rejects duplicate keys."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: dict[Hashable, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {show(key)} (first on line {seen[key] + 1})",
                    key_node.start_mark, note=_DUPLICATE)
            if isinstance(key, Hashable):
                seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


_TOP_KEYS = ("site", "location", "defaults", "services", "maintenance", "exclusions")
_LISTS = ("services", "maintenance", "exclusions")
_SERVICE_ONLY = ("name", "title", "url")
_POLICY_KEYS = ("min_notice", "max_duration")
_GONE = object()
_GENERIC = {
    "missing": "required but missing",
    "string_type": "expected text, got {}",
    "int_type": "expected a whole number, got {}", "int_parsing": "expected a whole number, got {}",
    "int_from_float": "expected a whole number, got {}",
    "float_type": "expected a number, got {}", "float_parsing": "expected a number, got {}",
    "finite_number": "expected a number, got {}",
    "bool_type": "expected true or false, got {}", "bool_parsing": "expected true or false, got {}",
    "tuple_type": "expected a list, got {}", "list_type": "expected a list, got {}",
    "frozen_set_type": "expected a list, got {}",
    "dict_type": "expected a mapping (key: value), got {}",
    "model_type": "expected a mapping (key: value), got {}",
}


def _unknown_key(allowed: Sequence[str]) -> str:
    return f"unknown key (allowed: {', '.join(sorted(allowed))})"


class _Reader:
    """Turns the YAML document into model input, and pydantic's errors into our lines."""

    def __init__(self, raw: dict[Any, Any], source: str) -> None:
        self.raw, self.source = raw, source
        self.problems: list[tuple[Loc, str]] = []
        self.origins: dict[int, list[tuple[str, ...]]] = {}  # service index → keys from defaults
        self.windows: Loc = ("maintenance",)

    def validate(self) -> Config:
        document = self._document()
        try:
            config = Config.model_validate(document)
        except ValidationError as err:
            errors = err.errors()
            lines = [line for e in errors for line in self._lines(e)]
            if not any(e["type"] == "upwatch_cross" for e in errors):
                lines += [self._line(loc, msg) for loc, msg in self._raw_cross(document)]
        else:
            if not self.problems:
                return config
            lines = []
        lines[:0] = [self._line(loc, msg, remapped=True) for loc, msg in self.problems]
        raise ConfigError(list(dict.fromkeys(lines)))

    def _document(self) -> dict[str, Any]:
        """The model input: defaults merged into services, the maintenance mapping split."""
        self.problems += [((k,), _unknown_key(_TOP_KEYS)) for k in self.raw if k not in _TOP_KEYS]
        # a section with nothing under it (every example commented out) is empty
        doc = {k: [] if v is None and k in _LISTS else v
               for k, v in self.raw.items() if k in _TOP_KEYS}
        defaults = doc.pop("defaults", None) or {}
        if not isinstance(defaults, dict):
            self.problems.append((("defaults",), f"expected a mapping (key: value), got "
                                                 f"{show(defaults)}"))
            defaults = {}
        allowed = [k for k in ServiceConfig.model_fields if k not in _SERVICE_ONLY]
        for key in defaults:
            if key in _SERVICE_ONLY:
                self.problems.append((("defaults", key), "cannot be a default (set it on each "
                                                         "service)"))
            elif key not in allowed:
                self.problems.append((("defaults", key), _unknown_key(allowed)))
        defaults = {k: v for k, v in defaults.items() if k in allowed}
        if isinstance(doc.get("services"), list):
            doc["services"] = [self._merge(i, s, defaults) for i, s in enumerate(doc["services"])]
        maintenance = doc.get("maintenance")
        if isinstance(maintenance, dict):
            self.windows = ("maintenance", "windows")
            keys = (*_POLICY_KEYS, "windows")
            self.problems += [(("maintenance", k), _unknown_key(keys)) for k in maintenance
                              if k not in keys]
            doc["maintenance"] = maintenance.get("windows") or []
            doc["maintenance_policy"] = {k: v for k, v in maintenance.items() if k in _POLICY_KEYS}
        return doc

    def _merge(self, index: int, service: object, defaults: dict[str, Any]) -> object:
        """Defaults under a service's own keys; ``expect`` and ``sla`` merge one level deep."""
        if not isinstance(service, dict):
            return service
        merged = dict(service)
        origins = self.origins.setdefault(index, [])
        for key, value in defaults.items():
            if key not in service:
                merged[key] = value
                origins.append((key,))
            elif key in ("expect", "sla") and isinstance(value, dict) and isinstance(
                    service[key], dict):
                merged[key] = {**value, **service[key]}
                origins += [(key, sub) for sub in value if sub not in service[key]]
        return merged

    def _lines(self, error: Any) -> list[str]:
        loc, ctx = tuple(error["loc"]), error.get("ctx") or {}
        if error["type"] == "upwatch_cross":
            return [self._line(where, msg) for where, msg in ctx["problems"]]
        if error["type"] == "upwatch":
            message = ctx["message"]
        elif error["type"] == "extra_forbidden":
            model = _model_at(loc[:-1])
            keys = getattr(model, "yaml_keys", None) or list(model.model_fields) if model else []
            message = _unknown_key(keys)
        else:
            message = _GENERIC.get(error["type"], error["msg"]).format(show(error["input"]))
        at = tuple(ctx.get("at", ()))
        base = self._remap(loc)
        if base[:1] != ("defaults",) and self._remap(loc + at)[:1] == ("defaults",):
            message += " (set in defaults)"
        return [self._line(base + at, message, remapped=True)]

    def _remap(self, loc: Loc) -> Loc:
        """A model path → the path in the YAML the user wrote."""
        if loc[:1] == ("maintenance",):
            return self.windows + loc[1:]
        if loc[:1] == ("maintenance_policy",):
            return ("maintenance", *loc[1:])
        if loc[:1] == ("services",) and len(loc) > 2 and isinstance(loc[1], int):
            rest = loc[2:]
            if any(rest[:len(p)] == p for p in self.origins.get(loc[1], ())):
                return ("defaults", *rest)
        return loc

    def _line(self, loc: Loc, message: str, *, remapped: bool = False) -> str:
        path = self._render(loc if remapped else self._remap(loc))
        return f"{self.source}: {path}: {message}" if path else f"{self.source}: {message}"

    def _render(self, loc: Loc) -> str:
        """``services[2].expect.status[1]``, walking the raw YAML: an index into a single value
        written without a list is left out, as is ``rules[0]`` of a one-rule coverage."""
        node: Any = self.raw
        out, i = "", 0
        while i < len(loc):
            seg = loc[i]
            if isinstance(seg, int):
                if isinstance(node, list) or node is _GONE:
                    out += f"[{seg}]"
                    node = node[seg] if isinstance(node, list) and seg < len(node) else _GONE
            elif seg == "rules" and isinstance(node, dict) and "rules" not in node:
                i += 2
                continue
            else:
                out += f".{seg}" if out else str(seg)
                node = node[seg] if isinstance(node, dict) and seg in node else _GONE
            i += 1
        return out

    def _raw_cross(self, doc: dict[str, Any]) -> list[tuple[Loc, str]]:
        """Duplicate and unknown service names, read from the raw document."""
        services = doc["services"] if isinstance(doc.get("services"), list) else []
        names = [(("services", i, "name"), s["name"]) for i, s in enumerate(services)
                 if isinstance(s, dict) and isinstance(s.get("name"), str)]
        refs: list[tuple[Loc, Hashable]] = []
        for kind in ("maintenance", "exclusions"):
            items = doc[kind] if isinstance(doc.get(kind), list) else []
            for i, item in enumerate(items):
                wanted = item.get("services") if isinstance(item, dict) else None
                wanted = [wanted] if isinstance(wanted, str) else wanted
                if isinstance(wanted, list):
                    refs += [((kind, i, "services", j), n) for j, n in enumerate(wanted)
                             if isinstance(n, str)]
        return cross_problems(names, refs)


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """The model class that validates the mapping at ``loc`` (a model path)."""
    model: type[BaseModel] | None = Config
    for seg in loc:
        if isinstance(seg, str) and model is not None:
            field = model.model_fields.get(seg)
            model = _model_in(field.annotation) if field else None
    return model


def _model_in(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        if (found := _model_in(arg)) is not None:
            return found
    return None
