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
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics import exposition as openmetrics
from prometheus_client.samples import Sample

from monitor.metrics.chunks import ChunkedLines, Key, gzip_member, scraping

__all__ = ["CachedFamily", "FamilyText", "encode", "render", "render_gzip", "same_value"]

_EOF = b"# EOF\n"
_ZERO = b" 0.0"


_EOF_GZ = gzip_member(_EOF)


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
            shared = ChunkedLines(self._quick_prefixes)
            self._stores = {False: shared, True: shared}
        else:
            self._stores = {om: ChunkedLines(partial(self._new_prefixes, om=om))
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
    with scraping():
        parts = _parts(registry, om, lambda m: (m.text(om),), lambda b: b)
    if om:
        parts.append(_EOF)
    return b"".join(parts)


def render_gzip(registry: CollectorRegistry, *, om: bool) -> bytes:
    """:func:`render`'s bytes gzipped, as a multi-member gzip stream: the cached families' kept
    members (only changed chunks compressed again) and a fresh member for the other families."""
    with scraping():
        parts = _parts(registry, om, lambda m: m.members(om), gzip_member)
    if om:
        parts.append(_EOF_GZ)
    return b"".join(parts)
