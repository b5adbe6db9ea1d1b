"""Assertions on what an http service answers: ``expect.json`` and ``expect.headers``.

``expect.json`` is a list of assertions (or one), each a JSONPath query, optionally compared
with a JSON literal: ``$.status == "UP"``, ``$.queue.depth < 100``, ``$.checks[*].ok != false``,
or a bare query (``$.version``), which holds when it finds anything. The operators are ``==``,
``!=``, ``<``, ``<=``, ``>``, ``>=``; the literal is JSON (a double-quoted string, a number,
``true``, ``false``, ``null``; single quotes are taken for double). A query that finds several
values holds when every value found satisfies the comparison. Each query is compiled by
``python-jsonpath`` when the config is loaded, so a typo is reported at its path
(``services[0].expect.json[1]: …``) rather than at the first check.

``expect.headers`` maps a response header name to the value it must have: the exact text, or
a regular expression between slashes (``/^application\\/json/``) that must be found in it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, cast

import jsonpath
import regex
from pydantic_core import PydanticCustomError

from monitor.config.durations import invalid, show

__all__ = ["OPERATORS", "HeaderExpectation", "JsonAssertion", "JsonValue",
           "parse_header_expectations", "parse_json_assertion", "parse_json_assertions"]

Operator = Literal["==", "!=", "<", "<=", ">", ">="]
OPERATORS: tuple[Operator, ...] = ("==", "!=", "<=", ">=", "<", ">")
#: A literal compared with: what ``json.loads`` gives for a scalar.
JsonValue = str | int | float | bool | None

# the operator outside any quoted text: the query's own filters may hold operators in brackets
_LISTED = re.compile(r"\s(?:==|!=|<=|>=|<|>)\s*([\[{].*)$")  # compared with a list or mapping
_SPLIT = re.compile(r"""\s*(==|!=|<=|>=|<|>)\s*(?=(?:[^"'\]\[]|"[^"]*"|'[^']*')*$)""")


@dataclass(frozen=True, slots=True)
class JsonAssertion:
    """One ``expect.json`` entry: ``query`` (JSONPath), and ``op`` and ``value`` unless it is a
    bare query. ``text`` is the entry as written, quoted in a failing check's detail."""

    text: str
    query: str
    op: Operator | None = None
    value: JsonValue = None

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class HeaderExpectation:
    """One ``expect.headers`` entry: the header ``name``, and either the exact ``value`` or a
    ``pattern`` (written between slashes) searched in it."""

    name: str
    value: str | None = None
    pattern: str | None = None

    @property
    def written(self) -> str:
        return f"/{self.pattern}/" if self.pattern is not None else self.value or ""


def _error(message: str) -> PydanticCustomError:
    return invalid(message)


def parse_json_assertion(text: object) -> JsonAssertion:
    """An ``expect.json`` entry, or the message saying what is wrong with it."""
    if not isinstance(text, str) or not text.strip():
        raise _error("expected a JSONPath assertion such as '$.status == \"UP\"', got "
                     + show(text))
    written = text.strip()
    found = _SPLIT.search(written)
    query = written if found is None else written[:found.start()].strip()
    if not query.startswith("$"):
        raise _error(f"a JSONPath query starts with $ (like $.status), got {show(query)}")
    if found is None and (listed := _LISTED.search(written)) is not None:
        raise _error(f"compare with a single value (a \"string\", a number, true, false or "
                     f"null), got {show(written[listed.start(1):].strip())}")
    try:
        jsonpath.compile(query)
    except jsonpath.JSONPathError as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise _error(f"invalid JSONPath {show(query)}: {reason}") from None
    if found is None:
        return JsonAssertion(written, query)
    op = cast(Operator, found.group(1))
    literal = written[found.end():].strip()
    if len(literal) >= 2 and literal[0] == literal[-1] == "'":
        literal = json.dumps(literal[1:-1])
    try:
        value = json.loads(literal)
    except ValueError:
        raise _error(f"expected a JSON value after {op} (a \"string\", a number, true, false or "
                     f"null), got {show(literal)}") from None
    if isinstance(value, dict | list):
        raise _error(f"compare with a single value (a \"string\", a number, true, false or null), "
                     f"got {show(literal)}")
    if op not in ("==", "!=") and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise _error(f"{op} compares with a number, got {show(value)}")
    return JsonAssertion(written, query, op, cast(JsonValue, value))


def parse_json_assertions(value: object) -> tuple[JsonAssertion, ...]:
    """``expect.json``: one assertion or a list; each entry's problem reported at its index."""
    if value is None:
        return ()
    entries = [value] if isinstance(value, str) else value
    if not isinstance(entries, list | tuple):
        raise _error(f"expected a JSONPath assertion or a list of them, got {show(value)}")
    parsed = []
    for index, entry in enumerate(entries):
        try:
            parsed.append(parse_json_assertion(entry))
        except PydanticCustomError as err:
            raise invalid(err.message(), index) from None
    return tuple(parsed)


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def parse_header_expectations(value: object) -> tuple[HeaderExpectation, ...]:
    """``expect.headers``: header name → exact text or ``/regex/``; each problem at its name."""
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise _error(f"expected a mapping of header names to values, got {show(value)}")
    found = []
    for name, raw in value.items():
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise _error(f"invalid header name {show(name)}")
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            raise invalid(f"expected text or /regex/, got {show(raw)}", name)
        text = str(raw)
        if len(text) >= 2 and text.startswith("/") and text.endswith("/"):
            pattern = text[1:-1]
            try:
                regex.compile(pattern)
            except regex.error as err:
                raise invalid(f"invalid regular expression: {err}", name) from None
            found.append(HeaderExpectation(name, pattern=pattern))
        else:
            found.append(HeaderExpectation(name, value=text))
    return tuple(found)
