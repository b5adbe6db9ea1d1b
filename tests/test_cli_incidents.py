"""``upwatch incident``: exact output of open, update, resolve and list."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.cli.common import UsageError
from monitor.cli.incidents import add_incident_parsers, run_incident_command
from monitor.core.clock import FakeClock

T0 = datetime(2026, 10, 1, 10, 0, tzinfo=UTC)
CONFIG = """\
services:
  - name: api
    url: http://127.0.0.1:9/api
  - name: web
    url: http://127.0.0.1:9/web
"""


def upwatch(tmp_path: Path, clock: FakeClock, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="upwatch")
    add_incident_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args([*argv, "--config", str(tmp_path / "probes.yaml"),
                              "--db", str(tmp_path / "u.db")])
    return run_incident_command(args, clock=clock, environ={"USER": "alice"})


def test_open_update_resolve_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "probes.yaml").write_text(CONFIG)
    clock = FakeClock(T0)
    assert upwatch(tmp_path, clock, "incident", "list") == 0
    assert upwatch(tmp_path, clock, "incident", "open", "--title", "Slow logins",
                   "--service", "api", "--impact", "minor") == 0
    clock.advance(600)
    assert upwatch(tmp_path, clock, "incident", "update", "1", "--status", "identified",
                   "--body", "A bad index.", "--by", "bob") == 0
    assert upwatch(tmp_path, clock, "incident", "resolve", "1") == 0
    assert upwatch(tmp_path, clock, "incident", "list") == 0
    assert upwatch(tmp_path, clock, "incident", "list", "--open") == 0
    assert capsys.readouterr().out.splitlines() == [
        "No incidents.",
        "Opened incident 1 (minor, severity 3): Slow logins",
        "Incident 1 is now identified (update by cli:bob).",
        "Incident 1 is now resolved (update by cli:alice).",
        "   1  2026-10-01 10:00  resolved      minor    severity 3  api              "
        "Slow logins",
        "No open incidents.",
    ]


@pytest.mark.parametrize(("argv", "message"), [
    (("incident", "open", "--title", " ", "--service", "nope"),
     'title: must not be empty; services: unknown service "nope" (known services: api, web)'),
    (("incident", "update", "7", "--status", "monitoring", "--body", "x"),
     "no incident 7 (see: upwatch incident list)"),
], ids=["bad_input", "unknown_incident"])
def test_mistakes_are_usage_errors(tmp_path: Path, argv: tuple[str, ...], message: str) -> None:
    (tmp_path / "probes.yaml").write_text(CONFIG)
    with pytest.raises(UsageError) as err:
        upwatch(tmp_path, FakeClock(T0), *argv)
    assert str(err.value) == message
