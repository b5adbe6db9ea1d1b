"""Real tools some tests drive (Debian packages the Makefile installs when missing)."""

from __future__ import annotations

import os
import shutil

import pytest


def require_tool(command: str, package: str) -> str:
    """The path of ``command``; in CI its absence fails the test, elsewhere it skips it."""
    found = shutil.which(command)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{command} is missing: install Debian's {package} package "
                        "(make test does, as root)")
        pytest.skip(f"{command} not installed (apt-get install {package})")
    return found
