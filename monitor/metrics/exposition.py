"""Exposition text kept in chunks of series, plain and gzipped, so a scrape encodes (and
compresses) only what changed.

With 20,000 services ``/metrics`` is ~330,000 samples and ~20 MB of text; encoding it all on
every scrape takes seconds, and gzipping it ~150 ms more. A :class:`FamilyText` keeps one
family's series as one cached line each, grouped in chunks of about :data:`CHUNK` lines; each
chunk keeps its joined text and its gzip member. A change re-encodes the changed lines and marks
their chunks; a scrape joins the chunks' text, or concatenates their gzip members (RFC 1952 lets
a gzip stream be several members in a row; Go's ``compress/gzip``, which Prometheus uses, and
Python's ``gzip`` read them as one), redoing only marked chunks. A :class:`CachedFamily` is the
``Metric`` a cached collector hands out: :func:`render` and :func:`render_gzip` use its text,
while ``generate_latest`` and ``get_sample_value`` still see ordinary samples (built only when
they ask).

The bytes are prometheus-client's own: a series' line is its *prefix* (name and labels, encoded
by the library's encoder the first time the series is seen) followed by the library's
``floatToGoString`` of the value. Both formats write a gauge or counter sample without timestamp
or exemplar as ``prefix + value + "\\n"``; the families cached here never have either. With
legacy names (all of upwatch's) the two formats' lines are the same bytes, so a family keeps
its lines and chunks once and only its header per format.

Chunk boundaries depend on the series, not on their positions (a series whose hash is a multiple
of :data:`CHUNK` starts one): a series added or dropped in the middle changes one chunk, not
every chunk after it.
"""

from __future__ import annotations

import math
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics import exposition as openmetrics
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

__all__ = [
    "CHUNK",
    "CachedFamily",
    "FamilyText",
    "Key",
    "encode",
    "gzip_member",
    "pause",
    "render",
    "render_gzip",
    "same_value",
]

Key = tuple[str, ...]  # label values, in the order of the family's label names

#: Mean series per chunk (one gzip member each); chunks hold CHUNK/4 to 4*CHUNK series.
CHUNK = 1000
#: zlib level of the cached members: ~400 MB/s here, 15x smaller than the text (6: 100 MB/s, 17x).
GZIP_LEVEL = 1
#: Lines encoded between two :func:`pause`s: a worker thread lets the event loop have the GIL.
PAUSE_EVERY = 250

_EOF = b"# EOF\n"
_ZERO = b" 0.0"


def gzip_member(data: bytes) -> bytes:
    """``data`` as one gzip member (mtime 0: the same bytes give the same member).

    zlib releases the GIL while it compresses, so a scrape's compression does not hold up the
    event loop."""
    return zlib.compress(data, GZIP_LEVEL, wbits=31)


_EOF_GZ = gzip_member(_EOF)


def pause() -> None:
    """Let other threads (the event loop) take the GIL now, rather than after the interpreter's
    5 ms switch interval: called between steps of CPU-bound work in worker threads."""
    time.sleep(0)


