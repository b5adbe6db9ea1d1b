"""The whole of probes.yaml as one model, :class:`Config`, and the checks across its sections.

A service is looked up by name with :meth:`Config.service`; a name probes.yaml does not have
is :class:`UnknownService`, whose wording (:func:`unknown_service_problem`) is the one every
"unknown service" message of upwatch uses, from the config's own cross-references to the CLI,
the importer and the admin API. Where each service is probed from, and its quorum, is resolved
once, at validation, by :mod:`monitor.config.locations` (:meth:`Config.service_locations`,
:meth:`Config.service_quorum`, :meth:`Config.probes_here`). Reading YAML into this model is
:mod:`monitor.config.reader`'s.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Hashable, Iterable, Sequence
from typing import Annotated

from pydantic import AfterValidator, BaseModel, PrivateAttr, model_validator
from pydantic_core import PydanticCustomError

from monitor.config.durations import invalid, show
from monitor.config.fields import MODEL_CONFIG
from monitor.config.incident import Channels, IncidentConfig
from monitor.config.locations import (
    LocationConfig,
    Locations,
    Placement,
    place,
    unknown_location_problem,
)
from monitor.config.service import Name, Quorum, ServiceConfig, SiteConfig, Url
from monitor.config.subscriptions import SubscriptionsConfig, subscription_problems
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
    locations: Locations = ()  # see monitor.config.locations
    quorum: Quorum | None = None
    central_url: Url | None = None
    services: Annotated[tuple[ServiceConfig, ...], AfterValidator(_some_services)]
    maintenance: tuple[MaintenanceWindowConfig, ...] = ()
    maintenance_policy: MaintenancePolicy = MaintenancePolicy()
    exclusions: tuple[ExclusionConfig, ...] = ()
    incident: IncidentConfig = IncidentConfig()
    notifications: Channels = ()
    subscriptions: SubscriptionsConfig | None = None
    _by_name: dict[str, ServiceConfig] = PrivateAttr(default_factory=dict)
    _placement: Placement | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _cross_check(self) -> Config:
        names = [(("services", i, "name"), s.name) for i, s in enumerate(self.services)]
        refs: list[tuple[Loc, Hashable]] = [
            (("maintenance", i, "services", j), name)
            for i, w in enumerate(self.maintenance) for j, name in enumerate(w.services)]
        refs += [(("exclusions", i, "services", j), name)
                 for i, x in enumerate(self.exclusions) for j, name in enumerate(x.services)]
        problems = cross_problems(names, refs)
        placement, misplaced = place(self.location, self.locations, self.quorum, self.services)
        problems += misplaced
        problems += subscription_problems(self.subscriptions, self.site, self.notifications)
        if problems:
            raise PydanticCustomError("upwatch_cross", "{message}", {
                "message": "; ".join(msg for _, msg in problems), "problems": problems})
        self._by_name = {s.name: s for s in self.services}
        self._placement = placement
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

    @property
    def location_names(self) -> tuple[str, ...]:
        """The declared locations in order; without any, ``(location,)``."""
        return tuple(self._placed().locations)

    def location_config(self, name: str) -> LocationConfig:
        """The location called ``name``; KeyError, in the "unknown location" words, if none."""
        found = self._placed().locations.get(name)
        if found is None:
            raise KeyError(unknown_location_problem(name, self.location_names))
        return found

    def service_locations(self, service: str) -> tuple[str, ...]:
        """The locations that probe ``service``: its own ``locations``, else all of them."""
        return self._placed().probed_from[self.service(service).name]

    def service_quorum(self, service: str) -> int:
        """How many locations must agree on ``service``: its ``quorum``, else the top-level
        one, else a majority of :meth:`service_locations`."""
        return self._placed().quorums[self.service(service).name]

    def quorum_plan(self, services: Iterable[str]) -> dict[str, tuple[tuple[str, ...], int]]:
        """Per service: the locations that probe it and its quorum, as
        ``Ledger.quorum_runs_many`` takes them."""
        placed = self._placed()
        return {name: (placed.probed_from[name], placed.quorums[name])
                for name in (self.service(s).name for s in services)}

    def probes_here(self, location: str) -> tuple[ServiceConfig, ...]:
        """The services ``location`` probes, in config order; none for an unknown location."""
        return self._placed().probes.get(location, ())

    def _placed(self) -> Placement:
        if self._placement is None:  # built without validation
            self._placement = place(self.location, self.locations, self.quorum, self.services)[0]
        return self._placement


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
