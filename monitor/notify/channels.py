"""probes.yaml's ``notifications:`` and ``incident:`` turned into channels and the policy.

Secrets are read here, from the environment variables the config names; a missing one is a
:class:`~monitor.notify.ChannelSetupError` naming the channel and the variable.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping

import aiohttp

from monitor.config import Config
from monitor.config.incident import (
    EmailChannelConfig,
    SlackChannelConfig,
    WebhookChannelConfig,
)
from monitor.core.clock import Clock
from monitor.notify import Channel, ChannelSetupError, EventKind
from monitor.notify.email import EmailChannel
from monitor.notify.slack import SlackChannel
from monitor.notify.webhook import WebhookChannel, secret_from_env

__all__ = ["channel_from_config", "channels_from_config"]

ChannelConfig = WebhookChannelConfig | SlackChannelConfig | EmailChannelConfig


def _events(cfg: ChannelConfig) -> frozenset[EventKind]:
    """The configured kinds; ``test`` always gets through."""
    return frozenset((*cfg.events, "test"))


def channel_from_config(cfg: ChannelConfig, session: aiohttp.ClientSession, clock: Clock,
                        environ: Mapping[str, str], *,
                        ssl_context: ssl.SSLContext | None = None) -> Channel:
    """One channel; ``ssl_context`` (for STARTTLS) defaults to the system's trust store."""
    if isinstance(cfg, WebhookChannelConfig):
        secret = (None if cfg.secret_env is None
                  else secret_from_env(environ, cfg.secret_env, cfg.name))
        return WebhookChannel(cfg.name, cfg.url, session, clock, secret=secret,
                              events=_events(cfg))
    if isinstance(cfg, SlackChannelConfig):
        return SlackChannel(cfg.name, cfg.url, session, events=_events(cfg))
    username = password = None
    if cfg.username_env is not None and cfg.password_env is not None:
        username = secret_from_env(environ, cfg.username_env, cfg.name).decode("utf-8")
        password = secret_from_env(environ, cfg.password_env, cfg.name).decode("utf-8")
    return EmailChannel(cfg.name, cfg.host, cfg.port, cfg.sender, cfg.to, clock,
                        starttls=cfg.starttls, username=username, password=password,
                        events=_events(cfg), ssl_context=ssl_context)


def channels_from_config(config: Config, session: aiohttp.ClientSession, clock: Clock,
                         environ: Mapping[str, str]) -> list[Channel]:
    """Every configured channel. ChannelSetupError lists every missing variable, one a line."""
    channels: list[Channel] = []
    problems: list[str] = []
    for cfg in config.notifications:
        try:
            channels.append(channel_from_config(cfg, session, clock, environ))
        except ChannelSetupError as err:
            problems += err.problems
    if problems:
        raise ChannelSetupError(problems)
    return channels
