"""``upwatch migrate-db``: SQLite → PostgreSQL → SQLite keeps every row, runs again without
change, refuses to mix two ledgers, and leaves a destination that goes on working."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ledger_sql import query, tables
from pg import Schemas
from test_import_report import CONFIG, lines_for, write_jsonl
from test_postgres import at_now

from monitor.cli.entry import main
from monitor.core.checks import CheckResult, Observation, State
from monitor.core.incidents import Impact, IncidentStatus
from monitor.store.incidents import OutboxRow
from monitor.store.ledger import Ledger

T = datetime(2026, 10, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An SQLite ledger with history, windows (one cancelled), incidents and deliveries."""
    (tmp_path / "probes.yaml").write_text(CONFIG)
    monkeypatch.setenv("UPWATCH_CONFIG", str(tmp_path / "probes.yaml"))
    monkeypatch.setenv("USER", "ops")
    db = tmp_path / "upwatch.db"
    lines = write_jsonl(tmp_path / "checks.jsonl", lines_for(seed=4)[:20_000])
    assert at_now(["import", str(lines), "--db", str(db)]) == 0
    for start in ("2026-10-14T08:00:00Z", "2026-10-15T08:00:00Z"):
        assert at_now(["maintenance", "add", "--db", str(db), "--service", "api", "--start",
                       start, "--duration", "45m", "--title", "Kernel"]) == 0
    assert at_now(["maintenance", "cancel", "--db", str(db), "2"]) == 0
    ledger = Ledger(db)
    incident, _ = ledger.open_incident(
        title="Slow API", impact=Impact.MAJOR, severity="sev2", services=["api"],
        detected_at=T, at=T, author="cli:ops", human=True)
    ledger.post_incident_update(incident.id, at=T + timedelta(minutes=5),
                                status=IncidentStatus.RESOLVED, body="fixed", author="cli:ops",
                                human=True)
    ledger.enqueue_notifications([OutboxRow("e1", "ops", "incident", "{}"),
                                  OutboxRow("e2", "ops", "incident", "{}", dropped="muted")], T)
    ledger.notification_sent(1, T + timedelta(seconds=3))
    ledger.close()
    return db


def ledger_rows(db: str | Path) -> dict[str, list[tuple[Any, ...]]]:
    found = tables(db)
    found.pop("upwatch_schema", None)  # where PostgreSQL keeps the schema version
    found["meta"] = [r for r in found["meta"] if r[0] != "generation"]  # one database's own
    return found


def test_a_round_trip_keeps_every_row_and_runs_again_without_change(
    source: Path, pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    before = ledger_rows(source)
    assert len(before["minute_runs"]) > 100 and len(before["windows"]) == 2
    capsys.readouterr()
    assert at_now(["migrate-db", "--from", str(source), "--to", pg_url,
                   "--verify-month", "2026-10"]) == 0
    out, err = capsys.readouterr()
    assert "verified: the 2026-10 report is the same on both (2 services)" in out
    assert "copying minute_runs" in err and "100 %" in err
    assert ledger_rows(pg_url) == before

    assert at_now(["migrate-db", "--from", str(source), "--to", pg_url]) == 0  # again
    assert ledger_rows(pg_url) == before

    back = tmp_path / "back.db"
    assert at_now(["migrate-db", "--from", pg_url, "--to", str(back)]) == 0
    assert ledger_rows(back) == before


def test_a_second_copy_follows_the_source_then_the_copy_goes_on_alone(
    source: Path, pg_url: str, capsys: pytest.CaptureFixture[str],
) -> None:
    assert at_now(["migrate-db", "--from", str(source), "--to", pg_url]) == 0
    # the source moves on (a cancellation, a delivery): a second copy carries it over
    assert at_now(["maintenance", "cancel", "--db", str(source), "1"]) == 0
    ledger = Ledger(source)
    ledger.notification_sent(2, T)
    ledger.close()
    assert at_now(["migrate-db", "--from", str(source), "--to", pg_url]) == 0
    assert ledger_rows(pg_url) == ledger_rows(source)
    assert [r[0] for r in query(pg_url, "SELECT cancelled_by FROM windows ORDER BY id")] == [
        "cli:ops", "cli:ops"]
    # the copy is the ledger now: new rows take ids after the copied ones ...
    assert at_now(["maintenance", "add", "--db", pg_url, "--service", "web", "--start",
                   "2026-10-28T08:00:00Z", "--duration", "1h", "--title", "Later"]) == 0
    assert query(pg_url, "SELECT id, title FROM windows ORDER BY id")[-1] == (3, "Later")
    # ... and copying the old source over it again is refused: it would lose them
    capsys.readouterr()
    assert main(["migrate-db", "--from", str(source), "--to", pg_url]) == 3
    assert "its windows row (3, 'maintenance'" in capsys.readouterr().err


def test_another_ledger_is_never_overwritten(
    source: Path, pg_schemas: Schemas, capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    other = pg_schemas.new()
    ledger = Ledger(other)
    ledger.record([Observation(CheckResult("legacy", T, True, 12.0, 200), State.UP, 60_000)])
    ledger.close()
    held = ledger_rows(other)
    capsys.readouterr()
    assert main(["migrate-db", "--from", str(source), "--to", other]) == 3
    err = capsys.readouterr().err
    assert "holds another ledger, not a copy of upwatch.db: its services row (1, 'legacy')" in err
    assert "copy into an empty database" in err
    assert ledger_rows(other) == held


def test_usage_errors(source: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["migrate-db", "--from", str(source), "--to", str(source)]) == 2
    assert "--from and --to name the same database" in capsys.readouterr().err
    assert main(["migrate-db", "--from", str(tmp_path / "nope.db"), "--to",
                 str(tmp_path / "x.db")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "x.db").exists()
