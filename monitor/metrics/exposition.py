"""Exposition text kept series by series, so a scrape encodes only what changed.

With 20,000 services ``/metrics`` is ~330,000 samples and ~20 MB of text; encoding it all on
every scrape takes seconds. A :class:`FamilyText` keeps one family's text in one format (text
0.0.4 or OpenMetrics) as one line per series and re-encodes only the series whose value changed
since the last render, then joins the lines. A :class:`CachedFamily` is the ``Metric`` a cached
collector hands out: :func:`render` uses its text, while ``generate_latest`` and
``get_sample_value`` still see ordinary samples (built only when they ask).

The bytes are prometheus-client's own: a series' line is its *prefix* (name and labels, encoded
by the library's encoder the first time the series is seen) followed by the library's
``floatToGoString`` of the value. Both formats write a gauge or counter sample without timestamp
or exemplar as ``prefix + value + "\\n"``; the families cached here never have either.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics import exposition as openmetrics
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

__all__ = ["CachedFamily", "FamilyText", "Key", "changed_items", "encode", "render", "same_value"]

Key = tuple[str, ...]  # label values, in the order of the family's label names

_EOF = b"# EOF\n"
_ZERO = b" 0.0"


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
    """The library's text of a sample value (Go's float formatting)."""
    text: str = floatToGoString(value)  # type: ignore[no-untyped-call]
    return text.encode("ascii")


class FamilyText:
    """One family's exposition in one format, kept as one cached line per series.

    :meth:`render` takes the series in exposition order and the values that changed since the
    last render (every new series among them); only those lines are encoded again.
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        typ: str,
        sample_name: str,
        labelnames: tuple[str, ...],
        *,
        om: bool,
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.typ = typ
        self.sample_name = sample_name
        self.labelnames = labelnames
        self.om = om
        self.header = encode([Metric(name, documentation, typ)], om)
        self._lines: dict[Key, bytes] = {}
        self._text = self.header
        #: Held by whoever renders (a scrape thread or a refresh), never by the event loop.
        self.lock = threading.Lock()

    @property
    def text(self) -> bytes:
        """The family as of the last :meth:`render` (just the header before the first)."""
        return self._text

    def _new_prefixes(self, keys: Sequence[Key]) -> dict[Key, bytes]:
        """``name{labels} `` of new series: the library's text, a value of 0 cut off.

        Encoding through the library costs ~10-40 µs a series (OpenMetrics checks label names
        character by character), seconds for a first scrape of 20,000 services; when
        :func:`_quick_prefix_matches` has shown that the plain formatting below gives the
        library's bytes, it is used instead.
        """
        if _quick_prefix_matches(self.om) and _legacy_names(self.sample_name, self.labelnames):
            order = sorted(range(len(self.labelnames)), key=self.labelnames.__getitem__)
            return {k: _quick_prefix(self.sample_name, self.labelnames, order, k) for k in keys}
        return _library_prefixes(Metric(self.name, self.documentation, self.typ),
                                 self.sample_name, self.labelnames, keys, self.om)

    def render(self, keys: Sequence[Key], changed: Mapping[Key, float]) -> bytes:
        """The family's text for series ``keys`` (in order), re-encoding ``changed`` only.

        Every key in ``keys`` must either be in ``changed`` or have been rendered before with
        its current value. Call with :attr:`lock` held when renders may race. Only the lines
        are kept (a prefix is its line up to the last space: values have none), to spare memory.
        """
        lines = self._lines
        new = [k for k in changed if k not in lines]
        prefix = self._new_prefixes(new) if new else {}
        for k, v in changed.items():
            p = prefix.get(k)
            if p is None:
                line = lines[k]
                p = line[: line.rindex(b" ") + 1]
            lines[k] = b"%s%s\n" % (p, _go_float(v))
        if len(lines) > len(keys):  # series went away: forget their lines
            self._lines = lines = {k: lines[k] for k in keys}
        self._text = self.header + b"".join(map(lines.__getitem__, keys))
        return self._text


class CachedFamily(Metric):
    """A family :func:`render` takes as ready text; its ``samples`` are built only on demand.

    ``text(om)`` returns the family's exposition (text 0.0.4, or OpenMetrics without ``# EOF``);
    ``samples()`` builds the same series as ``Sample`` objects for ``generate_latest`` and
    ``CollectorRegistry.get_sample_value``.
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        typ: str,
        text: Callable[[bool], bytes],
        samples: Callable[[], list[Sample]],
    ) -> None:
        self._build: Callable[[], list[Sample]] | None = None
        self._built: list[Sample] | None = None
        super().__init__(name, documentation, typ)
        self.text = text
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


def render(registry: CollectorRegistry, *, om: bool) -> bytes:
    """The library's exposition of ``registry`` byte for byte, using cached families' text.

    Families that are not :class:`CachedFamily` are encoded by the library, a run at a time.
    """
    parts: list[bytes] = []
    batch: list[Metric] = []
    for metric in registry.collect():
        if isinstance(metric, CachedFamily):
            if batch:
                parts.append(encode(batch, om))
                batch = []
            parts.append(metric.text(om))
        else:
            batch.append(metric)
    if batch:
        parts.append(encode(batch, om))
    if om:
        parts.append(_EOF)
    return b"".join(parts)


def changed_items(
    old: Mapping[Key, float], new: Iterable[tuple[Key, float]]
) -> tuple[list[Key], dict[Key, float]]:
    """Series order of ``new`` and those of its values that differ from ``old``."""
    keys: list[Key] = []
    changed: dict[Key, float] = {}
    for k, v in new:
        keys.append(k)
        before = old.get(k)
        if before is None or not same_value(before, v):
            changed[k] = v
    return keys, changed
