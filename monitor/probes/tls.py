"""TLS certificate expiry: when the certificate an https service presents stops being valid.

The HTTP probe cannot see the peer certificate (aiohttp releases the connection as soon as a
small answer is read), so this probe opens its own connection, completes a verifying TLS
handshake with the service's host name, reads the leaf certificate's ``notAfter`` and closes.
Certificates change rarely: ``upwatch run`` asks once an hour. A service whose handshake fails
verification reports no expiry (the HTTP probe reports the ``tls`` failure itself).
"""

from __future__ import annotations

import asyncio
import ssl
from datetime import UTC, datetime

from yarl import URL


def tls_target(url: str) -> tuple[str, int] | None:
    """``(host, port)`` for an https URL, None for anything else."""
    parsed = URL(url)
    if parsed.scheme != "https" or not parsed.host:
        return None
    return parsed.host, parsed.port or 443


async def cert_expiry(
    host: str, port: int, *, context: ssl.SSLContext | None = None
) -> datetime | None:
    """The verified leaf certificate's ``notAfter`` (UTC), or None when there is none to trust.

    Refused or unverifiable → None. Bound it with ``asyncio.timeout`` (the target may hang).
    """
    ctx = context or ssl.create_default_context()
    try:
        _reader, writer = await asyncio.open_connection(host, port, ssl=ctx, server_hostname=host)
    except (OSError, ssl.SSLError):
        return None
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        cert = ssl_object.getpeercert() if isinstance(ssl_object, ssl.SSLObject) else None
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (OSError, ssl.SSLError):
            pass
    not_after = cert.get("notAfter") if cert else None
    if not isinstance(not_after, str):
        return None
    return datetime.fromtimestamp(ssl.cert_time_to_seconds(not_after), UTC)
