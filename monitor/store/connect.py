"""What ``--db`` / ``UPWATCH_DB`` name: an SQLite file path, or a PostgreSQL URL."""

from __future__ import annotations

from pathlib import Path

from monitor.config.loader import URL_SCHEMES
from monitor.store.database import Database
from monitor.store.postgres import PostgresDatabase
from monitor.store.sqlite import SqliteDatabase

__all__ = ["is_url", "open_database"]


def is_url(target: str | Path) -> bool:
    """Whether ``target`` names a PostgreSQL database rather than an SQLite file."""
    return isinstance(target, str) and target.startswith(URL_SCHEMES)


def open_database(target: str | Path) -> Database:
    """Connect to a ``postgresql://`` URL, else open (creating) an SQLite file."""
    if is_url(target):
        return PostgresDatabase(str(target))
    return SqliteDatabase(Path(target))
