"""Checks answers and request bodies of the admin API against docs/openapi.yaml.

Shared by the tests of every admin API route (maintenance windows, exclusions, incidents).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parent.parent
SPEC: dict[str, Any] = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text("utf-8"))


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node and node["$ref"].startswith("#/components/responses/"):
        node = SPEC["components"]["responses"][node["$ref"].rsplit("/", 1)[1]]
    return node


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    """A validator of ``schema`` that resolves ``#/components/...`` references."""
    return Draft202012Validator({**schema, "components": SPEC["components"]})


def template(path: str) -> str:
    """``/api/v1/incidents/7/updates?x=1`` → ``/incidents/{id}/updates``."""
    parts = path.partition("?")[0].removeprefix("/api/v1").split("/")
    return "/".join("{id}" if i == 2 else p for i, p in enumerate(parts))


def check_response(method: str, path: str, status: int, body: object) -> None:
    """The answer matches the documented schema (Error for any undocumented one)."""
    operation = SPEC["paths"].get(template(path), {}).get(method.lower())
    documented = None if operation is None else operation["responses"].get(str(status))
    if documented is None:  # the answers the document's description lists for any request
        allowed = (500,) if operation is not None else (401, 404, 405, 503)
        assert status in allowed, f"{method} {path} → {status} is not documented"
        schema: dict[str, Any] = {"$ref": "#/components/schemas/Error"}
    else:
        schema = _resolve(documented)["content"]["application/json"]["schema"]
    validator(schema).validate(body)


def body_is_valid(schema_name: str, body: object) -> bool:
    """Whether ``body`` is valid against ``#/components/schemas/<schema_name>``."""
    return bool(validator({"$ref": f"#/components/schemas/{schema_name}"}).is_valid(body))


def request_schema(method: str, path: str) -> str:
    """The name of the component schema documented as ``method path``'s request body."""
    operation = SPEC["paths"][template(path)][method.lower()]
    ref: str = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return ref.rsplit("/", 1)[1]


def documented_routes() -> set[tuple[str, str]]:
    return {(path, method) for path, ops in SPEC["paths"].items() for method in ops
            if method != "parameters"}


def served_routes(app: web.Application) -> set[tuple[str, str]]:
    return {(r.resource.canonical, r.method.lower()) for r in app.router.routes()
            if r.resource is not None and r.method != "HEAD"}
