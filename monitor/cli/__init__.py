"""The ``upwatch`` command line: :func:`main` is the entry point (``python -m monitor.cli``)."""

from monitor.cli.entry import main

__all__ = ["main"]
