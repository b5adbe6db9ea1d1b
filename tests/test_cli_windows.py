"""``upwatch maintenance|exclusion add|list|cancel``: exact output, errors, local time, and the
same records as the admin API."""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from windows_setup import CONFIG, NOW, TOKEN

from monitor.cli import entry as cli
from monitor.cli.windows import add_window_parsers, run_window_command
from monitor.config import Config, parse_config
from monitor.core.clock import FakeClock
from monitor.store.ledger import Ledger
from monitor.store.writer import LedgerWriter
from monitor.web.admin import ADMIN_PREFIX, AdminTokens, admin_app

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Upwatch:
    """``upwatch`` with its maintenance and exclusion commands, a fake clock and $USER=alice."""

    config: Path
    db: Path
    capsys: pytest.CaptureFixture[str]
    clock: FakeClock = field(default_factory=lambda: FakeClock(NOW))
    env: dict[str, str] = field(default_factory=lambda: {"USER": "alice"})

    def __call__(self, command: str, action: str, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        try:
            code = cli.main([command, action, "--config", str(self.config), "--db",
                             str(self.db), *args])
        except SystemExit as stop:  # argparse's own usage errors
            code = int(stop.code or 0)
        out = self.capsys.readouterr()
        return code, out.out, out.err


@pytest.fixture
def upwatch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Upwatch]:
    """cli.main with the maintenance and exclusion commands, on the fake clock and $USER."""
    (tmp_path / "probes.yaml").write_text(CONFIG, "utf-8")
    run = Upwatch(tmp_path / "probes.yaml", tmp_path / "upwatch.db", capsys)

    def handler(args: argparse.Namespace) -> int:
        return run_window_command(args, clock=run.clock, environ=run.env)

    def build_parser() -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(prog="upwatch")
        sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
        add_window_parsers(sub)
        for command in sub.choices.values():
            command.set_defaults(handler=handler)
        return parser

    monkeypatch.setattr(cli, "build_parser", build_parser)
    yield run


PLANNED = ("--service", "api", "--service", "web", "--start", "2026-10-03T02:00:00Z",
           "--end", "2026-10-03T03:00:00Z", "--title", "Database upgrade")


# ---- add -----------------------------------------------------------------------------------


def test_add_prints_what_was_stored_and_the_warnings(upwatch: Upwatch) -> None:
    code, out, err = upwatch("maintenance", "add", *PLANNED)
    assert code == 0
    assert out.splitlines() == [
        "Added maintenance window 1: 2026-10-03T02:00:00Z to 2026-10-03T03:00:00Z for api, "
        "web: Database upgrade",
        "Declared by cli:alice at 2026-09-28T20:00:00Z.",
    ]
    assert err.splitlines() == [
        "Warning: start: 2026-10-03T02:00:00Z is inside the SLA coverage hours of web"]


def test_add_an_exclusion_after_the_fact(upwatch: Upwatch) -> None:
    code, out, err = upwatch("exclusion", "add", "--service", "api", "--start",
                             "2026-09-28T10:00:00Z", "--duration", "45m", "--reason",
                             "Upstream DNS provider outage (their incident 1234)", "--by", "bob")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "Added exclusion 1: 2026-09-28T10:00:00Z to 2026-09-28T10:45:00Z for api: Upstream DNS "
        "provider outage (their incident 1234)",
        "Declared by cli:bob at 2026-09-28T20:00:00Z.",
    ]


def test_add_starting_now(upwatch: Upwatch) -> None:
    code, out, err = upwatch("maintenance", "add", "--service", "api", "--start", "now",
                             "--duration", "30m", "--title", "Hotfix")
    assert code == 0
    assert out.splitlines()[0] == ("Added maintenance window 1: 2026-09-28T20:00:00Z to "
                                   "2026-09-28T20:30:00Z for api: Hotfix")
    assert err.splitlines() == [
        "Warning: start: no notice; maintenance.min_notice in probes.yaml asks for 2d"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--start", "2026-10-25T01:00", "--end", "2026-10-25T04:00"),
         "2026-10-24T23:00:00Z to 2026-10-25T03:00:00Z"),
        (("--start", "2026-03-29T01:00", "--duration", "2h"),
         "2026-03-29T00:00:00Z to 2026-03-29T02:00:00Z"),
        (("--start", "2026-10-24T23:00:00Z", "--end", "2026-10-25T03:00"),
         "2026-10-24T23:00:00Z to 2026-10-25T02:00:00Z"),
    ],
    ids=["autumn-night-is-4h", "spring-2h-elapsed", "offset-and-local-mixed"],
)
def test_local_times_with_timezone_across_dst(
    upwatch: Upwatch, args: tuple[str, ...], expected: str
) -> None:
    upwatch.clock.set(datetime(2027, 1, 1, tzinfo=UTC))
    code, out, _ = upwatch("exclusion", "add", "--service", "web", "--reason", "Outage",
                           "--timezone", "Europe/Copenhagen", *args)
    assert code == 0
    assert out.splitlines()[0] == f"Added exclusion 1: {expected} for web: Outage"


