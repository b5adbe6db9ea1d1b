"""Fixtures any test may ask for: a real PostgreSQL (tests/pg.py) and the two engines.

``ledger_target`` runs a test once per engine: an SQLite file, then a PostgreSQL schema of its
own. ``new_target()`` gives a fresh one each call (for tests that open many ledgers).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from itertools import count
from pathlib import Path

import pytest
from pg import Schemas, pg_schemas, pg_server, pg_url

__all__ = ["pg_schemas", "pg_server", "pg_url"]

ENGINES = ("sqlite", "postgresql")


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def new_target(engine: str, tmp_path: Path,
               request: pytest.FixtureRequest) -> Callable[[], str | Path]:
    """Each call: a new, empty ledger of the test's engine (a file path or a URL)."""
    if engine == "sqlite":
        numbers = count()
        return lambda: tmp_path / f"ledger-{next(numbers)}.db"
    schemas: Schemas = request.getfixturevalue("pg_schemas")
    return schemas.new


@pytest.fixture
def ledger_target(new_target: Callable[[], str | Path]) -> str | Path:
    """An empty ledger of the test's engine."""
    return new_target()


@pytest.fixture(autouse=True)
def _root_logging_put_back() -> Iterator[None]:
    """A command run in-process (``main(["run", …])``) points the root logger at the stderr
    pytest captures for that test; put the handlers back after it, or a later record from a
    thread still running (aiosmtpd's) is written to a closed stream ("--- Logging error ---")."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
