"""A family's series lines, kept in chunks of about :data:`CHUNK`, each chunk's lines joined and
gzipped once and again only after a change (see :mod:`monitor.metrics.exposition`, which
renders /metrics from them).

Chunk boundaries depend on the series, not on their positions (a series whose crc32 is a
multiple of :data:`CHUNK` starts one): a series added or dropped in the middle changes one
chunk, not every chunk after it. Work on many lines gives the GIL back every
:data:`PAUSE_EVERY` lines (:func:`pause`), since it runs in worker threads beside the event
loop; background work (the SLA refresh) also steps aside while a scrape renders
(:func:`scraping`), so a scrape that meets a refresh does not share the GIL with it.
"""

from __future__ import annotations

import asyncio
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager

from prometheus_client.utils import floatToGoString

__all__ = ["CHUNK", "GZIP_LEVEL", "PAUSE_EVERY", "ChunkedLines", "Key", "go_float",
           "gzip_member", "pause", "scraping"]

Key = tuple[str, ...]  # label values, in the order of the family's label names

#: Mean series per chunk (one gzip member each); chunks hold CHUNK/4 to 4*CHUNK series.
CHUNK = 1000
#: zlib level of the cached members: ~400 MB/s here, 15x smaller than the text (6: 100 MB/s, 17x).
GZIP_LEVEL = 1
#: Lines encoded between two :func:`pause`s: a worker thread lets the event loop have the GIL.
PAUSE_EVERY = 250

def gzip_member(data: bytes) -> bytes:
    """``data`` as one gzip member (mtime 0: the same bytes give the same member).

    zlib releases the GIL while it compresses, so a scrape's compression does not hold up the
    event loop."""
    return zlib.compress(data, GZIP_LEVEL, wbits=31)


#: Of each second, the most a background thread spends waiting in :func:`pause` for scrapes
#: to finish: a scraper that never stops slows a refresh down at most twofold, it does not
#: starve it.
SCRAPE_YIELD_S = 0.5

_scrapes = threading.Condition()
_scraping: dict[int, int] = {}  # thread id -> scrapes it is handling now
_yielded = threading.local()  # per background thread: [start of this second, seconds waited]


@contextmanager
def scraping() -> Iterator[None]:
    """Mark the calling thread as handling a scrape: until it leaves, :func:`pause` in any
    other thread waits for it (within :data:`SCRAPE_YIELD_S` a second) instead of competing
    for the GIL. The web handler holds it from request to response on the event loop, the
    render holds it in its worker thread.

    A scrape is what Prometheus and Grafana wait on; a refresh of SLA figures every 30 s loses
    nothing by finishing a few tens of milliseconds later."""
    me = threading.get_ident()
    with _scrapes:
        _scraping[me] = _scraping.get(me, 0) + 1
    try:
        yield
    finally:
        with _scrapes:
            if _scraping[me] == 1:
                del _scraping[me]
            else:
                _scraping[me] -= 1
            _scrapes.notify_all()


def _no_other_scrape() -> bool:
    return not _scraping or threading.get_ident() in _scraping


def _on_a_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def pause() -> None:
    """Let other threads (the event loop) take the GIL now, rather than after the interpreter's
    5 ms switch interval: called between steps of CPU-bound work in worker threads. Outside a
    scrape, it also waits while another thread handles one (:func:`scraping`)."""
    if _no_other_scrape() or _on_a_loop():  # never block an event loop
        time.sleep(0)
        return
    now = time.monotonic()
    window = getattr(_yielded, "window", None)
    if window is None or now - window[0] >= 1.0:
        window = _yielded.window = [now, 0.0]
    allowed = SCRAPE_YIELD_S - window[1]
    if allowed <= 0:
        time.sleep(0)
        return
    with _scrapes:
        _scrapes.wait_for(_no_other_scrape, timeout=allowed)
    window[1] += time.monotonic() - now


def go_float(value: float) -> bytes:
    """The library's text of a sample value (Go's float formatting).

    ``floatToGoString`` is Python's ``repr`` for every finite value under a million (it
    rewrites only +-Inf, NaN and positive values with more than six digits before the point),
    so those, nearly all of upwatch's, skip its checks."""
    value = float(value)
    if -1e6 < value < 1e6:
        return repr(value).encode("ascii")
    text: str = floatToGoString(value)  # type: ignore[no-untyped-call]
    return text.encode("ascii")


