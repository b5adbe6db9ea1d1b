"""What the benchmarks need of a PostgreSQL server given with ``--db URL``: a schema of their
own per ledger (dropped afterwards), a database's size on disk, and the CPU time of the server
process that serves one connection (on this machine)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import psycopg


class Schemas:
    """Schemas of their own in the database ``url`` names; :meth:`drop` removes them."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.made: list[str] = []

    def new(self, name: str) -> str:
        """A ledger URL: an empty schema in that database."""
        schema = f"bench_{name}_{random.randrange(16**8):08x}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        self.made.append(schema)
        return self.url + ("&" if "?" in self.url else "?") + f"options=-csearch_path%3D{schema}"

    def drop(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            for schema in self.made:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def database_bytes(target: str | Path) -> int:
    """The ledger on disk: the SQLite file with its WAL, or the schema's tables with their
    indexes and TOAST (after a VACUUM)."""
    if isinstance(target, Path):
        return sum(p.stat().st_size for p in target.parent.glob(target.name + "*"))
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute("VACUUM")
        row = conn.execute(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class AS c JOIN pg_namespace "
            "AS n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() "
            "AND c.relkind = 'r'").fetchone()
    return int(row[0]) if row and row[0] else 0


def backend_cpu_s(pid: int) -> float:
    """User + system CPU seconds of one server process (``/proc``; 0 if it is elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
