"""The ledger's one error type."""

from __future__ import annotations

from monitor.errors import UpwatchError

__all__ = ["LedgerError"]


class LedgerError(UpwatchError):
    """The ledger cannot do what was asked: unusable or too new a database, a failed write.

    The message is meant for the operator as is (the CLI prints it after ``Error:``).
    """