@pytest.mark.parametrize(
    ("args", "errors"),
    [
        (("--service", "apx", "--start", "2026-10-03T02:00", "--end", "2026-10-03T01:00:00Z",
          "--title", " "),
         ['Error: services: unknown service "apx" (did you mean "api"? known services: api, web)',
          "Error: start: needs a UTC offset such as Z or +02:00, or pass --timezone",
          "Error: title: required for maintenance"]),
        (("--service", "api", "--start", "2026-10-03T02:00:00Z", "--end",
          "2026-10-03T01:00:00Z", "--title", "x"),
         ["Error: end: must be after start (2026-10-03T02:00:00Z)"]),
        (("--service", "api", "--start", "2026-10-03T02:00:00Z", "--duration", "9d",
          "--title", "x"),
         ["Error: end: the window is 9d long; the limit is 7d (maintenance.max_duration in "
          "probes.yaml)"]),
        (("--service", "api", "--start", "2026-10-25T02:30", "--duration", "1h", "--title",
          "x", "--timezone", "Europe/Copenhagen"),
         ["Error: start: 2026-10-25T02:30 happens twice in Europe/Copenhagen; write the "
          "offset: 2026-10-25T02:30:00+02:00 (the first) or 2026-10-25T02:30:00+01:00 (the "
          "second)"]),
        (("--service", "api", "--start", "2026-03-29T02:30", "--duration", "1h", "--title",
          "x", "--timezone", "Europe/Copenhagen"),
         ["Error: start: 2026-03-29T02:30 does not exist in Europe/Copenhagen (the clocks "
          "skip it); write the offset, e.g. 2026-03-29T03:30:00+02:00"]),
        (("--service", "api", "--start", "2026-10-03T02:00", "--duration", "1h", "--title",
          "x", "--timezone", "Europe/Copenhagn"),
         ['Error: --timezone: unknown time zone "Europe/Copenhagn"']),
        (("--service", "api", "--start", "now", "--duration", "an hour", "--title", "x"),
         ['Error: --duration: expected a duration like "30s", "5m" or "1h", got "an hour"']),
        (("--service", "api", "--start", "now", "--duration", "1h", "--title", "x",
          "--by", "bob smith"),
         ['Error: --by: 1-64 letters, digits, ".", "_", "-" or "@", got "bob smith"']),
    ],
    ids=["several-at-once", "end-before-start", "too-long", "ambiguous-local-time",
         "skipped-local-time", "unknown-zone", "bad-duration", "bad-by"],
)
def test_add_errors_exit_2_and_store_nothing(
    upwatch: Upwatch, args: tuple[str, ...], errors: list[str]
) -> None:
    code, out, err = upwatch("maintenance", "add", *args)
    assert (code, out, err.splitlines()) == (2, "", errors)
    if upwatch.db.exists():
        led = Ledger(upwatch.db)
        assert led.windows() == []
        led.close()


def test_a_broken_config_or_database_is_reported(upwatch: Upwatch, tmp_path: Path) -> None:
    upwatch.config = tmp_path / "missing.yaml"
    code, _, err = upwatch("maintenance", "add", *PLANNED)
    assert (code, err) == (2, f"{upwatch.config}: file not found (create it, or set "
                              "UPWATCH_CONFIG / --config)\n")
    upwatch.db = tmp_path / "not-a-db"
    upwatch.db.write_bytes(b"this is not sqlite\n" * 100)
    code, _, err = upwatch("maintenance", "list")
    assert code == 3
    assert err.startswith("Error: not-a-db is not an upwatch database: ")


@pytest.mark.parametrize(
    ("env", "by"),
    [({"USER": "carol"}, "cli:carol"), ({}, "cli:from-getpass")],
    ids=["user-variable", "getpass-fallback"],
)
def test_declared_by_is_the_user(
    upwatch: Upwatch, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], by: str
) -> None:
    monkeypatch.setattr("getpass.getuser", lambda: "from-getpass")
    upwatch.env = env
    _, out, _ = upwatch("maintenance", "add", *PLANNED)
    assert out.splitlines()[1] == f"Declared by {by} at 2026-09-28T20:00:00Z."


