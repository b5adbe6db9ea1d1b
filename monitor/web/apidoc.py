"""The admin API's OpenAPI document, served as is at ``/api/v1/openapi.yaml``.

One file, ``docs/openapi.yaml``, in two places: a source checkout reads it from ``docs/``; an
installed wheel carries it as ``monitor/web/openapi/openapi.yaml`` (pyproject.toml maps
``docs/`` there for that one file, as it maps ``static/`` to ``statuspage/static``). It is read
once, when the admin API is built; a copy of upwatch without it still runs, and the route
answers 500 saying the document is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["OPENAPI_CONTENT_TYPE", "OpenApiDocument", "find_openapi", "load_openapi"]

OPENAPI_CONTENT_TYPE = "application/yaml"
_NAME = "openapi.yaml"


@dataclass(frozen=True)
class OpenApiDocument:
    """The document's bytes, or why there are none."""

    body: bytes | None
    problem: str = ""


def find_openapi() -> Path | None:
    """Where the document is: beside this module in a wheel, ``docs/`` in a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "openapi" / _NAME, here.parent.parent / "docs" / _NAME):
        if candidate.is_file():
            return candidate
    return None


def load_openapi(path: Path | None = None) -> OpenApiDocument:
    """Read the document (from ``path``, or where :func:`find_openapi` finds it)."""
    found = path if path is not None else find_openapi()
    if found is None:
        return OpenApiDocument(None, "the OpenAPI document is not installed with this copy of "
                                     "upwatch (docs/openapi.yaml in its source describes the API)")
    try:
        return OpenApiDocument(found.read_bytes())
    except OSError as err:
        return OpenApiDocument(None, f"the OpenAPI document cannot be read from {found}: "
                                     f"{err.strerror or err}")
