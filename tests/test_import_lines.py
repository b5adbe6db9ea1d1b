"""An import line is read as json.loads reads it: the fast path (json's C scanner called
directly) takes exactly what json.loads takes, and gives json.loads's message for the rest.

Pushed bodies are checked for bytes that are not UTF-8 once per body; a line holding one is
still refused with its own number, and the other lines are taken.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.config import load_config
from monitor.importer import LineError, decode_json_line
from monitor.ingest import parse_pushed

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
_SPACE = st.text(alphabet=" \t\r", max_size=2)


def _same(line: str) -> None:
    got = decode_json_line(line)
    try:
        want = json.loads(line.rstrip("\r\n"))
    except (ValueError, RecursionError):
        assert isinstance(got, LineError), (line, got)
        return
    assert not isinstance(got, LineError), (line, got)
    assert json.dumps(got) == json.dumps(want)


@settings(max_examples=300, deadline=None)
@given(value=_JSON, before=_SPACE, after=_SPACE, ending=st.sampled_from(["", "\n", "\r\n"]))
def test_a_json_line_is_read_as_json_loads_reads_it(value: object, before: str, after: str,
                                                    ending: str) -> None:
    _same(before + json.dumps(value) + after + ending)


@settings(max_examples=300, deadline=None)
@given(line=st.text(alphabet='{}[]",:0123456789.eE+-truefalsn \t\\u', max_size=30))
def test_any_text_is_taken_or_refused_as_json_loads_would(line: str) -> None:
    _same(line)


@pytest.mark.parametrize("line", [
    "", "   ", "{}", ' {"a": 1} ', '{"a": 1} x', '{"a": 1}{"b": 2}', '{"a": 1}, {"b": 2}',
    "1 2", "[1,", "NaN", "-Infinity", '"\\ud800"', "[" * 100_000 + "]" * 100_000,
    '{"latency_ms": 1' + "0" * 5000 + "}", "\u00a0{}", "{}\u00a0", "{}\v",
])
def test_edge_lines_are_read_as_json_loads_reads_them(line: str) -> None:
    _same(line)


def test_a_line_past_the_value_is_refused_with_json_loads_message() -> None:
    got = decode_json_line('{"service": "api"} trailing\n')
    assert isinstance(got, LineError)
    assert str(got) == "not valid JSON: Extra data at column 20"


def test_nan_reads_as_json_loads_reads_it() -> None:
    got = decode_json_line('{"latency_ms": NaN}')
    assert isinstance(got, dict) and math.isnan(got["latency_ms"])


def test_a_pushed_line_that_is_not_utf8_is_refused_and_the_others_taken(tmp_path: Path) -> None:
    path = tmp_path / "probes.yaml"
    path.write_text("location: central\nlocations: [{name: p0}]\n"
                    "services:\n  - {name: api, url: 'http://127.0.0.1:9/'}\n")
    config = load_config(path)
    good = '{"service": "api", "time": "2026-10-01T00:00:00Z", "ok": true}'
    bad = b'{"service": "api\xff", "time": "2026-10-01T00:01:00Z", "ok": true}'.decode(
        "utf-8", errors="surrogateescape")
    text = "\n".join([good, bad, good.replace("00:00:00", "00:02:00")]) + "\n"
    batch = parse_pushed(text, "p0", config, datetime(2026, 10, 2, tzinfo=UTC))
    assert [o.result.time.minute for o in batch.observations] == [0, 2]
    assert batch.invalid == 1
    assert batch.errors == ["line 2: not UTF-8 text (byte 0xFF); save the file as UTF-8"]
