"""The whole of probes.yaml as one model, :class:`Config`, and the checks across its sections.

A service is looked up by name with :meth:`Config.service`; a name probes.yaml does not have
is :class:`UnknownService`, whose wording (:func:`unknown_service_problem`) is the one every
"unknown service" message of upwatch uses, from the config's own cross-references to the CLI,
the importer and the admin API. Reading YAML into this model is :mod:`monitor.config.reader`'s.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Hashable, Sequence
from typing import Annotated

from pydantic import AfterValidator, BaseModel, PrivateAttr, model_validator
from pydantic_core import PydanticCustomError

from monitor.config.durations import invalid, show
from monitor.config.fields import MODEL_CONFIG
from monitor.config.incident import Channels, IncidentConfig
from monitor.config.service import Name, ServiceConfig, SiteConfig
from monitor.config.windows import ExclusionConfig, MaintenancePolicy, MaintenanceWindowConfig
from monitor.errors import UpwatchError

__all__ = ["Config", "Loc", "UnknownService", "cross_problems", "unknown_service_problem"]

Loc = tuple[str | int, ...]
_LISTED = 10  # known services named in full; past that, how many more


def unknown_service_problem(name: object, known: Sequence[str]) -> str:
    """The one wording for a service name not in probes.yaml: the closest known name, if one
    is close, and the known names (the first ten of a long list)."""
    return _wording(show(name), str(name), tuple(known))


@functools.lru_cache(maxsize=64)  # an import may name the same missing service on every line
def _wording(shown: str, name: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(name, known, n=1) if known else []
    listed = ", ".join(known[:_LISTED])
    if len(known) > _LISTED:
        listed += f" and {len(known) - _LISTED:,} more"
    hint = f'did you mean "{close[0]}"? ' if close else ""
    return f"unknown service {shown} ({hint}known services: {listed})"


class UnknownService(UpwatchError, KeyError):
    """A service name that is not in probes.yaml; ``name`` as given, ``known`` the names."""

    def __init__(self, name: object, known: Sequence[str]) -> None:
        self.name, self.known = name, tuple(known)
        super().__init__(unknown_service_problem(name, self.known))


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
    incident: IncidentConfig = IncidentConfig()
    notifications: Channels = ()
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

    def service(self, name: object) -> ServiceConfig:
        """The service called ``name``; :class:`UnknownService` if there is none."""
        if len(self._by_name) != len(self.services):  # built without validation
            self._by_name = {s.name: s for s in self.services}
        found = self._by_name.get(name) if isinstance(name, str) else None
        if found is None:
            raise UnknownService(name, self.service_names)
        return found

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
    known = [str(n) for n in first]
    problems += [(loc, unknown_service_problem(name, known)) for loc, name in refs
                 if name not in first]
    return problems
