"""One error base, ``UpwatchError`` with ``problems``, and one wording for an unknown service."""

from __future__ import annotations

import pytest

from monitor.cli.common import DatabaseError, UsageError
from monitor.config import Config, ConfigError, UnknownService, parse_config
from monitor.errors import UpwatchError
from monitor.importer import ImportFailed, LineError
from monitor.incidents.desk import IncidentInputError
from monitor.notify import ChannelSetupError, DeliveryError
from monitor.report import ReportError
from monitor.web.admin import AdminTokenError
from monitor.windows.declarations import DeclarationError, UnknownWindow
from statuspage.render import BuildError

SERVICES = [f"svc-{i:02d}" for i in range(12)]


def config_of(names: list[str], extra: str = "") -> Config:
    lines = "".join(f'  - {{name: {n}, url: "http://127.0.0.1:9/"}}\n' for n in names)
    return parse_config("services:\n" + lines + extra)


@pytest.mark.parametrize("cls", [
    ConfigError, UnknownService, DeclarationError, UnknownWindow, IncidentInputError,
    ChannelSetupError, DeliveryError, AdminTokenError, ReportError, ImportFailed, LineError,
    BuildError, UsageError, DatabaseError])
def test_every_error_is_an_upwatch_error(cls: type[Exception]) -> None:
    assert issubclass(cls, UpwatchError)


def test_problems_are_lines_and_str_joins_them() -> None:
    one, several = UpwatchError("it broke"), DeclarationError(["start: required", "end: required"])
    assert (one.problems, str(one), one.args) == (("it broke",), "it broke", ("it broke",))
    assert several.problems == ("start: required", "end: required")
    assert str(several) == "start: required; end: required"
    assert str(ConfigError(["a: x", "b: y"])) == "a: x\nb: y"  # printed one per line
    assert str(ImportFailed(["line 1: x", "nothing imported"], 1)) == "line 1: x\nnothing imported"


@pytest.mark.parametrize(("name", "known", "text"), [
    ("apx", ["api", "web"], 'unknown service "apx" (did you mean "api"? known services: api, web)'),
    ("db", ["api", "web"], 'unknown service "db" (known services: api, web)'),
    (7, ["api"], "unknown service 7 (known services: api)"),
    ("svc-1", SERVICES, 'unknown service "svc-1" (did you mean "svc-11"? known services: '
                        + ", ".join(SERVICES[:10]) + " and 2 more)"),
    ("zzz", SERVICES, 'unknown service "zzz" (known services: '
                      + ", ".join(SERVICES[:10]) + " and 2 more)"),
], ids=["close", "not-close", "not-text", "long-list-close", "long-list"])
def test_one_wording_for_an_unknown_service(name: object, known: list[str], text: str) -> None:
    with pytest.raises(UnknownService) as caught:
        config_of(known).service(name)
    assert str(caught.value) == text
    assert caught.value.problems == (text,)
    assert isinstance(caught.value, KeyError)  # what Config.service raised before


def test_the_config_refers_to_services_in_the_same_words() -> None:
    window = ("maintenance:\n  - {services: [zzz], title: t, start: 2026-10-01T02:00:00Z, "
              "end: 2026-10-01T03:00:00Z}\n")
    with pytest.raises(ConfigError) as caught:
        config_of(SERVICES, window)
    assert caught.value.problems == (
        'probes.yaml: maintenance[0].services[0]: unknown service "zzz" (known services: '
        + ", ".join(SERVICES[:10]) + " and 2 more)",)
