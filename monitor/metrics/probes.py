"""Prometheus metrics on an injected registry (never the global default one).

Names follow blackbox_exporter where they overlap (``probe_success``, ``probe_duration_seconds``,
``probe_http_status_code``, ``probe_ssl_earliest_cert_expiry``, ``probe_dns_lookup_time_seconds``,
label ``service``); everything else is ``upwatch_``. ``probe_dns_lookup_time_seconds`` is a dns
service's query time only (blackbox_exporter also sets it for the name of any target, and
reports its dns module's query as ``probe_dns_duration_seconds``). The only label for errors
is the small documented set of :class:`monitor.core.checks.ErrorKind` values plus ``ok``; a
check that passed with a degrading kind (``cert_expiring``) is counted under that kind, and is
a success (``probe_success`` 1).

The per-service series (thousands of services) live in plain dicts behind :class:`ServiceFamily`
collectors and become samples only when asked: prometheus-client's labelled children cost a
lock, an object and a ``_created`` sample per series. The few global series keep the library's
ordinary metric types. Values are written from the event loop and read by a scrape running in
another thread; one lock per family guards the dicts, held only to copy what changed.

:func:`render` is ``generate_latest`` (text format 0.0.4) byte for byte, and
:func:`render_openmetrics` OpenMetrics' ``generate_latest``; both reuse the text of cached
families (:mod:`monitor.metrics.exposition`): a :class:`ServiceFamily` re-encodes only the
series set since the last scrape, the SLA families only what changed at their last refresh.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Literal

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics import exposition as openmetrics
from prometheus_client.samples import Sample

from monitor import __version__
from monitor.core.checks import CheckResult
from monitor.metrics import exposition
from monitor.metrics.chunks import Key
from monitor.metrics.exposition import CachedFamily, FamilyText, same_value

__all__ = [
    "CONTENT_TYPE",
    "LAG_BUCKETS",
    "ProbeMetrics",
    "ServiceFamily",
    "OPENMETRICS_CONTENT_TYPE",
    "accepts_gzip",
    "negotiate",
    "render",
    "render_gzip",
    "render_openmetrics",
]

LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0)

#: Content type of :func:`render`'s output (Prometheus text format 0.0.4).
CONTENT_TYPE = CONTENT_TYPE_LATEST
#: Content type of :func:`render_openmetrics`'s output.
OPENMETRICS_CONTENT_TYPE = openmetrics.CONTENT_TYPE_LATEST


def render(registry: CollectorRegistry) -> bytes:
    """``generate_latest(registry)`` byte for byte; cached families' text is reused."""
    return exposition.render(registry, om=False)


def render_openmetrics(registry: CollectorRegistry) -> bytes:
    """OpenMetrics' ``generate_latest(registry)`` byte for byte, reusing cached families."""
    return exposition.render(registry, om=True)


