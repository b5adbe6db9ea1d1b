"""Probing locations and quorum: which locations probe which service, and how many must agree.

probes.yaml may declare ``locations`` (each a :class:`LocationConfig`: a name, a display title
and the environment variable holding that location's push token), a top-level ``quorum`` and
``central_url``, the URL probers push their results to. A service may name the ``locations``
that probe it (default: all) and its own ``quorum`` (default: the top-level one, else a
majority of its locations). A push service is judged by the central alone (its ``location``),
where its pings arrive. Without ``locations`` there is one implicit location, the
top-level ``location`` (``local``), so a single-location file means what it always did.

:func:`place` resolves all of that once, when :class:`~monitor.config.model.Config` is
validated, into a :class:`Placement`, and lists what cannot work (an unknown location, a quorum
larger than the locations that probe a service) as path-qualified problems.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, model_validator

from monitor.config.durations import invalid, show
from monitor.config.fields import MODEL_CONFIG, Text
from monitor.config.service import Name, ServiceConfig

__all__ = ["LocationConfig", "Locations", "Placement", "default_token_env", "place",
           "unknown_location_problem"]

_Loc = tuple[str | int, ...]  # a path in the model, as monitor.config.model.Loc
_ENV = re.compile(r"[A-Z_][A-Z0-9_]*")
_LISTED = 10  # services named in full in one message; past that, how many more


def default_token_env(name: str) -> str:
    """``UPWATCH_TOKEN_`` and the name upper-cased, every other character than A-Z and 0-9
    turned into ``_``: "fra" → "UPWATCH_TOKEN_FRA", "eu-west.1" → "UPWATCH_TOKEN_EU_WEST_1"."""
    return "UPWATCH_TOKEN_" + re.sub(r"[^A-Z0-9]", "_", name.upper())


def _token_env(value: str) -> str:
    if not _ENV.fullmatch(value):
        raise invalid("expected an environment variable name of capitals, digits and _, not "
                      f"starting with a digit (like UPWATCH_TOKEN_FRA), got {show(value)}")
    return value


class LocationConfig(BaseModel):
    """One probing location: ``name`` tags its check results, ``title`` is shown for it, and
    the environment variable ``token_env`` holds the token it pushes its results with."""

    model_config = MODEL_CONFIG
    name: Name
    title: Text = ""  # filled with the name when not given
    token_env: Annotated[str, AfterValidator(_token_env)] = ""  # filled from the name likewise

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        if isinstance(data, str):  # [fra, cph]: say what a location is
            raise invalid(f"expected a mapping (name, title, token_env), got {show(data)}")
        if not isinstance(data, dict):
            return data
        data = dict(data)
        name = data.get("name")  # a missing or bad name is reported once, as the name's
        if "title" not in data:
            data["title"] = name if isinstance(name, str) and name.strip() else "-"
        if "token_env" not in data:
            data["token_env"] = default_token_env(name) if isinstance(name, str) else "UPWATCH"
        return data


def _unique(locations: tuple[LocationConfig, ...]) -> tuple[LocationConfig, ...]:
    """Each location's name once, and each its own token variable."""
    for key, what in (("name", "location name"), ("token_env", "token_env")):
        first: dict[str, int] = {}
        for index, location in enumerate(locations):
            value = getattr(location, key)
            if value in first:
                fix = "" if key == "name" else (
                    "; each location pushes with its own token: set token_env on one of them")
                raise invalid(f"duplicate {what} {show(value)} (also locations[{first[value]}])"
                              + fix, index, key)
            first[value] = index
    return locations


#: The top-level ``locations``: names unique, token variables unique.
Locations = Annotated[tuple[LocationConfig, ...], AfterValidator(_unique)]


def unknown_location_problem(name: object, known: Sequence[str], *, implicit: bool = False
                             ) -> str:
    """``unknown location "x" (known locations: fra, cph)``, with the closest known name if one
    is close; ``implicit``: no locations are declared, ``known`` is this instance's only."""
    close = difflib.get_close_matches(name, known, n=1) if isinstance(name, str) else []
    hint = f'did you mean "{close[0]}"? ' if close else ""
    more = "; declare it in the top-level locations list" if implicit else ""
    return f"unknown location {show(name)} ({hint}known locations: {', '.join(known)}{more})"


@dataclass(frozen=True)
class Placement:
    """probes.yaml's locations resolved: every location by name (declared order), and per
    service the locations that probe it, its quorum; per location the services it probes."""

    locations: dict[str, LocationConfig]
    probed_from: dict[str, tuple[str, ...]]
    quorums: dict[str, int]
    probes: dict[str, tuple[ServiceConfig, ...]]


def place(location: str, locations: Sequence[LocationConfig], quorum: int | None,
          services: Sequence[ServiceConfig]) -> tuple[Placement, list[tuple[_Loc, str]]]:
    """Resolve where each service is probed from and its quorum; with the problems found:
    unknown locations named by a service, and quorums larger than a service's locations."""
    declared = {loc.name: loc for loc in locations} or {
        location: LocationConfig(name=location)}
    names = tuple(declared)
    problems: list[tuple[_Loc, str]] = []
    probed_from: dict[str, tuple[str, ...]] = {}
    quorums: dict[str, int] = {}
    probes: dict[str, list[ServiceConfig]] = {name: [] for name in names}
    too_high: list[tuple[str, int, tuple[str, ...]]] = []  # the top-level quorum's
    for i, service in enumerate(services):
        if service.kind == "push":  # judged where its pings arrive: by the central, alone
            probed_from[service.name], quorums[service.name] = (location,), 1
            probes.setdefault(location, []).append(service)
            continue
        where = names if service.locations is None else service.locations
        unknown = [(j, name) for j, name in enumerate(where) if name not in declared]
        problems += [(("services", i, "locations", j),
                      unknown_location_problem(name, names, implicit=not locations))
                     for j, name in unknown]
        wanted = service.quorum if service.quorum is not None else quorum
        quorums[service.name] = len(where) // 2 + 1 if wanted is None else wanted
        probed_from[service.name] = where
        for name in where:
            probes.get(name, []).append(service)
        if unknown or wanted is None or wanted <= len(where):
            continue
        if service.quorum is not None:
            problems.append((("services", i, "quorum"), _too_high(
                wanted, service.name, where) + "; lower it or add locations"))
        else:
            too_high.append((service.name, wanted, where))
    if too_high:
        name, wanted, where = too_high[0]
        others = [f"{show(other)} ({_count(len(on))})" for other, _, on in too_high[1:]]
        also = "; also too high for " + _listed(others) if others else ""
        problems.append((("quorum",), _too_high(wanted, name, where) + "; lower it or add "
                         f"locations, or give {show(name)} a quorum of its own" + also))
    return Placement(declared, probed_from, quorums,
                     {name: tuple(found) for name, found in probes.items()}), problems


def _too_high(quorum: int, service: str, where: tuple[str, ...]) -> str:
    verb = "probes" if len(where) == 1 else "probe"
    return (f"{quorum} is more than the {_count(len(where))} that {verb} {show(service)} "
            f"({', '.join(where)})")


def _count(n: int) -> str:
    return f"{n} location" if n == 1 else f"{n:,} locations"


def _listed(names: list[str]) -> str:
    text = ", ".join(names[:_LISTED])
    return text + (f" and {len(names) - _LISTED:,} more" if len(names) > _LISTED else "")
