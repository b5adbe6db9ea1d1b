"""deploy/: the Prometheus rules and their promtool unit tests, the exposition, the dashboard.

promtool comes from Debian's ``prometheus`` package. Without it these tests skip, except in CI
(env ``CI`` set), where a missing promtool is a failure.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry
from tools import require_tool

from monitor.config import parse_config
from monitor.core.checks import CheckResult, ErrorKind, State
from monitor.core.clock import FakeClock
from monitor.core.minutes import Run
from monitor.core.windows import windows_from_config
from monitor.metrics.probes import ProbeMetrics, render
from monitor.metrics.sla import SlaCollector, compute_snapshot
from monitor.run.locations import LocationWatch
from monitor.times import epoch_minute
from monitor.web.results import LocationSeen

ROOT = Path(__file__).resolve().parent.parent
PROM = ROOT / "deploy" / "prometheus"
RULES = PROM / "upwatch.rules.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "upwatch.json"
NOW = datetime(2026, 10, 14, 9, 30, 10, tzinfo=UTC)

#: Series Prometheus makes itself; a dashboard may use them without upwatch exporting them.
PROMETHEUS_OWN = {"up"}


@pytest.fixture(scope="module")
def promtool() -> str:
    return require_tool("promtool", "prometheus")


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, input=None if stdin is None else stdin.decode(),
                          capture_output=True, text=True, timeout=60, cwd=PROM)
    assert proc.returncode == 0, f"{' '.join(args)}\n{proc.stdout}\n{proc.stderr}"
    return proc


def app_registry() -> CollectorRegistry:
    """A registry filled as ``upwatch run`` fills it: every kind of sample present."""
    config = parse_config(
        """
services:
  - {name: api, url: "https://api.example.test/"}
  - {name: web, url: "http://127.0.0.1:9/"}
  - name: office
    url: "http://127.0.0.1:9/"
    sla: {target: 99.5, timezone: Europe/Copenhagen,
          coverage: {days: mon-fri, hours: "09:00-17:00"}}
maintenance:
  - {services: [web], title: Upgrade, start: "2026-10-14T09:00:00Z", end: "2026-10-14T10:00:00Z"}
