"""probes.yaml text → :class:`~monitor.config.model.Config`, or :class:`ConfigError` listing
every problem found, one line each, e.g.
``probes.yaml: services[2].interval: must be at least 1s, got "0s"``.

The YAML is read by PyYAML with timestamps kept as text and duplicate keys refused;
``defaults:`` is merged into every service and the ``maintenance:`` mapping split into windows
and policy before pydantic validates the models; pydantic's errors are then told again in the
file's own terms: the path as written in the YAML (``services[2].expect.status[1]``), the
message in upwatch's words, "(set in defaults)" where the value came from ``defaults:``.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from monitor.config.durations import show
from monitor.config.incident import CHANNEL_KINDS
from monitor.config.kinds import KINDS, SERVICE_KEYS
from monitor.config.model import Config, Loc, cross_problems
from monitor.config.service import ServiceConfig
from monitor.errors import UpwatchError

__all__ = ["ConfigError", "parse_config"]


class ConfigError(UpwatchError):
    """probes.yaml is unusable; ``problems`` holds one line per problem, ``str`` joins them
    with line breaks."""

    joiner = "\n"


def parse_config(text: str, source: str = "probes.yaml") -> Config:
    """Validate probes.yaml text; every ConfigError line starts with ``source``."""
    try:
        try:
            raw = yaml.load(text, Loader=_Loader)  # noqa: S506 -- a SafeLoader subclass
        except yaml.YAMLError as err:
            if "nesting depth" in str(err):  # libyaml's limit: PyYAML would only recurse deeper
                raise
            # Say it in PyYAML's own (clearer, stable) words: parse again with the pure loader.
            raw = yaml.load(text, Loader=_PyLoader)  # noqa: S506
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f"{source}:{mark.line + 1}" if mark else source
        column = f" (column {mark.column + 1})" if mark and err.note != _DUPLICATE else ""
        raise ConfigError([f"{where}: invalid YAML: {err.problem}{column}"]) from None
    except yaml.YAMLError as err:
        raise ConfigError([f"{source}: invalid YAML: {err}"]) from None
    except RecursionError:  # PyYAML composes (and builds keys) recursively
        raise ConfigError([f"{source}: invalid YAML: nested too deeply"]) from None
    if not isinstance(raw, dict):
        got = "nothing (the file is empty)" if raw is None else show(raw)
        raise ConfigError([f"{source}: expected a mapping at the top level (site, services, "
                           f"...), got {got}"])
    return _Reader(raw, source).validate()


#: Values that YAML aliases may add to a document, unless it writes more than a tenth as many
#: itself: each ``*name`` counts as many values as its anchor holds (keys, scalars, lists and
#: mappings, nested aliases expanded). 50 services sharing an anchored ``sla:`` block of 5
#: values add 250; an "anchor bomb" (nine anchors of nine aliases of the previous one, 400
#: bytes) adds 435 million, and everything that reads them (validation, quoting a value in a
#: message) would take minutes and gigabytes.
MAX_ALIAS_VALUES = 100_000
ALIAS_RATIO = 10


class _TooManyAliases(yaml.YAMLError):
    pass


def _check_aliases(root: yaml.Node) -> None:
    """Refuse an alias inside its own anchor (a value that would contain itself), and aliases
    adding more values than ``max(MAX_ALIAS_VALUES, ALIAS_RATIO × the file's own values)``.

    PyYAML composes an alias as a second reference to its anchor's node, so the node graph is
    the size of the file: walked once, depth first, before anything is built, a node met again
    once finished is an alias, standing for all its anchor expands to."""
    expanded: dict[int, int] = {}  # id(node) → values it stands for, aliases expanded
    walking = {id(root)}
    stack = [(root, iter(_children(root)))]
    while stack:
        node, pending = stack[-1]
        child = next(pending, None)
        if child is None:
            stack.pop()
            walking.discard(id(node))
            total = 1 + sum(expanded[id(c)] for c in _children(node))
            expanded[id(node)] = min(total, _SATURATED)
        elif id(child) in walking:
            raise yaml.composer.ComposerError(
                None, None, "an alias inside its own anchor (its value would contain itself)",
                child.start_mark)
        elif id(child) not in expanded:
            walking.add(id(child))
            stack.append((child, iter(_children(child))))
    limit = max(MAX_ALIAS_VALUES, ALIAS_RATIO * len(expanded))
    if expanded[id(root)] - len(expanded) > limit:
        raise _TooManyAliases(f"aliases (*name) repeat more than {limit:,} values; anchor "
                              f"smaller values, or repeat them less often")


_SATURATED = 10**15  # any size past this is just "too many"


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_DUPLICATE = "duplicate key"


class _PyLoader(yaml.SafeLoader):
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
        mapping: dict[Hashable, Any] = super().construct_mapping(node, deep=deep)
        return mapping

    def get_single_data(self) -> Any:
        """As PyYAML's, with the aliases counted before anything is built."""
        node = self.get_single_node()
        if node is None:
            return None
        _check_aliases(node)
        return self.construct_document(node)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        try:
            return super().construct_yaml_int(node)
        except ValueError:  # more digits than sys.get_int_max_str_digits()
            raise yaml.constructor.ConstructorError(
                None, None, f"number too long ({len(node.value):,} characters)",
                node.start_mark) from None


_PyLoader.add_constructor("tag:yaml.org,2002:int", _PyLoader.construct_yaml_int)


# libyaml's parser when PyYAML was built with it (the usual wheels are): ~5x faster on a
# 5,000-service file. Constructor and resolver are the Python ones above, so values and
# duplicate-key errors are the same; syntax errors are re-told by _PyLoader.
if yaml.__with_libyaml__:
    from yaml.cyaml import CParser  # type: ignore[attr-defined]

    class _Loader(CParser, _PyLoader):
        def __init__(self, stream: str) -> None:  # as yaml.CSafeLoader does
            CParser.__init__(self, stream)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)

