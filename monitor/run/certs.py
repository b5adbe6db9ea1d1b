"""The hourly certificate check of ``upwatch run``: every verified https service's and every tls
service's certificate expiry, for ``probe_ssl_earliest_cert_expiry``, and for an https
service's own checks, which are degraded while it is within ``expect.cert_valid_for``
(:attr:`monitor.probes.kinds.ServiceProbe.cert_not_after`).

Twenty handshakes at a time by twenty workers, not a task per service: at start-up 20,000
tasks made at once held the event loop for most of a second.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from monitor.config import ServiceConfig
from monitor.metrics.probes import ProbeMetrics
from monitor.probes.kinds import ServiceProbe
from monitor.probes.tls import cert_expiry, cert_target

__all__ = ["WORKERS", "check_certificates"]

WORKERS = 20


async def check_certificates(services: Sequence[ServiceConfig], probe: ServiceProbe,
                             metrics: ProbeMetrics) -> None:
    """Ask each service's certificate, verified against ``probe.tls_context`` (None: the
    system's trust store), and record what it said."""
    pending = iter(services)

    async def worker() -> None:
        for n, svc in enumerate(pending, 1):
            target = cert_target(svc)
            if target is None:
                metrics.observe_cert_expiry(svc.name, None)
                if n % 200 == 0:
                    await asyncio.sleep(0)  # many http services: let checks run between
                continue
            try:
                async with asyncio.timeout(svc.timeout.total_seconds()):
                    expiry = await cert_expiry(target.host, target.port,
                                               context=probe.tls_context,
                                               server_name=target.server_name,
                                               starttls=target.starttls)
            except TimeoutError:
                expiry = None
            metrics.observe_cert_expiry(svc.name, None if expiry is None else expiry.timestamp())
            if svc.kind == "http" and expiry is not None:  # its checks judge it
                probe.cert_not_after[svc.name] = expiry
            else:
                probe.cert_not_after.pop(svc.name, None)

    await asyncio.gather(*(worker() for _ in range(WORKERS)))