def _starts_chunk(key: Key, size: int) -> bool:
    """Whether ``key`` begins a new chunk after one of ``size`` lines (see the module doc)."""
    # crc32, not hash(): str hashes differ from process to process (PYTHONHASHSEED), and the
    # boundaries should not
    return size >= 4 * CHUNK or (
        size >= CHUNK // 4 and zlib.crc32("\x00".join(key).encode()) % CHUNK == 0)


class _Chunk:
    """Consecutive series: their lines in order, and the lines joined and gzipped (None until
    asked for again after a change)."""

    __slots__ = ("gz", "lines", "text")

    def __init__(self) -> None:
        self.lines: dict[Key, bytes] = {}
        self.text: bytes | None = None
        self.gz: bytes | None = None

    def joined(self) -> bytes:
        if self.text is None:
            self.text = b"".join(self.lines.values())
        return self.text

    def member(self) -> bytes:
        if self.gz is None:
            self.gz = gzip_member(self.joined())
        return self.gz


class ChunkedLines:
    """A family's series lines in chunks (for one format, or both when their lines agree)."""

    def __init__(self, prefixes: Callable[[Sequence[Key]], dict[Key, bytes]]) -> None:
        self._prefixes = prefixes
        self._chunks: list[_Chunk] = []
        self._chunk_of: dict[Key, _Chunk] = {}

    def update(self, changed: Mapping[Key, float], keys: Sequence[Key] | None) -> None:
        """Re-encode ``changed``. ``keys`` None: the series and their order are as before (every
        changed key exists); else ``keys`` is every series in order now (new ones in
        ``changed``)."""
        chunk_of = self._chunk_of
        new = [] if keys is None else [k for k in changed if k not in chunk_of]
        prefix = self._prefixes(new) if new else {}
        stale: set[_Chunk] = set()
        format_value = go_float  # a local: the loop below is hot
        countdown = PAUSE_EVERY
        for k, v in changed.items():  # the hot loop of a scrape: one changed value each
            countdown -= 1
            if not countdown:
                pause()
                countdown = PAUSE_EVERY
            chunk = chunk_of.get(k)
            if chunk is None:  # new: encoded below
                continue
            lines = chunk.lines
            line = lines[k]
            lines[k] = b"%s%s\n" % (line[: line.rindex(b" ") + 1], format_value(v))
            stale.add(chunk)
        for chunk in stale:
            chunk.text = chunk.gz = None
        if keys is None:
            return
        if len(chunk_of) + len(new) > len(keys):  # series went away
            for k in chunk_of.keys() - set(keys):
                chunk = chunk_of.pop(k)
                del chunk.lines[k]
                chunk.text = chunk.gz = None
            self._chunks = [c for c in self._chunks if c.lines]
        lines = {k: b"%s%s\n" % (prefix[k], go_float(changed[k])) for k in new}
        tail = keys[len(keys) - len(new):] if new else ()
        if set(tail) == lines.keys():  # new series at the end, in the order of ``keys``
            self._append(tail, lines)
        if len(chunk_of) != len(keys) or not self._in_order(keys):
            self._relayout(keys, lines)

    def _append(self, keys: Iterable[Key], lines: Mapping[Key, bytes]) -> None:
        chunk = self._chunks[-1] if self._chunks else None
        for k in keys:
            if chunk is None or _starts_chunk(k, len(chunk.lines)):
                chunk = _Chunk()
                self._chunks.append(chunk)
            chunk.lines[k] = lines[k]
            chunk.text = chunk.gz = None
            self._chunk_of[k] = chunk

    def _in_order(self, keys: Sequence[Key]) -> bool:
        order: list[Key] = []
        for chunk in self._chunks:
            order.extend(chunk.lines)
        return order == list(keys)

    def _relayout(self, keys: Sequence[Key], new: Mapping[Key, bytes]) -> None:
        """Chunk ``keys`` afresh; a chunk with the same series as before keeps its text."""
        old = self._chunk_of
        chunks: list[_Chunk] = []
        chunk_of: dict[Key, _Chunk] = {}
        chunk: _Chunk | None = None
        for n, k in enumerate(keys, 1):
            if n % PAUSE_EVERY == 0:
                pause()
            if chunk is None or _starts_chunk(k, len(chunk.lines)):
                chunk = _Chunk()
                chunks.append(chunk)
            line = new.get(k)
            chunk.lines[k] = old[k].lines[k] if line is None else line
            chunk_of[k] = chunk
        for i, c in enumerate(chunks):
            first = next(iter(c.lines))
            before = old.get(first)
            if before is not None and list(before.lines) == list(c.lines):
                chunks[i] = before  # same series in the same order: its text still holds
                for k in c.lines:
                    chunk_of[k] = before
        self._chunks, self._chunk_of = chunks, chunk_of

    def texts(self) -> list[bytes]:
        return [c.joined() for c in self._chunks]

    def members(self) -> list[bytes]:
        return [c.member() for c in self._chunks]
