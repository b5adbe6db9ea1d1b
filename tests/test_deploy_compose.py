"""deploy/compose: PostgreSQL, two central replicas, two probers, Prometheus and Grafana.

No Docker engine runs here, so the file is checked for what would break it: every file it
mounts exists, the probes.yaml it mounts is valid and names the locations the probers run as,
the probers push to services that are centrals, the centrals share one database URL without
a password (the password is a secret file), and Prometheus scrapes every replica and prober.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from monitor.config import load_config

HERE = Path(__file__).resolve().parent.parent / "deploy" / "compose"


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((HERE / "compose.yaml").read_text())
    return data


def test_every_mounted_file_exists_and_the_config_is_valid() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (HERE / source).exists(), f"{name} mounts {source}, which is missing"
    config = load_config(HERE / "probes.yaml")
    assert config.location == "fra" and set(config.location_names) == {"fra", "cph", "mad"}


def test_two_centrals_share_one_database_and_the_probers_push_to_them() -> None:
    services = _compose()["services"]
    config = load_config(HERE / "probes.yaml")
    centrals = {n: s for n, s in services.items() if n.startswith("central-")}
    assert len(centrals) == 2
    urls = {s["environment"]["UPWATCH_DB"] for s in centrals.values()}
    assert len(urls) == 1
    (url,) = urls
    assert url.startswith("postgresql://upwatch@postgres:5432/") and ":" not in url.split(
        "//")[1].split("@")[0], "no password in the URL"
    for central in centrals.values():
        assert central["environment"]["UPWATCH_DB_PASSWORD_FILE"] == "/run/secrets/db_password"
        assert "db_password" in central["secrets"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"] == \
        "/run/secrets/db_password"
    probers = {n: s for n, s in services.items() if n.startswith("prober-")}
    assert len(probers) == 2
    for name, prober in probers.items():
        argv = prober["command"]
        location = argv[argv.index("--location") + 1]
        central = argv[argv.index("--central") + 1]
        assert location in config.location_names and location != config.location, name
        assert central.split("//")[1].split(":")[0] in centrals, name
        assert config.location_config(location).token_env == f"UPWATCH_TOKEN_{location.upper()}"


def test_prometheus_scrapes_every_replica_and_prober() -> None:
    services = _compose()["services"]
    prometheus = yaml.safe_load((HERE / "prometheus.yml").read_text())
    targets = {t.split(":")[0] for job in prometheus["scrape_configs"]
               for group in job["static_configs"] for t in group["targets"]}
    assert targets == {n for n in services if n.startswith(("central-", "prober-"))}
    assert any(job["job_name"] == "upwatch" for job in prometheus["scrape_configs"])