# ---- list ----------------------------------------------------------------------------------


def test_list_shows_every_window_with_its_status(upwatch: Upwatch) -> None:
    assert upwatch("maintenance", "list")[:2] == (0, "No maintenance windows.\n")
    upwatch("maintenance", "add", *PLANNED)
    upwatch("maintenance", "add", "--service", "web", "--start", "2026-09-28T19:00:00Z",
            "--end", "2026-09-28T21:00:00Z", "--title", "Late patch", "--by", "bob")
    upwatch("maintenance", "add", "--service", "api", "--start", "2026-10-04T02:00:00Z",
            "--end", "2026-10-04T03:00:00Z", "--title", "Called off")
    upwatch("maintenance", "cancel", "3")
    code, out, err = upwatch("maintenance", "list")
    assert (code, err) == (0, "")
    assert out == (
        "ID  STATUS     START                 END                   SERVICES  TITLE"
        "             DECLARED BY  DECLARED AT\n"
        "2   active     2026-09-28T19:00:00Z  2026-09-28T21:00:00Z  web       Late patch"
        "        cli:bob      2026-09-28T20:00:00Z\n"
        "1   upcoming   2026-10-03T02:00:00Z  2026-10-03T03:00:00Z  api, web  Database upgrade"
        "  cli:alice    2026-09-28T20:00:00Z\n"
        "3   cancelled  2026-10-04T02:00:00Z  2026-10-04T03:00:00Z  api       Called off"
        "        cli:alice    2026-09-28T20:00:00Z\n"
    )
    assert [line.split()[0] for line in upwatch("maintenance", "list", "--past")[1]
            .splitlines()[1:]] == ["3"]
    assert [line.split()[0] for line in upwatch("maintenance", "list", "--upcoming")[1]
            .splitlines()[1:]] == ["1"]
    assert [line.split()[0] for line in upwatch("maintenance", "list", "--service", "web")[1]
            .splitlines()[1:]] == ["2", "1"]
    assert upwatch("exclusion", "list", "--active")[1] == "No active exclusions.\n"


def test_list_as_json(upwatch: Upwatch) -> None:
    upwatch("exclusion", "add", "--service", "api", "--start", "2026-09-28T10:00:00Z",
            "--end", "2026-09-28T10:30:00Z", "--reason", "DNS")
    code, out, _ = upwatch("exclusion", "list", "--format", "json")
    assert code == 0
    assert json.loads(out) == {"exclusions": [{
        "id": 1, "kind": "exclusion", "services": ["api"], "start": "2026-09-28T10:00:00Z",
        "end": "2026-09-28T10:30:00Z", "reason": "DNS", "declared_at": "2026-09-28T20:00:00Z",
        "declared_by": "cli:alice", "cancelled_at": None, "cancelled_by": None,
        "warnings": []}]}


def test_list_rejects_two_filters(upwatch: Upwatch) -> None:
    code, _, err = upwatch("maintenance", "list", "--past", "--active")
    assert code == 2
    assert err.splitlines()[-1] == ("upwatch maintenance list: error: argument --active: not "
                                    "allowed with argument --past")


# ---- cancel --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "effect"),
    [
        (datetime(2026, 9, 29, tzinfo=UTC),
         "it had not begun: none of it counts as maintenance"),
        (datetime(2026, 10, 3, 2, 20, tzinfo=UTC),
         "it counts as maintenance until 2026-10-03T02:20:00Z"),
        (datetime(2026, 10, 4, tzinfo=UTC),
         "it had already ended: the minutes it covered stay maintenance"),
    ],
    ids=["before", "during", "after"],
)
def test_cancel_says_what_it_does_and_keeps_the_record(
    upwatch: Upwatch, at: datetime, effect: str
) -> None:
    upwatch("maintenance", "add", *PLANNED)
    upwatch.clock.set(at)
    code, out, err = upwatch("maintenance", "cancel", "1", "--by", "bob")
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (code, err) == (0, "")
    assert out.splitlines() == [f"Cancelled maintenance window 1 (by cli:bob at {stamp}): "
                                f"{effect}.", "The record is kept; see list."]
    code, out, _ = upwatch("maintenance", "cancel", "1")
    assert (code, out) == (0, f"Maintenance window 1 was already cancelled by cli:bob at "
                              f"{stamp}; nothing changed.\n")
    listed = json.loads(upwatch("maintenance", "list", "--format", "json")[1])["maintenance"]
    assert [(w["id"], w["cancelled_at"], w["cancelled_by"]) for w in listed] == [
        (1, stamp, "cli:bob")]


