"""probes.yaml, parsed once into frozen, validated models.

:func:`load_config` / :func:`parse_config` return a :class:`Config` or raise
:class:`ConfigError` listing every problem found, one line each, e.g.
``probes.yaml: services[2].interval: must be at least 1s, got "0s"``. A service is looked up
with :meth:`Config.service`, which raises :class:`UnknownService` for a name not in the file.

The modules, one idea each: :mod:`~monitor.config.model` (the top-level :class:`Config`),
:mod:`~monitor.config.reader` (YAML text → Config, errors → path-qualified lines),
:mod:`~monitor.config.loader` (default paths, reading the file),
:mod:`~monitor.config.service` (services and the status page),
:mod:`~monitor.config.locations` (probing locations and quorum), :mod:`~monitor.config.sla`,
:mod:`~monitor.config.coverage` (coverage calendars), :mod:`~monitor.config.windows`
(maintenance, exclusions, maintenance policy), :mod:`~monitor.config.incident` (incidents and
notification channels), :mod:`~monitor.config.durations` (durations, sizes, points in time) and
:mod:`~monitor.config.fields` (what every model shares). Other packages import from here.
"""

from monitor.config.coverage import Coverage, CoverageRule, DateRange
from monitor.config.durations import format_duration, parse_duration
from monitor.config.loader import db_target, default_config_path, default_db_path, load_config
from monitor.config.locations import LocationConfig
from monitor.config.model import Config, UnknownService, unknown_service_problem
from monitor.config.reader import ConfigError, parse_config
from monitor.config.service import ExpectConfig, ServiceConfig, SiteConfig, StatusRange
from monitor.config.sla import SlaConfig
from monitor.config.windows import ExclusionConfig, MaintenancePolicy, MaintenanceWindowConfig

__all__ = [
    "Config", "ConfigError", "Coverage", "CoverageRule", "DateRange", "ExclusionConfig",
    "ExpectConfig", "LocationConfig", "MaintenancePolicy", "MaintenanceWindowConfig",
    "ServiceConfig", "SiteConfig", "SlaConfig", "StatusRange", "UnknownService",
    "db_target", "default_config_path", "default_db_path", "format_duration", "load_config",
    "parse_config", "parse_duration", "unknown_service_problem",
]
