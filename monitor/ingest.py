"""Results pushed by the probers of other locations (``POST /api/v1/results``): a batch of
import lines (:mod:`monitor.importer`'s format) from one authenticated location, checked line
by line.

A line is taken when the importer would take it, its ``location`` (if given) is the pushing
location's own, and that location probes the service; anything else is an invalid line, named
with its number and never recorded. Invalid lines do not stop the valid ones: a prober cannot
fix a line it already sent, and holding back its good results for one bad line would turn its
minutes into nodata. Recording twice what was already recorded changes nothing (see
``Ledger.record``), so a prober that resends after a lost answer loses nothing and adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from monitor.config import Config
from monitor.config.durations import show
from monitor.core.checks import Observation
from monitor.importer import (
    LineError,
    Target,
    decode_json_line,
    not_utf8,
    parse_record,
    targets,
)

__all__ = ["MAX_LINES", "MAX_SHOWN_ERRORS", "PushedBatch", "parse_pushed"]

#: Lines one request may carry.
MAX_LINES = 20_000
#: Invalid lines described in an answer; the rest are counted.
MAX_SHOWN_ERRORS = 20


@dataclass
class PushedBatch:
    """What a pushed body holds: the observations to record and the lines refused."""

    observations: list[Observation] = field(default_factory=list)
    lines: int = 0
    invalid: int = 0
    errors: list[str] = field(default_factory=list)

    def refuse(self, number: int, err: LineError) -> None:
        self.invalid += 1
        if len(self.errors) < MAX_SHOWN_ERRORS:
            self.errors.append(f"line {number}: {err}")


class TooManyLines(ValueError):
    """A body with more than :data:`MAX_LINES` lines."""


def parse_pushed(text: str, location: str, config: Config, now: datetime) -> PushedBatch:
    """The lines of ``text`` (decoded with ``errors="surrogateescape"``) pushed by
    ``location``; raises :class:`TooManyLines` past :data:`MAX_LINES` (nothing is taken)."""
    batch = PushedBatch()
    known, probed = _lookups(config, location)
    # a byte that is not UTF-8 is looked for line by line only in a body that holds one
    check_bytes = not text.isascii() and not_utf8(text) is not None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line or line.isspace():  # blank
            continue
        batch.lines += 1
        if batch.lines > MAX_LINES:
            raise TooManyLines(f"more than {MAX_LINES:,} lines in one request; send at most "
                               f"{MAX_LINES:,}")
        record = (check_bytes and not_utf8(line)) or decode_json_line(line)
        try:
            if isinstance(record, LineError):
                raise record
            if isinstance(record, dict):
                record = _own_location(record, location)
            obs = parse_record(record, config, now, known)
            if obs.result.service not in probed:
                raise LineError("service", f'location "{location}" does not probe service '
                                           f"{show(obs.result.service)} (see its locations in "
                                           "probes.yaml)")
        except LineError as err:
            batch.refuse(number, err)
            continue
        batch.observations.append(obs)
    return batch


_LOOKUPS: dict[tuple[int, str], tuple[Config, dict[str, Target], frozenset[str]]] = {}


def _lookups(config: Config, location: str) -> tuple[dict[str, Target], frozenset[str]]:
    """The services' :class:`Target` s and the names ``location`` probes, made once per config
    (a reload brings a new one) rather than once per request."""
    found = _LOOKUPS.get((id(config), location))
    if found is None or found[0] is not config:
        if len(_LOOKUPS) > 16:  # configs of earlier reloads
            _LOOKUPS.clear()
        found = (config, targets(config),
                 frozenset(svc.name for svc in config.probes_here(location)))
        _LOOKUPS[id(config), location] = found
    return found[1], found[2]


def _own_location(record: dict[str, object], location: str) -> dict[str, object]:
    """``record`` with ``location`` set to the pushing location; a different one is refused."""
    given = record.get("location")
    if given in (None, ""):
        return {**record, "location": location}
    if given != location:
        raise LineError("location", f"{show(given)} is not the pushing location "
                                    f'"{location}" (a token pushes for its own location only)')
    return record
