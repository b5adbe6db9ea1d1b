"""Inputs and conditions that once ended in a traceback: each now exits 2 (bad input or usage)
or 3 (the database cannot be used) with one ``Error:`` line, or the importer's lines, that
names the problem and what to do about it (issue 11, item 10)."""

from __future__ import annotations

import json
import os
import random
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.cli import main

CONFIG = """\
site: {title: Errors test}
services:
  - name: api
    url: http://127.0.0.1:9/api
    interval: 60s
    sla: {target: 99.5, timezone: Europe/Copenhagen}
  - name: web
    url: http://127.0.0.1:9/web
    interval: 5m
    sla: {target: 99.9}
"""

GOOD = '{"service": "api", "time": "2026-10-01T00:00:00Z", "ok": true}\n'
IS_ROOT = os.geteuid() == 0
AS_ROOT = "root writes through chmod; run the suite as another user to cover this case"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "probes.yaml").write_text(CONFIG)
    monkeypatch.setenv("UPWATCH_CONFIG", str(tmp_path / "probes.yaml"))
    monkeypatch.setenv("UPWATCH_DB", str(tmp_path / "upwatch.db"))
    return tmp_path


class Upwatch:
    """``main(argv)`` → (exit code, stderr), argparse's own exits included; never a traceback."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def __call__(self, *argv: str) -> tuple[int, str]:
        self.capsys.readouterr()
        try:
            code = main(list(argv))
        except SystemExit as stop:  # argparse's usage errors
            code = int(stop.code or 0)
        err = self.capsys.readouterr().err
        assert "Traceback" not in err
        return code, err


@pytest.fixture
def upwatch(capsys: pytest.CaptureFixture[str]) -> Upwatch:
    return Upwatch(capsys)


def nothing_imported(db: Path) -> bool:
    con = sqlite3.connect(db)
    try:
        return int(con.execute("SELECT count(*) FROM checks").fetchone()[0]) == 0
    finally:
        con.close()


# ---- upwatch import ----------------------------------------------------------------------


def test_import_of_a_file_that_is_not_utf8_names_the_line(workdir: Path, upwatch: Upwatch) -> None:
    path = workdir / "latin1.jsonl"
    path.write_bytes(GOOD.encode() + '{"service": "café", "time": "2026-10-01T00:01:00Z", '
                     '"ok": true}\n'.encode("latin-1"))
    code, err = upwatch("import", str(path))
    assert code == 2
    assert err.splitlines() == [
        f"{path}: line 2: not UTF-8 text (byte 0xE9); save the file as UTF-8",
        f"{path}: nothing imported; fix the lines above or pass --skip-invalid",
    ]
    assert nothing_imported(workdir / "upwatch.db")


def test_import_skips_a_line_that_is_not_utf8_with_skip_invalid(
    workdir: Path, upwatch: Upwatch
) -> None:
    path = workdir / "latin1.csv"
    path.write_bytes(b"\xef\xbb\xbfservice,time,ok\n"  # a byte order mark, as Excel writes
                     b"api,2026-10-01T00:00:00Z,true\n"
                     b"caf\xe9,2026-10-01T00:01:00Z,true\n")
    code, err = upwatch("import", str(path), "--skip-invalid")
    assert code == 0
    assert err == (f"skipped: {path}: line 3: not UTF-8 text (byte 0xE9); save the file as "
                   "UTF-8\n")


def test_import_of_json_nested_too_deeply(workdir: Path, upwatch: Upwatch) -> None:
    path = workdir / "nested.jsonl"
    path.write_text(GOOD + "[" * 100_000 + "\n")
    code, err = upwatch("import", str(path))
    assert code == 2
    assert err.splitlines()[0] == f"{path}: line 2: JSON nested too deeply to read"


@pytest.mark.parametrize(
    ("csv_text", "message"),
    [
        ("service,time,ok,colour\napi,2026-10-01T00:00:00Z,true,red,extra\n",
         'line 1: unknown column "colour" in the header (allowed: service, time, ok, '
         "latency_ms, status, error, location)"),
        ("service,time,ok\napi,2026-10-01T00:00:00Z,true,oops\n",
         "line 2: 4 fields, but the header names 3 columns (service, time, ok)"),
        ("service,time,time,ok\napi,2026-10-01T00:00:00Z,2026-10-01T00:00:00Z,true\n",
         'line 1: column "time" appears twice in the header'),
        ("service,ok\napi,true\n",
         'line 1: the header has no column "time" (needed: service, time, ok)'),
    ],
    ids=["extra-fields-and-unknown-column", "extra-fields", "repeated-column", "missing-column"],
)
def test_import_of_a_csv_whose_rows_do_not_fit_its_header(
    workdir: Path, upwatch: Upwatch, csv_text: str, message: str
) -> None:
    path = workdir / "in.csv"
    path.write_text(csv_text)
    code, err = upwatch("import", str(path))
    assert code == 2
    assert err.splitlines()[0] == f"{path}: {message}"
    assert err.splitlines()[-1].startswith(f"{path}: nothing imported; fix the ")


def test_import_of_a_csv_field_over_128_kib(workdir: Path, upwatch: Upwatch) -> None:
    path = workdir / "big.csv"
    path.write_text("service,time,ok,error\n"
                    f"api,2026-10-01T00:00:00Z,false,{'x' * 200_000}\n"
                    "api,2026-10-01T00:01:00Z,true,\n")
    code, err = upwatch("import", str(path))
    assert code == 2
    assert err.splitlines() == [
        f"{path}: line 2: a field longer than 128 KiB, the most a CSV field may hold: not a "
        "check result",
        f"{path}: nothing imported; fix the lines above or pass --skip-invalid",
    ]


@pytest.mark.parametrize(
    ("time", "problem"),
    [
        ("0001-01-01T00:00:00+01:00", "is out of range"),
        ("9999-12-31T23:59:59-01:00", "is out of range"),
        ("0001-01-01T00:00:00Z", "is before 2000-01-01T00:00:00Z"),
        ("9999-12-31T23:59:59Z", "is in the future (now it is "),
    ],
    ids=["before-year-1", "after-year-9999", "year-1", "year-9999"],
)
def test_import_of_times_at_the_year_limits(
    workdir: Path, upwatch: Upwatch, time: str, problem: str
) -> None:
    path = workdir / "limits.jsonl"
    path.write_text(GOOD + json.dumps({"service": "api", "time": time, "ok": False}) + "\n")
    code, err = upwatch("import", str(path))
    assert code == 2
    assert err.splitlines()[0].startswith(f'{path}: line 2: time: "{time}" {problem}')
    assert nothing_imported(workdir / "upwatch.db")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ('"location": "\\ud800"', 'location: "\\ud800" is not valid Unicode text'),
        ('"latency_ms": 1' + "0" * 400, "latency_ms: expected a number, got 1000"),
        ('"latency_ms": 1' + "0" * 5000, "a JSON number with too many digits to read"),
        ('"error": ["timeout"]', "error: expected one value, got an array"),
    ],
    ids=["lone-surrogate", "int-beyond-float", "int-beyond-int", "array"],
)
def test_import_of_values_no_check_holds(
    workdir: Path, upwatch: Upwatch, fields: str, message: str
) -> None:
    path = workdir / "in.jsonl"
    path.write_text(f'{{"service": "api", "time": "2026-10-01T00:00:00Z", "ok": false, '
                    f"{fields}}}\n")
    code, err = upwatch("import", str(path))
    assert code == 2
    assert err.splitlines()[0].startswith(f"{path}: line 1: {message}")


def test_an_import_with_invalid_lines_exits_2(workdir: Path, upwatch: Upwatch) -> None:
    path = workdir / "in.jsonl"
    path.write_text(GOOD + '{"service": "db", "time": "2026-10-01T00:01:00Z", "ok": true}\n')
    code, err = upwatch("import", str(path))
    assert code == 2
    assert err.splitlines() == [
        f'{path}: line 2: service: unknown service "db" (known services: api, web)',
        f"{path}: nothing imported; fix the lines above or pass --skip-invalid",
    ]


# ---- report, maintenance, exclusion, incident ---------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--month", "0000-01"], 'Error: --month: "0000-01" is out of range (upwatch reports '
                                 "the months 2000-01 to 9998-12)"),
        (["--month", "9999-12"], 'Error: --month: "9999-12" is out of range (upwatch reports '
                                 "the months 2000-01 to 9998-12)"),
        (["--from", "0001-01", "--to", "2026-10"],
         'Error: --from: "0001-01" is out of range (upwatch reports the months 2000-01 to '
         "9998-12)"),
        (["--incidents", "--month", "9999-12"],
         'Error: --month: "9999-12" is out of range (upwatch reports the months 2000-01 to '
         "9998-12)"),
    ],
    ids=["month-0000-01", "month-9999-12", "from-0001-01", "incidents-9999-12"],
)
def test_report_of_a_month_at_the_year_limits(
    workdir: Path, upwatch: Upwatch, args: list[str], message: str
) -> None:
    assert upwatch("report", *args) == (2, message + "\n")


LIMITS = "upwatch takes times from 2000-01-01T00:00:00Z to 9998-12-31T23:59:59Z"


@pytest.mark.parametrize("kind", ["maintenance", "exclusion"])
@pytest.mark.parametrize(
    ("when", "messages"),
    [
        (["--start", "0001-01-01T00:00:00+01:00", "--end", "2026-10-01T00:00:00Z"],
         [f'Error: start: "0001-01-01T00:00:00+01:00" is out of range ({LIMITS})']),
        (["--start", "2026-10-01T00:00:00Z", "--end", "9999-12-31T23:59:59-01:00"],
         [f'Error: end: "9999-12-31T23:59:59-01:00" is out of range ({LIMITS})']),
        (["--start", "9998-12-31T23:00:00Z", "--duration", "2h"],
         ["Error: end: 9998-12-31T23:00:00Z plus 2h is out of range (upwatch takes times up "
          "to 9998-12-31T23:59:59Z)"]),
        (["--start", "9999-12-31T23:00:00Z", "--duration", "2h"],
         [f'Error: start: "9999-12-31T23:00:00Z" is out of range ({LIMITS})']),
    ],
    ids=["start-before-year-1", "end-after-year-9999", "duration-past-the-limit",
         "start-in-9999"],
)
def test_window_add_near_the_year_limits(
    workdir: Path, upwatch: Upwatch, kind: str, when: list[str], messages: list[str]
) -> None:
    text = ["--title", "Upgrade"] if kind == "maintenance" else ["--reason", "DNS outage"]
    code, err = upwatch(kind, "add", "--service", "api", *when, *text, "--by", "alice")
    assert code == 2
    assert err.splitlines() == messages


def test_incident_update_of_an_id_beyond_sqlite(workdir: Path, upwatch: Upwatch) -> None:
    code, err = upwatch("incident", "update", "99999999999999999999999", "--status",
                        "monitoring", "--body", "Fixed.", "--by", "alice")
    assert (code, err) == (2, "Error: no incident 99999999999999999999999 (see: upwatch "
                              "incident list)\n")


# ---- build-page ---------------------------------------------------------------------------


def test_build_page_into_a_folder_that_cannot_be_written(workdir: Path, upwatch: Upwatch) -> None:
    code, err = upwatch("build-page", "--out", "/proc/nope")
    assert code == 2
    assert err.startswith("Error: --out: cannot write in /proc (")
    assert err.endswith("): choose a folder this user can write to, on a disk with free "
                        "space\n")


def test_build_page_into_a_folder_that_is_a_file(workdir: Path, upwatch: Upwatch) -> None:
    (workdir / "file").write_text("not a folder")
    code, err = upwatch("build-page", "--out", str(workdir / "file" / "site"))
    assert (code, err) == (2, f"Error: --out: {workdir / 'file'} is a file, not a folder\n")


@pytest.mark.parametrize(
    ("at", "problem"),
    [
        ("0001-01-01T00:00:00+01:00", "is out of range (upwatch takes times from "
                                      "2000-01-01T00:00:00Z, before 9999-01-01T00:00:00Z)"),
        ("9999-12-31T23:00:00Z", "is out of range (upwatch takes times from "
                                 "2000-01-01T00:00:00Z, before 9999-01-01T00:00:00Z)"),
        ("2026-10-15T12:00:00", "has no UTC offset (add Z or +01:00)"),
    ],
    ids=["before-year-1", "year-9999", "no-offset"],
)
def test_build_page_at_a_time_it_cannot_take(
    workdir: Path, upwatch: Upwatch, at: str, problem: str
) -> None:
    code, err = upwatch("build-page", "--out", str(workdir / "site"), "--at", at)
    assert code == 2
    assert err.splitlines()[-1] == f"upwatch build-page: error: argument --at: '{at}' {problem}"


# ---- the database -------------------------------------------------------------------------


@pytest.fixture
def corrupted(workdir: Path, upwatch: Upwatch) -> Path:
    """A real ledger (a week of checks of both services) with garbage over its middle pages."""
    start = datetime(2026, 10, 1, tzinfo=UTC)
    lines = [json.dumps({"service": name, "time": (start + timedelta(minutes=i)).isoformat(),
                         "ok": i % 7 != 0, "latency_ms": 20.0 + i % 50})
             for i in range(7 * 1440) for name in ("api", "web")]
    (workdir / "week.jsonl").write_text("\n".join(lines) + "\n")
    assert upwatch("import", str(workdir / "week.jsonl"))[0] == 0
    db = workdir / "upwatch.db"
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page = int(con.execute("PRAGMA page_size").fetchone()[0])
    con.close()
    pages = db.stat().st_size // page
    assert pages > 30
    with db.open("r+b") as fh:
        fh.seek(pages // 3 * page)
        fh.write(random.Random(11).randbytes(pages // 3 * page))
    return db


@pytest.mark.parametrize(
    "command",
    [["build-page", "--out", "site"], ["report", "--month", "2026-10"]],
    ids=["build-page", "report"],
)
def test_a_corrupted_database_is_named_damaged(
    corrupted: Path, upwatch: Upwatch, command: list[str]
) -> None:
    code, err = upwatch(*command)
    assert (code, err) == (3, f"Error: {corrupted} is damaged (database disk image is "
                              "malformed); restore it from a backup, or move it aside and "
                              "start with a new file\n")


def test_a_database_in_a_folder_that_cannot_be_written(workdir: Path, upwatch: Upwatch) -> None:
    """/proc takes no new file, even from root."""
    (workdir / "one.jsonl").write_text(GOOD)
    code, err = upwatch("import", "--db", "/proc/upwatch.db", str(workdir / "one.jsonl"))
    assert (code, err) == (3, "Error: cannot open /proc/upwatch.db: unable to open database "
                              "file (can this user create files in /proc?)\n")


def test_a_database_whose_folder_is_a_file(workdir: Path, upwatch: Upwatch) -> None:
    (workdir / "file").write_text("not a folder")
    db = workdir / "file" / "upwatch.db"
    code, err = upwatch("maintenance", "add", "--db", str(db), "--service", "api", "--start",
                        "2026-10-01T00:00:00Z", "--duration", "1h", "--title", "Upgrade")
    assert (code, err) == (3, f"Error: cannot open {db}: unable to open database file "
                              f"({workdir / 'file'} is a file, not a folder)\n")


def _read_only_ledger(workdir: Path, upwatch: Upwatch, *, folder: bool) -> Path:
    """A ledger with one check in it, then its file (and, with ``folder``, its folder) made
    read-only; the modes are put back at teardown by the caller's ``chmod_back``."""
    (workdir / "db").mkdir()
    db = workdir / "db" / "upwatch.db"
    (workdir / "one.jsonl").write_text(GOOD)
    assert upwatch("import", "--db", str(db), str(workdir / "one.jsonl"))[0] == 0
    db.chmod(0o444)
    if folder:
        db.parent.chmod(0o555)
    return db


