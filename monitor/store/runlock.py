"""One ``upwatch run`` per ledger: an exclusive lock on a file beside it, holding the pid.

Two monitors writing one SQLite ledger would both probe and both fold minutes (a transient
``UNIQUE constraint failed: services.name`` was seen, and each overwrites the other's tails).
The lock is ``flock(2)`` on ``<ledger>.run.lock``, so the kernel drops it when the process dies,
``kill -9`` included: a stale lock file never blocks the next start. Other commands
(``import``, ``report``, ``maintenance`` …) do not take it; they share the ledger through
SQLite's own locking.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from monitor.store.schema import LedgerError

__all__ = ["RunLock"]


class RunLock:
    """``with RunLock(db_path):`` — or :meth:`acquire` / :meth:`release`."""

    def __init__(self, db_path: Path, *, option: str = "--db") -> None:
        self.path = db_path.with_name(db_path.name + ".run.lock")
        self.option = option  # how the command line names the locked file, for the errors
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise :class:`LedgerError` naming the pid that holds it."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise LedgerError(
                f"cannot create {self.path} ({exc.strerror}): upwatch run writes its file and "
                f"this lock in that folder; make it writable or choose another {self.option}"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise LedgerError(
                f"{self.path.name[: -len('.run.lock')]} is in use by another upwatch run "
                f"(pid {holder}); stop that one first, or give this one another {self.option}"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
