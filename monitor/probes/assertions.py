"""An http answer judged by ``expect.headers`` and ``expect.json`` (issue 14).

:func:`headers_failure` reads the response's headers: names match whatever their case, and a
header sent several times holds when any one of its values is the expected text, or has the
``/regex/`` in it (searched through :func:`monitor.probes.matching.matches`: in a worker thread,
with a time limit, so a pattern that backtracks without end fails its own check).

:func:`json_failure` parses the body as JSON (in a worker thread when it is larger than
:data:`JSON_THREAD_BYTES`; the body is already bounded by ``max_body_bytes``) and runs each
JSONPath query with ``python-jsonpath``, compiled once per query text. A query must find
something; with an operator, every value it finds must satisfy it: ``==`` and ``!=`` by JSON
equality (``1 == 1.0``, but ``true`` is not ``1``), ``<`` ``<=`` ``>`` ``>=`` for numbers only.

Both return the first failure as ``(ErrorKind.CONTENT, detail)``, or None. What the target sent
is shortened in the detail (:func:`~monitor.probes.matching.shorten`); the assertion is quoted as
written. Nothing the target sends raises: a document nested too deeply to read or to search is a
``content`` failure too.
"""

from __future__ import annotations

import asyncio
import functools
import json
import operator
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeGuard

import jsonpath
from multidict import MultiMapping

from monitor.core.checks import ErrorKind
from monitor.probes.matching import (
    DETAIL_TEXT_MAX,
    REGEX_TIME_LIMIT_S,
    PatternTooSlow,
    matches,
    quote,
    shorten,
)

__all__ = ["JSON_THREAD_BYTES", "HeaderSpec", "JsonAssertionSpec", "headers_failure",
           "json_failure"]

#: A body larger than this is parsed and searched in a worker thread, off the event loop.
JSON_THREAD_BYTES = 64 * 1024
#: At most this many values of a repeated header are quoted in a detail.
SHOWN_VALUES = 3

Failure = tuple[ErrorKind, str]
Scalar = str | int | float | bool | None

_ORDER: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


class JsonAssertionSpec(Protocol):
    """One ``expect.json`` entry (``monitor.config.assertions.JsonAssertion`` satisfies it)."""

    @property
    def text(self) -> str: ...  # as written, quoted in a detail

    @property
    def query(self) -> str: ...

    @property
    def op(self) -> str | None: ...  # None: a bare query, which holds when it finds anything

    @property
    def value(self) -> Scalar: ...


class HeaderSpec(Protocol):
    """One ``expect.headers`` entry (``monitor.config.assertions.HeaderExpectation``)."""

    @property
    def name(self) -> str: ...

    @property
    def value(self) -> str | None: ...  # the exact text, or None when there is a pattern

    @property
    def pattern(self) -> str | None: ...


# --- headers ----------------------------------------------------------------------------------


async def headers_failure(
    headers: MultiMapping[str], expected: Sequence[HeaderSpec]
) -> Failure | None:
    """The first ``expect.headers`` entry the response fails, or None."""
    for want in expected:
        problem = await _header_problem(headers.getall(want.name, []), want)
        if problem is not None:
            return ErrorKind.CONTENT, f"expect.headers {want.name}: {problem}"
    return None


async def _header_problem(values: Sequence[str], want: HeaderSpec) -> str | None:
    if not values:
        return "missing"
    if want.pattern is None:
        if want.value in values:
            return None
        written = quote(want.value or "")
    else:
        written = f"/{shorten(want.pattern)}/"
        for value in values:
            try:
                if await matches(want.pattern, value):
                    return None
            except PatternTooSlow:  # the next value would most likely take as long
                return (f"{written} took over {REGEX_TIME_LIMIT_S:g} s on this header; "
                        "simplify the pattern")
    shown = ", ".join(quote(value) for value in values[:SHOWN_VALUES])
    more = len(values) - SHOWN_VALUES
    return f"expected {written}, got {shown}" + (f" and {more} more" if more > 0 else "")


# --- JSON -------------------------------------------------------------------------------------


async def json_failure(body: bytes, assertions: Sequence[JsonAssertionSpec]) -> Failure | None:
    """The first ``expect.json`` assertion ``body`` fails (or why it is not JSON), or None."""
    if not assertions:
        return None
    if len(body) > JSON_THREAD_BYTES:
        problem = await asyncio.to_thread(_json_problem, body, tuple(assertions))
    else:
        problem = _json_problem(body, assertions)
    return None if problem is None else (ErrorKind.CONTENT, problem)


def _json_problem(body: bytes, assertions: Sequence[JsonAssertionSpec]) -> str | None:
    if not body.strip():
        return "body is not JSON: it is empty"
    try:
        document = json.loads(body)
    except json.JSONDecodeError as err:
        return f"body is not JSON: {err.msg} at line {err.lineno} column {err.colno}"
    except UnicodeDecodeError as err:
        return (f"body is not JSON: not {err.encoding.upper()} text (byte "
                f"0x{err.object[err.start]:02X} at offset {err.start})")
    except RecursionError:
        return "body is JSON nested too deeply to read"
    except ValueError as err:  # an integer too long to convert
        return f"body is not JSON: {str(err).split(':')[0]}"
    root: Any = _Text(document) if isinstance(document, str) else document
    for assertion in assertions:
        problem = _assertion_problem(root, assertion)
        if problem is not None:
            return problem
    return None


class _Text:
    """A document that is one string. Given a ``str``, python-jsonpath parses it as JSON text
    again; this hides it (a string has nothing for a query to find below the root)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


@functools.lru_cache(maxsize=512)
def _compiled(query: str) -> jsonpath.JSONPath | jsonpath.CompoundJSONPath:
    return jsonpath.compile(query)


def _assertion_problem(root: Any, assertion: JsonAssertionSpec) -> str | None:
    try:
        found = [(m.obj.text if isinstance(m.obj, _Text) else m.obj, m.path)
                 for m in _compiled(assertion.query).finditer(root)]
    except (jsonpath.JSONPathError, RecursionError) as err:  # too deep to search, mostly
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        return f"expect.json {assertion.text}: {reason}"
    if not found:
        return f"expect.json {assertion.query}: not found"
    if assertion.op is None:
        return None
    for value, path in found:
        got = _mismatch(value, assertion.op, assertion.value)
        if got is not None:
            where = f" at {shorten(path)}" if len(found) > 1 else ""
            return f"expect.json {assertion.text}: got {got}{where}"
    return None


def _mismatch(value: object, op: str, expected: Scalar) -> str | None:
    """What to say about ``value`` when ``value op expected`` does not hold, else None."""
    if op in ("==", "!="):
        if _json_equal(value, expected) == (op == "=="):
            return None
        return _show(value)
    if not _is_number(value):
        return f"{_show(value)}, not a number"
    if not _is_number(expected):  # the config refuses this; a stand-in might not
        return f"{_show(value)}, compared with {_show(expected)}, not a number"
    return None if _ORDER[op](value, expected) else _show(value)


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_equal(a: object, b: object) -> bool:
    """Equal as JSON values: ``1 == 1.0``; ``true`` is neither ``1`` nor ``"true"``."""
    if _is_number(a) and _is_number(b):
        return a == b
    return type(a) is type(b) and a == b


def _show(value: object) -> str:
    """``value`` as JSON, shortened, with anything unprintable escaped."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (RecursionError, ValueError, TypeError):
        text = "an array" if isinstance(value, list) else "an object"
    text = text[:DETAIL_TEXT_MAX + 1]  # all shorten keeps, and one to show it was cut
    return shorten("".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text))
