"""Prometheus metrics on an injected registry: per-check probe metrics in blackbox_exporter's
names (:mod:`~monitor.metrics.probes`) and month-to-date SLA gauges computed from a snapshot
(:mod:`~monitor.metrics.sla`).
"""
