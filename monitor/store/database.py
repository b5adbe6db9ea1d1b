"""What the ledger needs of a database engine, and how ``--db`` picks one.

The ledger's SQL (:mod:`monitor.store.ledger` and the modules it calls) is written once, in
the dialect SQLite and PostgreSQL share: ``?`` and ``:name`` placeholders, ``INSERT … ON
CONFLICT``, ``RETURNING``, row values, window functions. What differs lives behind
:class:`Database`: opening, transactions and their locks, the schema version, the DDL each
engine is given (:mod:`monitor.store.schema` describes it once), how a list is passed as one
parameter, and how "another process wrote" is noticed.
The engines: :mod:`monitor.store.sqlite` and :mod:`monitor.store.postgres`;
:func:`monitor.store.connect.open_database` picks one for what ``--db`` names.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Protocol

__all__ = ["Cursor", "Database", "Params"]

Params = Sequence[object] | Mapping[str, object]


class Cursor(Protocol):
    """The part of a DB-API cursor the ledger uses (sqlite3's and psycopg's both fit)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Database(ABC):
    """One connection to a ledger database, used by one thread at a time.

    The connection is in autocommit mode between transactions; :mod:`monitor.store.schema`'s
    ``transaction`` is the one way to write (:meth:`begin_write` … :meth:`commit`).
    """

    #: "sqlite" or "postgresql".
    engine: ClassVar[str]
    #: The driver's error base classes: a statement failing with one becomes a LedgerError.
    errors: ClassVar[tuple[type[Exception], ...]]
    #: How messages name this database: a file name, or the URL without its password.
    name: str

    @abstractmethod
    def execute(self, sql: str, params: Params = ()) -> Cursor:
        """Run one statement of the shared dialect."""

    @abstractmethod
    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        """Run one statement once per row."""

    @abstractmethod
    def insert_many(self, table: str, columns: Sequence[str],
                    rows: Sequence[Sequence[object]], conflict: str = "") -> None:
        """``INSERT INTO table (columns) … rows`` then ``conflict`` (an ``ON CONFLICT``
        clause), as few statements as the engine allows (one on PostgreSQL: the columns go
        as arrays). Rows with ``DO UPDATE`` must not repeat a key."""

    @abstractmethod
    def update_many(self, table: str, columns: Sequence[str], keys: Sequence[str],
                    rows: Sequence[Sequence[object]]) -> None:
        """Set ``columns`` of the rows whose ``keys`` match: each row is the new values,
        then the keys."""

    def insert_id(self, sql: str, params: Params) -> int:
        """Run an ``INSERT`` into a table with an ``id`` key; the new row's id."""
        return int(self.execute(sql + " RETURNING id", params).fetchone()[0])

    @property
    @abstractmethod
    def in_transaction(self) -> bool: ...

    @abstractmethod
    def begin_write(self) -> None:
        """Start a transaction that writes: one writer at a time, across processes too."""

    @abstractmethod
    def begin_read(self) -> None:
        """Start a read-only transaction on one snapshot (a write in it fails)."""

    @abstractmethod
    def commit(self) -> None: ...

    @abstractmethod
    def rollback(self) -> None: ...

    @abstractmethod
    def end_read(self) -> None:
        """End what :meth:`begin_read` started (rolled back: it changed nothing)."""

    @abstractmethod
    def generation(self) -> int:
        """A number that changes when another connection commits a recording (see
        :meth:`next_generation`); the ledger reloads its folds when it did."""

    @abstractmethod
    def next_generation(self) -> int:
        """Inside a recording's transaction: mark it, so that other connections notice it;
        the value :meth:`generation` gives this connection afterwards."""

    @abstractmethod
    def integrity_problems(self) -> list[str]:
        """What a quick check of the stored data finds wrong; empty when nothing."""

    @abstractmethod
    def schema_version(self) -> int: ...

    @abstractmethod
    def set_schema_version(self, version: int) -> None:
        """Inside the migrating transaction."""

    @abstractmethod
    def foreign_tables(self) -> list[str]:
        """The tables and views of a database with no upwatch schema (version 0)."""

    @abstractmethod
    def ddl(self, statement: str) -> list[str]:
        """The statements this engine runs for one statement of the schema description."""

    @abstractmethod
    def one_of(self, column: str) -> str:
        """A condition: ``column`` is one of the list passed as one parameter
        (:meth:`list_param`)."""

    @abstractmethod
    def list_param(self, values: Sequence[object]) -> object: ...

    def skip_locked(self) -> str:
        """What a ``SELECT`` that claims rows ends with, so that two claimers skip each
        other's rows (nothing where one writer at a time is all there is)."""
        return ""

    @abstractmethod
    def columns(self, table: str) -> list[str]:
        """The table's columns, in their order."""

    @abstractmethod
    def stream(self, sql: str, batch: int) -> Iterator[tuple[Any, ...]]:
        """Inside a transaction: the rows of a big query, fetched ``batch`` at a time."""

    @abstractmethod
    def copy_in(self, table: str, columns: Sequence[str],
                rows: Iterable[Sequence[object]]) -> None:
        """Add many rows to a table as fast as the engine takes them (``COPY`` there)."""

    @abstractmethod
    def identity_follows(self, table: str) -> None:
        """After rows were added with their ids: new rows get ids after them."""

    @abstractmethod
    def readonly_hint(self, exc: Exception) -> str:
        """``" (…)"`` when ``exc`` is a write refused by :meth:`begin_read`, else ``""``."""

    @abstractmethod
    def close(self) -> None: ...