def render_gzip(registry: CollectorRegistry, *, om: bool) -> bytes:
    """:func:`render` (or :func:`render_openmetrics` if ``om``) gzipped: a multi-member gzip
    stream of the cached families' kept members, only changed chunks compressed again."""
    return exposition.render_gzip(registry, om=om)


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an ``Accept-Encoding`` header accepts gzip (``gzip`` or ``*`` with q > 0, and
    gzip not refused by ``gzip;q=0``), as RFC 9110 section 12.5.3 reads it."""
    weights: dict[str, float] = {}
    for item in accept_encoding.split(","):
        coding, *params = (part.strip() for part in item.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if coding:
            weights[coding.lower()] = q
    return weights.get("gzip", weights.get("x-gzip", weights.get("*", 0.0))) > 0


def negotiate(accept: str) -> tuple[Callable[[CollectorRegistry], bytes], str]:
    """The renderer and content type for a scrape's ``Accept`` header.

    prometheus-client's own ``choose_encoder`` decides: OpenMetrics (:func:`render_openmetrics`)
    when it would answer in OpenMetrics, the text format (:func:`render`) otherwise.
    """
    _, content_type = choose_encoder(accept)
    if content_type.split(";")[0].strip() == "application/openmetrics-text":
        return render_openmetrics, OPENMETRICS_CONTENT_TYPE
    return render, CONTENT_TYPE


class ServiceFamily:
    """One metric family whose series are keyed by service (plus optional extra labels).

    A custom collector over a plain dict. Each series whose value changes, or that comes or
    goes, is marked dirty; :meth:`text` and :meth:`members` re-encode just those lines (and
    re-join and re-compress only their chunks), and hand out the previous text untouched when
    nothing changed. ``collect()`` hands out a
    :class:`~monitor.metrics.exposition.CachedFamily`, whose samples are built only if a caller
    other than :func:`render` asks for them.
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        kind: Literal["gauge", "counter"],
        labelnames: tuple[str, ...] = ("service",),
    ) -> None:
        if not labelnames or labelnames[0] != "service":
            raise ValueError("a ServiceFamily's first label must be 'service'")
        self.name = name
        self.documentation = documentation
        self.kind = kind
        self.labelnames = labelnames
        self._sample_name = name + "_total" if kind == "counter" else name
        self._values: dict[Key, float] = {}
        # service -> its series, for families with more labels than ``service`` only
        self._by_service: dict[str, set[Key]] = {}
        self._lock = threading.Lock()
        self._cache = FamilyText(name, documentation, kind, self._sample_name, labelnames)
        # series changed since the cache was updated; whether any came or went meanwhile
        self._dirty: set[Key] = set()
        self._reshaped = False

    def _key(self, key: Key) -> Key:
        if key not in self._values:
            if len(key) != len(self.labelnames):
                raise ValueError(f"{self.name}: expected labels {self.labelnames}, got {key}")
            if len(key) > 1:
                self._by_service.setdefault(key[0], set()).add(key)
            self._reshaped = True
        self._dirty.add(key)
        return key

    def set(self, key: Key, value: float) -> None:
        with self._lock:
            before = self._values.get(key)
            if before is None or not same_value(before, value):
                self._values[self._key(key)] = value

    def inc(self, key: Key, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError(f"{self.name}: counters only go up, got {amount}")
        with self._lock:
            before = self._values.get(key)
            if before is None or amount != 0:
                self._values[self._key(key)] = (0.0 if before is None else before) + amount

    def get(self, key: Key) -> float | None:
        with self._lock:
            return self._values.get(key)

    def discard(self, key: Key) -> None:
        """Drop one series (nothing happens when it does not exist)."""
        with self._lock:
            self._drop(key)

    def forget(self, service: str) -> None:
        """Drop every series of ``service``."""
        with self._lock:
            keys = self._by_service.get(service) if len(self.labelnames) > 1 else {(service,)}
            for key in list(keys or ()):
                self._drop(key)

    def _drop(self, key: Key) -> None:
        if self._values.pop(key, None) is None:
            return
        self._dirty.add(key)
        self._reshaped = True
        if len(key) > 1:
            keys = self._by_service[key[0]]
            keys.discard(key)
            if not keys:
                del self._by_service[key[0]]

    def _updated(self) -> FamilyText:
        """The cache, brought up to date; call with its lock held."""
        with self._lock:
            if not self._dirty:
                return self._cache
            values = self._values
            keys = list(values) if self._reshaped else None
            changed = {k: values[k] for k in self._dirty if k in values}
            self._dirty, self._reshaped = set(), False
        self._cache.update(changed, keys)
        return self._cache

    def text(self, om: bool) -> bytes:
        """The family's exposition (OpenMetrics without ``# EOF`` if ``om``), kept up to date
        by re-encoding only the series changed since the last call. Thread-safe; the event
        loop's writers wait only while the changed values are copied.
        """
        with self._cache.lock:
            return self._updated().text(om)

    def members(self, om: bool) -> tuple[bytes, ...]:
        """:meth:`text` as gzip members, only the chunks changed since compressed again."""
        with self._cache.lock:
            return self._updated().members(om)

    def _samples(self) -> list[Sample]:
        with self._lock:
            items = list(self._values.items())
        name, labelnames = self._sample_name, self.labelnames
        return [Sample(name, dict(zip(labelnames, k, strict=True)), v) for k, v in items]

    def describe(self) -> Iterable[Metric]:
        return [Metric(self.name, self.documentation, self.kind)]

    def collect(self) -> Iterator[Metric]:
        yield CachedFamily(self.name, self.documentation, self.kind, self.text, self._samples,
                           self.members)


class ProbeMetrics:
    """The probe engine's metrics, updated once per final check result.

    ``locations``: the per-check series (``probe_success``, ``probe_duration_seconds``,
    ``probe_http_status_code``, ``probe_dns_lookup_time_seconds``, ``upwatch_checks``) carry a
    ``location`` label after ``service``, one series per location that probes the service (a
    config with ``locations:``); without it they are per service, as blackbox_exporter's are.
    """

    def __init__(self, registry: CollectorRegistry, *, locations: bool = False) -> None:
        self.registry = registry
        self.locations = locations
        per_check = ("service", "location") if locations else ("service",)
        self.success = self._family(
            "probe_success", "Whether the last check succeeded (1) or failed (0).", "gauge",
            per_check,
        )
        self.duration = self._family(
            "probe_duration_seconds",
            "How long the last check took, in seconds (absent when no request could be sent).",
            "gauge", per_check,
        )
        self.status_code = self._family(
            "probe_http_status_code",
            "HTTP status code of the last check's answer (0 when none arrived).",
            "gauge", per_check,
        )
        self.cert_expiry = self._family(
            "probe_ssl_earliest_cert_expiry",
            "When the https or tls target's certificate expires, in seconds since the epoch.",
            "gauge",
        )
        self.dns_lookup = self._family(
            "probe_dns_lookup_time_seconds",
            "How long the last dns check's query took to be answered, in seconds (absent when "
            "none was sent or it was refused).",
            "gauge", per_check,
        )
        self.checks = self._family(
            "upwatch_checks", "Final check results by outcome (ok or the failure kind).",
            "counter", (*per_check, "result"),
        )
        self.lag = Histogram(
            "upwatch_schedule_lag_seconds",
            "How late checks started compared with their planned time.",
            buckets=LAG_BUCKETS, registry=registry,
        )
        self.probe_errors = Counter(
            "upwatch_probe_crashes",
            "Checks that raised inside upwatch itself (a bug: see the log).",
            ["service"], registry=registry,
        )
        self.services = Gauge(
            "upwatch_services", "Services configured for probing.", registry=registry
        )
        self.queued = Gauge(
            "upwatch_ledger_queued_results",
            "Check results waiting to be committed to the ledger.",
            registry=registry,
        )
        Info("upwatch_build", "upwatch build information.", registry=registry).info(
            {"version": __version__}
        )

    def _family(
        self,
        name: str,
        documentation: str,
        kind: Literal["gauge", "counter"],
        labelnames: tuple[str, ...] = ("service",),
    ) -> ServiceFamily:
        family = ServiceFamily(name, documentation, kind, labelnames)
        self.registry.register(family)
        return family

    def observe(self, result: CheckResult, kind: str | None = None) -> None:
        """One final check of a service of ``kind``: ``dns`` sets (or drops)
        ``probe_dns_lookup_time_seconds`` too, another kind drops it (a service whose kind
        changed), None (a caller that does not know the kind) leaves it as it is."""
        key = (result.service, result.location) if self.locations else (result.service,)
        if kind == "dns" and result.latency_ms is not None:
            self.dns_lookup.set(key, result.latency_ms / 1000.0)
        elif kind is not None:
            self.dns_lookup.discard(key)
        self.success.set(key, 1.0 if result.ok else 0.0)
        if result.latency_ms is not None:
            self.duration.set(key, result.latency_ms / 1000.0)
        else:  # nothing was sent: an old latency would be a lie
            self.duration.discard(key)
        self.status_code.set(key, float(result.status or 0))
        outcome = "ok" if result.ok and result.error is None else str(result.error)
        self.checks.inc((*key, outcome))

    def observe_cert_expiry(self, service: str, epoch_seconds: float | None) -> None:
        """Record the https target's certificate expiry; None drops the series."""
        if epoch_seconds is None:
            self.cert_expiry.discard((service,))
        else:
            self.cert_expiry.set((service,), float(epoch_seconds))

    def forget(self, service: str) -> None:
        """Drop a removed service's series so it does not linger in scrapes."""
        for family in (self.success, self.duration, self.status_code, self.cert_expiry,
                       self.dns_lookup, self.checks):
            family.forget(service)
        try:
            self.probe_errors.remove(service)
        except KeyError:
            pass
