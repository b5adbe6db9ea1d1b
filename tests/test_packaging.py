"""What a pip or Docker install ships: every package, and the page's assets from static/."""

from __future__ import annotations

import tomllib
from pathlib import Path

from monitor.web.apidoc import find_openapi
from statuspage.render import STATIC_DIR

ROOT = Path(__file__).resolve().parent.parent


def _setuptools() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        section: dict[str, object] = tomllib.load(f)["tool"]["setuptools"]
    return section


def test_every_package_is_listed_for_the_wheel() -> None:
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("monitor", "statuspage")
        for init in (ROOT / top).rglob("__init__.py")
    }
    listed = set(_setuptools()["packages"])  # type: ignore[call-overload]
    assert found | {"statuspage.static", "monitor.web.openapi"} == listed


def test_the_page_assets_come_from_the_top_level_static_folder() -> None:
    assert _setuptools()["package-dir"] == {"statuspage.static": "static",
                                            "monitor.web.openapi": "docs"}
    assert STATIC_DIR == ROOT / "static"
    assert {p.name for p in STATIC_DIR.iterdir()} >= {"style.css", "favicon.svg"}
    assert not (ROOT / "statuspage" / "static").exists()  # one home for the assets
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY static ./static" in dockerfile



def test_the_openapi_document_ships_from_docs() -> None:
    """A wheel carries docs/openapi.yaml (and nothing else of docs/) where the API looks."""
    assert _setuptools()["package-data"]["monitor.web.openapi"] == ["openapi.yaml"]  # type: ignore[index]
    assert "COPY docs/openapi.yaml ./docs/openapi.yaml" in (ROOT / "Dockerfile").read_text()
    assert find_openapi() == ROOT / "docs" / "openapi.yaml"  # a source checkout
