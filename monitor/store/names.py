"""The ``services`` and ``locations`` tables: a name's id, added the first time it is seen.

Called by :class:`monitor.store.ledger.Ledger` in the transaction that records the checks
naming them, under its lock.
"""

from __future__ import annotations

from collections.abc import Iterable

from monitor.store.database import Database

__all__ = ["add_names"]


def add_names(db: Database, table: str, seen: Iterable[str], ids: dict[str, int],
              names: dict[int, str]) -> None:
    """Add to ``table`` (services or locations) the names of ``seen`` that ``ids`` lacks, in
    the order seen, with one statement; ``ids`` and ``names`` learn their ids."""
    new = [name for name in dict.fromkeys(seen) if name not in ids]
    if not new:
        return
    db.insert_many(table, ("name",), [(name,) for name in new])
    for name, found in db.execute(f"SELECT name, id FROM {table} WHERE {db.one_of('name')}",
                                  (db.list_param(new),)):
        ids[name] = found
        names[found] = name