""",
        "test.yaml",
    )
    registry = CollectorRegistry()
    metrics = ProbeMetrics(registry)
    metrics.observe(CheckResult("api", NOW, True, 42.0, 200))
    metrics.observe(CheckResult("web", NOW, False, None, None, ErrorKind.CONNECT))
    metrics.observe(CheckResult("office", NOW, False, 90.0, 503, ErrorKind.HTTP_STATUS))
    metrics.observe_cert_expiry("api", 1_800_000_000.0)
    metrics.lag.observe(0.012)
    metrics.probe_errors.labels("web").inc()
    metrics.services.set(3)
    month = epoch_minute(datetime(2026, 10, 1, tzinfo=UTC))
    runs = {
        "api": [Run(month, month + 100, State.DOWN), Run(month + 100, epoch_minute(NOW), State.UP)],
        "office": [Run(month, epoch_minute(NOW), State.UP)],
    }
    windows = windows_from_config(config, datetime(2026, 9, 30, tzinfo=UTC), NOW)
    SlaCollector(registry).update(compute_snapshot(config, runs, windows, NOW))
    # a central with a location that pushes (its own registry entry in upwatch run)
    located = parse_config("location: fra\nlocations: [{name: fra}, {name: cph}]\n"
                           "services:\n  - {name: api, url: 'https://api.example.test/'}\n")
    registry.register(LocationWatch(located, LocationSeen(), FakeClock(NOW)))
    return registry


def exported_names(registry: CollectorRegistry) -> set[str]:
    return {s.name for metric in registry.collect() for s in metric.samples}


def recorded_names() -> set[str]:
    doc = yaml.safe_load(RULES.read_text())
    return {r["record"] for g in doc["groups"] for r in g["rules"] if "record" in r}


# -- promtool --------------------------------------------------------------------------------


def test_rules_are_valid(promtool: str) -> None:
    out = run(promtool, "check", "rules", str(RULES)).stdout
    assert "SUCCESS" in out


def test_example_config_is_valid(promtool: str) -> None:
    run(promtool, "check", "config", str(PROM / "prometheus.yml"))


def test_rule_unit_tests_pass(promtool: str) -> None:
    tests = sorted(str(p.relative_to(PROM)) for p in (PROM / "tests").glob("*.yml"))
    assert tests == ["tests/alerts.yml", "tests/slow_burn.yml"]
    out = run(promtool, "test", "rules", *tests).stdout
    assert out.count("SUCCESS") == len(tests)


def test_exposition_passes_promtool_lint(promtool: str) -> None:
    body = render(app_registry())
    assert b"upwatch_sla_uptime_ratio{" in body and b"probe_ssl_earliest_cert_expiry{" in body
    run(promtool, "check", "metrics", stdin=body)


def test_promtool_lint_is_not_a_rubber_stamp(promtool: str) -> None:
    bad = b"# HELP x_minutes m\n# TYPE x_minutes gauge\nx_minutes 1\n"
    proc = subprocess.run([promtool, "check", "metrics"], input=bad, capture_output=True,
                          timeout=60)
    assert proc.returncode != 0


# -- PromQL names ----------------------------------------------------------------------------

_KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
             "group_right", "bool", "offset", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression reads (Grafana ``label_values`` queries too)."""
    m = re.fullmatch(r"\s*label_values\(\s*([a-zA-Z_:][\w:]*)\s*,\s*\w+\s*\)\s*", expr)
    if m:
        return {m.group(1)}
    text = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`', "", expr)  # strings
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\$\w+", "", text)  # Grafana variables
    names = set()
    for tok in re.finditer(r"(?<![\w.])([a-zA-Z_:][\w:]*)(\s*\()?", text):
        if tok.group(2) is None and tok.group(1).lower() not in _KEYWORDS:
            names.add(tok.group(1))
    return names


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("probe_success", {"probe_success"}),
        ('max by (service) (probe_success{service=~"$service"})', {"probe_success"}),
        ("rate(upwatch_checks_total[$__rate_interval])", {"upwatch_checks_total"}),
        ("a:b:c / on (service, x) group_left (y) d_e > 14.4 * f", {"a:b:c", "d_e", "f"}),
        ('histogram_quantile(0.99, sum by (le) (rate(x_bucket{a="b,c"}[5m])))', {"x_bucket"}),
        ("time() - ts_seconds > 1e3", {"ts_seconds"}),
        ("label_values(probe_success, service)", {"probe_success"}),
        ('up{job="upwatch"} == 0 or absent(up{job="upwatch"})', {"up"}),
    ],
    ids=["bare", "aggregation", "range", "matching", "histogram", "number", "label_values",
         "absent"],
)
def test_metric_names_extraction(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def dashboard_exprs(node: Any) -> Iterator[str]:
    """Every PromQL expression in the dashboard: targets, annotations, template queries."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                yield value
            elif key == "query" and isinstance(value, dict) and "query" in value:
                yield value["query"]
            else:
                yield from dashboard_exprs(value)
    elif isinstance(node, list):
        for item in node:
            yield from dashboard_exprs(item)


def test_dashboard_reads_only_what_upwatch_exports() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = list(dashboard_exprs(dashboard))
    assert len(exprs) >= 15
    used = set().union(*(metric_names(e) for e in exprs))
    known = exported_names(app_registry()) | recorded_names() | PROMETHEUS_OWN
    assert used - known == set()
    # the dashboard shows what the issue asks for
    for name in ("probe_success", "upwatch_sla_uptime_ratio", "upwatch_sla_target_ratio",
                 "upwatch_sla_error_budget_remaining_ratio", "probe_duration_seconds",
                 "upwatch_maintenance_active", "service:probe_errors:ratio_rate1h"):
        assert name in used, name
    maintenance = [a for a in dashboard["annotations"]["list"] if a.get("name") == "Maintenance"]
    assert maintenance and "upwatch_maintenance_active" in maintenance[0]["expr"]


def test_rules_read_only_what_upwatch_exports() -> None:
    doc = yaml.safe_load(RULES.read_text())
    used = set().union(*(metric_names(r["expr"]) for g in doc["groups"] for r in g["rules"]))
    assert used - (exported_names(app_registry()) | recorded_names() | PROMETHEUS_OWN) == set()
    assert {"probe_success", "upwatch_sla_target_ratio", "upwatch_maintenance_active",
            "upwatch_service_covered", "upwatch_sla_error_budget_remaining_ratio"} <= used


def test_dashboard_queries_are_valid_promql(promtool: str, tmp_path: Path) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [e for e in dashboard_exprs(dashboard) if not e.startswith("label_values(")]
    substitute = {"$__rate_interval": "1m", "$__range": "1h", "$__interval": "1m",
                  "$service": ".+"}
    rules = []
    for i, expr in enumerate(exprs):
        for var, value in substitute.items():
            expr = expr.replace(var, value)
        assert "$" not in expr, expr
        rules.append({"record": f"dashboard:query:{i}", "expr": expr})
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    run(promtool, "check", "rules", str(path))


def test_alerts_cover_the_issue() -> None:
    doc = yaml.safe_load(RULES.read_text())
    alerts = {r["alert"]: r for g in doc["groups"] for r in g["rules"] if "alert" in r}
    assert set(alerts) >= {"UpwatchErrorBudgetBurnFast", "UpwatchErrorBudgetBurnSlow",
                           "UpwatchErrorBudgetExhausted", "UpwatchDown"}
    for name in ("UpwatchErrorBudgetBurnFast", "UpwatchErrorBudgetBurnSlow"):
        expr = alerts[name]["expr"]
        assert "unless on (service) (upwatch_maintenance_active == 1)" in expr
        assert "unless on (service) (upwatch_service_covered == 0)" in expr
    assert alerts["UpwatchErrorBudgetBurnFast"]["labels"]["severity"] == "page"
    assert alerts["UpwatchErrorBudgetBurnSlow"]["labels"]["severity"] == "ticket"
    recorded = recorded_names()
    for window in ("5m", "30m", "1h", "2h", "6h", "1d", "3d"):
        assert f"service:probe_success:ratio_rate{window}" in recorded
        assert f"service:probe_errors:ratio_rate{window}" in recorded