class _Families:
    """A collector over fixed families, to hand a few of them to the library's encoder."""

    def __init__(self, metrics: Sequence[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> Sequence[Metric]:
        return self._metrics


def encode(metrics: Sequence[Metric], om: bool) -> bytes:
    """prometheus-client's encoding of ``metrics``; OpenMetrics without its closing ``# EOF``."""
    if not om:
        return generate_latest(_Families(metrics))
    text: bytes = openmetrics.generate_latest(_Families(metrics))  # type: ignore[no-untyped-call]
    return text[: -len(_EOF)] if text.endswith(_EOF) else text


def same_value(a: float, b: float) -> bool:
    """Whether ``a`` and ``b`` encode alike (``0.0`` and ``-0.0`` do not; NaN never is)."""
    return a == b and (a != 0.0 or math.copysign(1.0, a) == math.copysign(1.0, b))


def _library_prefixes(
    family: Metric, sample_name: str, labelnames: tuple[str, ...], keys: Sequence[Key], om: bool
) -> dict[Key, bytes]:
    """Each series' ``name{labels} `` as the library encodes it (a sample of 0, cut off)."""
    header = encode([family], om)
    family.samples = [
        Sample(sample_name, dict(zip(labelnames, k, strict=True)), 0.0) for k in keys
    ]
    body = encode([family], om)
    if not body.startswith(header):
        raise AssertionError(f"{family.name}: unexpected exposition header")
    lines = body[len(header):].split(b"\n")
    if len(lines) != len(keys) + 1 or lines[-1]:
        raise AssertionError(f"{family.name}: expected one line per series")
    out: dict[Key, bytes] = {}
    for k, line in zip(keys, lines, strict=False):
        if not line.endswith(_ZERO):
            raise AssertionError(f"{family.name}: unexpected sample line {line!r}")
        out[k] = line[: -len(_ZERO) + 1]  # keep the space before the value
    return out


_LEGACY_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LEGACY_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def _legacy_names(sample_name: str, labelnames: tuple[str, ...]) -> bool:
    return _LEGACY_NAME.fullmatch(sample_name) is not None and all(
        _LEGACY_LABEL.fullmatch(n) is not None and not n.startswith("__") for n in labelnames
    )


def _quick_prefix(
    sample_name: str, labelnames: tuple[str, ...], order: list[int], key: Key
) -> bytes:
    """``name{label="value",...} `` with labels sorted by name, values escaped as the library
    escapes them (backslash, newline, double quote)."""
    if not labelnames:
        return f"{sample_name} ".encode()
    labels = ",".join(
        '{}="{}"'.format(
            labelnames[i],
            key[i].replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"'),
        )
        for i in order
    )
    return f"{sample_name}{{{labels}}} ".encode()


_QUICK: dict[bool, bool] = {}


def _quick_prefix_matches(om: bool) -> bool:
    """Whether :func:`_quick_prefix` gives the installed library's bytes (checked once on
    awkward label values; if a future prometheus-client encodes differently, the library's
    encoder is used for every new series instead)."""
    if om not in _QUICK:
        labelnames = ("service", "result")
        keys = [("api", "ok"), ('q"uo\\te\nnl', "é€ 😀"), ("", "a{b}=c,d")]
        family = Metric("upwatch_probe_check", "Check.", "counter")
        library = _library_prefixes(family, "upwatch_probe_check_total", labelnames, keys, om)
        order = sorted(range(len(labelnames)), key=labelnames.__getitem__)
        _QUICK[om] = all(
            _quick_prefix("upwatch_probe_check_total", labelnames, order, k) == library[k]
            for k in keys
        ) and _library_prefixes(Metric("upwatch_x", "X.", "gauge"), "upwatch_x", (), [()], om)[
            ()] == _quick_prefix("upwatch_x", (), [], ())
    return _QUICK[om]


def _go_float(value: float) -> bytes:
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


class _Lines:
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
        go_float = _go_float
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
            lines[k] = b"%s%s\n" % (line[: line.rindex(b" ") + 1], go_float(v))
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
        lines = {k: b"%s%s\n" % (prefix[k], _go_float(changed[k])) for k in new}
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


class FamilyText:
    """One family's exposition in both formats, its series kept as cached lines in chunks.

    :meth:`update` takes the values that changed (and, when series came or went, every series
    in exposition order); :meth:`text` and :meth:`members` then re-join and re-compress only the
    chunks those values fell in. Call them with :attr:`lock` held when they may race.
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        typ: str,
        sample_name: str,
        labelnames: tuple[str, ...],
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.typ = typ
        self.sample_name = sample_name
        self.labelnames = labelnames
        self.headers = {om: encode([Metric(name, documentation, typ)], om) for om in (False, True)}
        self._header_members = {om: gzip_member(h) for om, h in self.headers.items()}
        if all(self._quick(om) for om in (False, True)):  # the same lines in both formats
            shared = _Lines(self._quick_prefixes)
            self._stores = {False: shared, True: shared}
        else:
            self._stores = {om: _Lines(partial(self._new_prefixes, om=om))
                            for om in (False, True)}
        #: Held by whoever renders (a scrape thread or a refresh), never by the event loop.
        self.lock = threading.Lock()

    def _quick(self, om: bool) -> bool:
        return _quick_prefix_matches(om) and _legacy_names(self.sample_name, self.labelnames)

    def _quick_prefixes(self, keys: Sequence[Key]) -> dict[Key, bytes]:
        order = sorted(range(len(self.labelnames)), key=self.labelnames.__getitem__)
        return {k: _quick_prefix(self.sample_name, self.labelnames, order, k) for k in keys}

    def _new_prefixes(self, keys: Sequence[Key], om: bool) -> dict[Key, bytes]:
        """``name{labels} `` of new series: the library's text, a value of 0 cut off.

        Encoding through the library costs ~10-40 µs a series (OpenMetrics checks label names
        character by character), seconds for a first scrape of 20,000 services; when
        :func:`_quick_prefix_matches` has shown that the plain formatting gives the library's
        bytes, it is used instead.
        """
        if self._quick(om):
            return self._quick_prefixes(keys)
        return _library_prefixes(Metric(self.name, self.documentation, self.typ),
                                 self.sample_name, self.labelnames, keys, om)

    def update(self, changed: Mapping[Key, float], keys: Sequence[Key] | None = None) -> None:
        """Re-encode the series in ``changed``.

        ``keys`` None says the family has the same series in the same order as at the last
        update (each key of ``changed`` among them): nothing else is looked at. Otherwise
        ``keys`` is every series in exposition order, each new one in ``changed``.
        """
        stores = self._stores
        stores[False].update(changed, keys)
        if stores[True] is not stores[False]:
            stores[True].update(changed, keys)

    def texts(self, om: bool) -> tuple[bytes, ...]:
        """The header and each chunk's text; joined, the family's exposition."""
        return (self.headers[om], *self._stores[om].texts())

    def text(self, om: bool) -> bytes:
        """The family's exposition (OpenMetrics without ``# EOF`` if ``om``)."""
        return b"".join(self.texts(om))

    def members(self, om: bool) -> tuple[bytes, ...]:
        """The header's and each chunk's gzip member; concatenated, the gzipped exposition."""
        return (self._header_members[om], *self._stores[om].members())


class CachedFamily(Metric):
    """A family :func:`render` takes as ready text; its ``samples`` are built only on demand.

    ``text(om)`` returns the family's exposition (text 0.0.4, or OpenMetrics without ``# EOF``),
    ``members(om)`` the same gzipped as a sequence of gzip members; ``samples()`` builds the
    same series as ``Sample`` objects for ``generate_latest`` and
    ``CollectorRegistry.get_sample_value``.
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        typ: str,
        text: Callable[[bool], bytes],
        samples: Callable[[], list[Sample]],
        members: Callable[[bool], Sequence[bytes]],
    ) -> None:
        self._build: Callable[[], list[Sample]] | None = None
        self._built: list[Sample] | None = None
        super().__init__(name, documentation, typ)
        self.text = text
        self.members = members
        self._build = samples

    @property
    def samples(self) -> list[Sample]:
        if self._built is None:
            self._built = [] if self._build is None else self._build()
        return self._built

    @samples.setter
    def samples(self, value: list[Sample]) -> None:
        if self._build is not None:  # Metric.__init__ sets [] before the builder is known
            self._built = value


def _parts(
    registry: CollectorRegistry, om: bool, cached: Callable[[CachedFamily], Iterable[bytes]],
    other: Callable[[bytes], bytes],
) -> list[bytes]:
    """Each family's bytes in registry order: ``cached`` of a :class:`CachedFamily`, ``other``
    of the library's encoding of the families between them (a run at a time)."""
    parts: list[bytes] = []
    batch: list[Metric] = []
    for metric in registry.collect():
        if isinstance(metric, CachedFamily):
            if batch:
                parts.append(other(encode(batch, om)))
                batch = []
            parts.extend(cached(metric))
        else:
            batch.append(metric)
    if batch:
        parts.append(other(encode(batch, om)))
    return parts


def render(registry: CollectorRegistry, *, om: bool) -> bytes:
    """The library's exposition of ``registry`` byte for byte, using cached families' text.

    Families that are not :class:`CachedFamily` are encoded by the library, a run at a time.
    """
    parts = _parts(registry, om, lambda m: (m.text(om),), lambda b: b)
    if om:
        parts.append(_EOF)
    return b"".join(parts)


def render_gzip(registry: CollectorRegistry, *, om: bool) -> bytes:
    """:func:`render`'s bytes gzipped, as a multi-member gzip stream: the cached families' kept
    members (only changed chunks compressed again) and a fresh member for the other families."""
    parts = _parts(registry, om, lambda m: m.members(om), gzip_member)
    if om:
        parts.append(_EOF_GZ)
    return b"".join(parts)