@pytest.fixture
def chmod_back(workdir: Path) -> Iterator[None]:
    yield
    if (workdir / "db").exists():
        (workdir / "db").chmod(0o755)  # so that pytest can remove tmp_path


@pytest.mark.skipif(IS_ROOT, reason=AS_ROOT)
@pytest.mark.parametrize("command", ["maintenance", "import"])
def test_a_write_to_a_read_only_database(
    workdir: Path, upwatch: Upwatch, chmod_back: None, command: str
) -> None:
    db = _read_only_ledger(workdir, upwatch, folder=False)
    if command == "maintenance":
        argv = ["maintenance", "add", "--db", str(db), "--service", "api", "--start",
                "2026-10-01T00:00:00Z", "--duration", "1h", "--title", "Upgrade"]
        what = "storing a maintenance window"
    else:
        (workdir / "two.jsonl").write_text(GOOD.replace("00:00:00Z", "00:01:00Z"))
        argv = ["import", "--db", str(db), str(workdir / "two.jsonl")]
        what = "recording 1 check results"
    code, err = upwatch(*argv)
    assert (code, err) == (3, f"Error: {db}: {what} failed: attempt to write a readonly "
                              "database (are the file and its folder writable by this "
                              "user?)\n")


@pytest.mark.skipif(IS_ROOT, reason=AS_ROOT)
def test_a_read_only_folder_is_not_called_a_foreign_database(
    workdir: Path, upwatch: Upwatch, chmod_back: None
) -> None:
    db = _read_only_ledger(workdir, upwatch, folder=True)
    code, err = upwatch("maintenance", "add", "--db", str(db), "--service", "api", "--start",
                        "2026-10-01T00:00:00Z", "--duration", "1h", "--title", "Upgrade")
    assert (code, err) == (3, f"Error: cannot open {db}: attempt to write a readonly database "
                              "(are the file and its folder writable by this user?)\n")


@pytest.mark.parametrize(("argv", "env", "words"), [
    (["--location", "mad"], {"UPWATCH_TOKEN_MAD": "t" * 20},
     '--location: unknown location "mad" (known locations: local; declare it'),
    (["--central", "http://127.0.0.1:9"], {},
     "--central, --spool and --source-address are for a prober"),
])
def test_run_as_a_prober_that_cannot_work_exits_2(
    workdir: Path, upwatch: Upwatch, monkeypatch: pytest.MonkeyPatch, argv: list[str],
    env: dict[str, str], words: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, err = upwatch("run", "--listen", "127.0.0.1:0", *argv)
    assert code == 2 and words in err, err


def test_a_prober_without_its_token_exits_2_naming_the_variable(
    workdir: Path, upwatch: Upwatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = workdir / "probes.yaml"
    config.write_text("central_url: http://127.0.0.1:9\nlocations: [{name: cph}, {name: fra}]\n"
                      + config.read_text())
    monkeypatch.delenv("UPWATCH_TOKEN_CPH", raising=False)
    code, err = upwatch("run", "--listen", "127.0.0.1:0", "--location", "cph")
    assert code == 2 and "set UPWATCH_TOKEN_CPH" in err, err
