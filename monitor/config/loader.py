"""Where probes.yaml and the ledger are by default, and reading probes.yaml from its file.

:func:`load_config` reads the file and hands the text to
:func:`monitor.config.reader.parse_config`; either raises :class:`ConfigError` listing every
problem, one line each, starting with the file's name.
"""

from __future__ import annotations

import os
from pathlib import Path

from monitor.config.branding import resolve_site_files
from monitor.config.model import Config
from monitor.config.reader import ConfigError, parse_config

__all__ = ["URL_SCHEMES", "ConfigError", "db_target", "default_config_path", "default_db_path",
           "load_config", "parse_config"]


def default_config_path() -> Path:
    """``$UPWATCH_CONFIG`` if set, else ``./probes.yaml``."""
    return Path(os.environ.get("UPWATCH_CONFIG") or "probes.yaml")


#: How ``--db`` tells a PostgreSQL URL from an SQLite file path.
URL_SCHEMES = ("postgresql://", "postgres://")


def db_target(value: str) -> str | Path:
    """What ``--db`` / ``UPWATCH_DB`` name: a ``postgresql://`` URL (kept as text), else an
    SQLite file path."""
    return value if value.startswith(URL_SCHEMES) else Path(value)


def default_db_path() -> str | Path:
    """``$UPWATCH_DB`` if set, else ``./upwatch.db``."""
    return db_target(os.environ.get("UPWATCH_DB") or "upwatch.db")


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a probes.yaml; ConfigError lists every problem. The site's branding
    files are made absolute against the file's folder, and must exist."""
    source = os.fspath(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{source}: file not found (create it, or set UPWATCH_CONFIG / "
                           "--config)"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{source}: not UTF-8 text"]) from None
    except OSError as err:
        raise ConfigError([f"{source}: cannot read: {err.strerror or err}"]) from None
    config = parse_config(text, source)
    resolved, problems = resolve_site_files(config.site.files, Path(path).resolve().parent)
    if problems:
        raise ConfigError([f"{source}: site.{key}: {message}" for key, message in problems])
    if not resolved:
        return config
    return config.model_copy(update={"site": config.site.model_copy(update=resolved)})