else:  # pragma: no cover - PyYAML without libyaml
    _Loader = _PyLoader  # type: ignore[misc,assignment]


_TOP_KEYS = ("site", "location", "locations", "quorum", "central_url", "defaults", "services",
             "maintenance", "exclusions", "incident", "notifications", "subscriptions")
_LISTS = ("services", "maintenance", "exclusions", "notifications", "locations")
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
            keys = getattr(model, "yaml_keys", None) or [
                f.alias or name for name, f in model.model_fields.items()] if model else []
            if model is ServiceConfig:  # the keys of the service's own kind
                kind = self._kind_at(loc[:-1])
                keys = [k for k in keys if kind not in KINDS or kind in SERVICE_KEYS.get(k, KINDS)]
            message = _unknown_key(keys)
        else:
            message = _GENERIC.get(error["type"], error["msg"]).format(show(error["input"]))
        at = tuple(ctx.get("at", ()))
        base = self._remap(loc)
        if base[:1] != ("defaults",) and self._remap(loc + at)[:1] == ("defaults",):
            message += " (set in defaults)"
        return [self._line(base + at, message, remapped=True)]

    def _kind_at(self, loc: Loc) -> object:
        """The ``kind`` written for the service at ``loc`` (``("services", i)``), if any."""
        services = self.raw.get("services")
        index = loc[1] if len(loc) == 2 and loc[0] == "services" else None
        if not isinstance(services, list) or not isinstance(index, int) or not (
                0 <= index < len(services)) or not isinstance(services[index], dict):
            return None
        return services[index].get("kind", "http")

    def _remap(self, loc: Loc) -> Loc:
        """A model path → the path in the YAML the user wrote."""
        if loc[:1] == ("maintenance",):
            return self.windows + loc[1:]
        if loc[:1] == ("maintenance_policy",):
            return ("maintenance", *loc[1:])
        if loc[:1] == ("notifications",) and len(loc) > 2 and loc[2] in CHANNEL_KINDS:
            return loc[:2] + loc[3:]  # drop the union's tag
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
