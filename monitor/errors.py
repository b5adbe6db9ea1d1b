"""The one base of every error upwatch raises on purpose, and the whole tree in one place.

Each error carries ``problems``: what is wrong, one human-readable line each, written for the
person who has to fix it (the field or flag first, then what was expected, then what was
given). ``str(err)`` is the lines joined with "; ", or with a line break where a class says so
(``joiner``) because its lines are printed one per line.

Our exception hierarchy::

    UpwatchError                      monitor.errors
    ├── ConfigError                   monitor.config.reader: probes.yaml is missing, unreadable or
    │                                 invalid (load_config, parse_config, a reload on SIGHUP); one
    │                                 line per problem, each starting with the file; joins with
    │                                 line breaks
    ├── UnknownService                monitor.config.model: Config.service() was given a name that
    │                                 is not in probes.yaml (also a KeyError); its wording is the
    │                                 one every "unknown service" message uses
    ├── DeclarationError              monitor.windows.declarations: declare() refuses a maintenance
    │                                 window or exclusion (CLI or admin API); one line per field
    │                                 (also a ValueError)
    ├── UnknownWindow                 monitor.windows.declarations: get_declared() or cancel() found
    │                                 no window of that kind with that id (also a LookupError)
    ├── IncidentInputError            monitor.incidents.desk: IncidentDesk.open() or update() was
    │                                 given unusable input; one line per field
    ├── ChannelSetupError             monitor.notify: a notification channel cannot be built (the
    │                                 environment variable holding its secret is unset, say); one
    │                                 line per channel; joins with line breaks
    ├── DeliveryError                 monitor.notify: a channel did not take a message;
    │                                 ``permanent`` when retrying cannot help
    ├── AdminTokenError               monitor.web.admin: UPWATCH_ADMIN_TOKEN or
    │                                 UPWATCH_ADMIN_TOKEN_FILE is unusable (too short, both set,
    │                                 unreadable file)
    ├── LedgerError                   monitor.store.schema: the SQLite ledger cannot be opened,
    │                                 migrated or written
    ├── ReportError                   monitor.report: a report request cannot be answered (a bad
    │                                 month, a month not begun, an unknown --service; also a
    │                                 ValueError)
    ├── ImportFailed                  monitor.importer: ``upwatch import`` found invalid lines and
    │                                 wrote nothing; ``invalid`` counts them; joins with line breaks
    ├── LineError                     monitor.importer: one input line is invalid; ``field`` names
    │                                 the column (also a ValueError; import_lines collects them)
    ├── BuildError                    statuspage.render: the status page cannot be built or
    │                                 published where asked
    ├── UsageError                    monitor.cli.common: a command-line mistake; exit code 2
    └── DatabaseError                 monitor.cli.common: the ledger cannot be used by a command;
                                      exit code 3

The CLI (:mod:`monitor.cli.entry`) prints ConfigError's lines as they are and the other two
after ``Error:``; command modules turn the rest into UsageError or DatabaseError, or print them
and choose the exit code themselves. The admin API answers DeclarationError and
IncidentInputError with 400 and UnknownWindow with 404, listing ``problems`` in the JSON body.

Not in the tree: ``ApiError`` (:mod:`monitor.web.admin`) is not an error in this sense but the
admin API's way of answering with a status code; it never leaves the admin sub-application.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

__all__ = ["UpwatchError"]


class UpwatchError(Exception):
    """Something upwatch cannot do, said in ``problems``: one human-readable line each.

    Built from one message or from several lines; ``str(err)`` joins them with :attr:`joiner`.
    """

    #: What ``str(err)`` puts between two problems.
    joiner: ClassVar[str] = "; "

    def __init__(self, problems: str | Iterable[str]) -> None:
        self.problems: tuple[str, ...] = (
            (problems,) if isinstance(problems, str) else tuple(problems))
        super().__init__(str(self))

    def __str__(self) -> str:
        return self.joiner.join(self.problems)