def test_cancel_an_exclusion(upwatch: Upwatch) -> None:
    upwatch("exclusion", "add", "--service", "api", "--start", "2026-09-28T10:00:00Z",
            "--end", "2026-09-28T10:30:00Z", "--reason", "DNS")
    code, out, _ = upwatch("exclusion", "cancel", "1")
    assert (code, out.splitlines()[0]) == (0, "Cancelled exclusion 1 (by cli:alice at "
                                              "2026-09-28T20:00:00Z): its minutes count in the "
                                              "SLA again.")


@pytest.mark.parametrize(
    ("command", "ident", "error"),
    [
        ("maintenance", "2", 'Error: no maintenance window with id "2"'),
        ("maintenance", "x1", 'Error: no maintenance window with id "x1"'),
        ("exclusion", "1", 'Error: no exclusion with id "1" (1 is a maintenance window)'),
    ],
    ids=["unknown", "not-a-number", "other-kind"],
)
def test_cancel_an_unknown_id(upwatch: Upwatch, command: str, ident: str, error: str) -> None:
    upwatch("maintenance", "add", *PLANNED)
    code, out, err = upwatch(command, "cancel", ident)
    assert (code, out, err) == (2, "", error + "\n")


# ---- the CLI and the API write the same records --------------------------------------------


@dataclass
class Rt:
    config: Config
    clock: FakeClock
    writer: LedgerWriter


async def test_the_cli_and_the_api_write_the_same_records(
    upwatch: Upwatch, aiohttp_client: Callable[..., Any]
) -> None:
    writer = LedgerWriter(Ledger(upwatch.db), upwatch.clock)
    app = web.Application()
    app.add_subapp(ADMIN_PREFIX, admin_app(Rt(parse_config(CONFIG), upwatch.clock, writer),
                                           AdminTokens.of({"admin": TOKEN})))
    client = await aiohttp_client(app)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        upwatch("maintenance", "add", *PLANNED)
        async with client.post("/api/v1/maintenance", headers=auth, json={
            "services": ["api", "web"], "start": "2026-10-03T02:00:00Z",
            "end": "2026-10-03T03:00:00Z", "title": "Database upgrade"}) as resp:
            assert resp.status == 201
            via_api = await resp.json()
        upwatch.clock.advance(60)
        upwatch("maintenance", "cancel", "2")
        async with client.delete("/api/v1/maintenance/1", headers=auth) as resp:
            assert resp.status == 200
        async with client.get("/api/v1/maintenance", headers=auth) as resp:
            api_list = (await resp.json())["maintenance"]
        cli_list = json.loads(upwatch("maintenance", "list", "--format", "json")[1])[
            "maintenance"]
    finally:
        await writer.close()
    assert cli_list == api_list
    by_cli, by_api = api_list
    assert by_api == {**via_api, "cancelled_at": "2026-09-28T20:01:00Z",
                      "cancelled_by": "cli:alice"}
    differs = {k for k in by_cli if by_cli[k] != by_api[k]}
    assert differs == {"id", "declared_by", "cancelled_by"}
    assert (by_cli["declared_by"], by_cli["cancelled_by"]) == ("cli:alice", "api:admin")
    assert (by_api["declared_by"], by_api["cancelled_by"]) == ("api:admin", "cli:alice")


# ---- documentation -------------------------------------------------------------------------


def test_every_option_is_documented() -> None:
    doc = (ROOT / "docs" / "maintenance.md").read_text("utf-8")
    parser = argparse.ArgumentParser(prog="upwatch")
    sub = parser.add_subparsers(dest="command")
    add_window_parsers(sub)
    missing = []
    for command, p in sub.choices.items():
        for action in p._subparsers._group_actions[0].choices.values():  # type: ignore[union-attr]
            for opt in action._option_string_actions:
                if opt.startswith("--") and opt != "--help" and opt not in doc:
                    missing.append(f"{command} {opt}")
            if f"upwatch {command} {action.prog.split()[-1]}" not in doc:
                missing.append(f"upwatch {command} {action.prog.split()[-1]}")
    assert missing == []
    assert re.search(r"UPWATCH_ADMIN_TOKEN_FILE", doc)
