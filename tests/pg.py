"""A real PostgreSQL server for the tests, and a fresh schema in it for each ledger.

The server, in order: the URL in ``UPWATCH_TEST_POSTGRES``; one on 127.0.0.1:5432 that
answers (as user ``postgres``); else a throwaway cluster made with Debian's ``postgresql``
binaries (``initdb``/``pg_ctl`` from ``/usr/lib/postgresql/<version>/bin``, which ``make test``
installs) in a temporary folder, on a free port, without fsync, stopped at the end of the
session. PostgreSQL refuses to run as root, so as root the cluster runs as the ``postgres``
user the package creates. In CI a missing server fails the tests that need one; elsewhere it
skips them.

Each ledger gets a schema of its own in the database ``upwatch_test``
(``?options=-csearch_path%3D<schema>`` in its URL), dropped when the test ends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

ENV = "UPWATCH_TEST_POSTGRES"
DATABASE = "upwatch_test"
_LOCAL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


def _bindir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                      key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                      else 0)
    return versions[-1].parent if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """A throwaway cluster: ``initdb`` into a temporary folder, ``pg_ctl start``/``stop``."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="upwatch-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as: list[str] = []
        if os.geteuid() == 0:  # postgres never runs as root
            shutil.chown(self.root, "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *argv: str) -> None:
        done = subprocess.run([*self._as, *argv], capture_output=True, text=True, timeout=120,
                              check=False)
        if done.returncode != 0:
            log = self.root / "log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{argv[0]} failed: {done.stderr.strip()} {tail}")

    def start(self) -> None:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust",
                  "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync")
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                   "-c max_connections=200")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l",
                  str(self.root / "log"), "-w", "-t", "60", "-o", options, "start")

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                      "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def _unavailable(why: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"no PostgreSQL for the tests: {why} (make test installs Debian's "
                    f"postgresql package, as root; or set {ENV} to a server's URL)")
    pytest.skip(f"no PostgreSQL: {why} (apt-get install postgresql, or set {ENV})")


def with_database(url: str, database: str) -> str:
    """``url`` naming ``database`` instead of its own."""
    head, _, tail = url.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{database}" + (f"?{tail}" if tail else "")


def schema_url(server: str, schema: str) -> str:
    url = with_database(server, DATABASE)
    return url + ("&" if "?" in url else "?") + f"options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """The URL of a PostgreSQL server with an (empty at first) database ``upwatch_test``."""
    cluster: Cluster | None = None
    given = os.environ.get(ENV)
    if given:
        url = given
        if not _answers(url):
            _unavailable(f"{ENV}={url} does not answer")
    elif _answers(_LOCAL):
        url = _LOCAL
    else:
        bindir = _bindir()
        if bindir is None:
            _unavailable("no server on 127.0.0.1:5432 and no initdb")
        assert bindir is not None
        cluster = Cluster(bindir)
        try:
            cluster.start()
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            cluster.stop()
            _unavailable(f"could not start a throwaway cluster: {exc}")
        url = cluster.url
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE}")
    try:
        yield url
    finally:
        if cluster is not None:
            cluster.stop()


class Schemas:
    """Fresh schemas in ``upwatch_test``; :meth:`new` gives a ledger URL, :meth:`drop_all`."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.made: list[str] = []

    def new(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(with_database(self.server, DATABASE), autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {name}")
        self.made.append(name)
        return schema_url(self.server, name)

    def drop_all(self) -> None:
        if not self.made:
            return
        with psycopg.connect(with_database(self.server, DATABASE), autocommit=True) as conn:
            for name in self.made:
                conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        self.made.clear()


@pytest.fixture
def pg_schemas(pg_server: str) -> Iterator[Schemas]:
    schemas = Schemas(pg_server)
    try:
        yield schemas
    finally:
        schemas.drop_all()


@pytest.fixture
def pg_url(pg_schemas: Schemas) -> str:
    """A ledger URL: an empty schema of its own on the test server."""
    return pg_schemas.new()
