"""STARTTLS: the plain-text exchange that turns a connection into TLS, for the tls probe and
the hourly certificate check of services that speak it (``starttls:`` on a tls service).

- ``smtp`` (RFC 3207): the greeting ``220``, ``EHLO``, a ``250`` reply that offers
  ``STARTTLS``, ``STARTTLS``, ``220``;
- ``imap`` (RFC 9051): the greeting ``* OK``, ``a1 STARTTLS``, ``a1 OK``;
- ``pop3`` (RFC 2595): the greeting ``+OK``, ``STLS``, ``+OK``;
- ``postgres``: the SSLRequest message, answered ``S``.

Then the TLS handshake runs over the same connection (:meth:`asyncio.StreamWriter.start_tls`),
verifying the certificate as a direct handshake does. A server that does not answer as its
protocol says, or refuses the upgrade, raises :class:`StartTlsRefused`, quoting what it sent
(a ``protocol`` failure: no TLS was tried). What the server sends is bounded: a line of at most
:data:`MAX_LINE` bytes, at most :data:`MAX_LINES` lines a reply; the caller bounds the time.
"""

from __future__ import annotations

import asyncio
import ssl
import struct
from collections.abc import Awaitable, Callable, Mapping

__all__ = ["MAX_LINE", "MAX_LINES", "PROTOCOLS", "StartTlsRefused", "upgrade"]

MAX_LINE = 1024
MAX_LINES = 100
#: PostgreSQL's SSLRequest: length 8, the request code 1234.5679.
_SSL_REQUEST = struct.pack("!ii", 8, 80877103)


class StartTlsRefused(Exception):
    """The server did not agree to STARTTLS; the message says what it sent instead."""


async def upgrade(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                  protocol: str, context: ssl.SSLContext, server_name: str) -> None:
    """Speak ``protocol`` (one of :data:`PROTOCOLS`) on a plain connection until the server
    agrees to TLS, then complete a handshake verifying ``server_name`` with ``context``."""
    exchange = _EXCHANGES.get(protocol)
    if exchange is None:
        raise ValueError(f"no STARTTLS for {protocol!r} (one of: {', '.join(PROTOCOLS)})")
    await exchange(reader, writer)
    await writer.start_tls(context, server_hostname=server_name)


async def _line(reader: asyncio.StreamReader, protocol: str) -> str:
    data = bytearray()
    while not data.endswith(b"\n"):
        chunk = await reader.read(1)
        if not chunk:
            raise StartTlsRefused(f"STARTTLS ({protocol}): the server closed the connection"
                                  + (f" after {_shown(data)}" if data else ""))
        data += chunk
        if len(data) > MAX_LINE:
            raise StartTlsRefused(f"STARTTLS ({protocol}): a line longer than {MAX_LINE} "
                                  f"bytes: {_shown(data)}")
    return data.decode("latin-1").rstrip("\r\n")


def _shown(data: bytes | bytearray | str, limit: int = 80) -> str:
    text = data.decode("latin-1") if isinstance(data, bytes | bytearray) else data
    return repr(text[:limit] + ("…" if len(text) > limit else ""))


async def _smtp_reply(reader: asyncio.StreamReader) -> tuple[str, list[str]]:
    """An SMTP reply: its code and its lines (``250-…`` continues, ``250 …`` ends)."""
    lines: list[str] = []
    while len(lines) < MAX_LINES:
        line = await _line(reader, "smtp")
        lines.append(line)
        if len(line) < 4 or line[3] != "-":
            return line[:3], lines
    raise StartTlsRefused(f"STARTTLS (smtp): a reply of more than {MAX_LINES} lines")


async def _smtp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    code, lines = await _smtp_reply(reader)
    if code != "220":
        raise StartTlsRefused(f"STARTTLS (smtp): expected a 220 greeting, got {_shown(lines[-1])}")
    writer.write(b"EHLO upwatch.invalid\r\n")
    code, lines = await _smtp_reply(reader)
    if code != "250":
        raise StartTlsRefused(f"STARTTLS (smtp): EHLO answered {_shown(lines[-1])}")
    if not any(line[4:].strip().upper() == "STARTTLS" for line in lines):
        raise StartTlsRefused("STARTTLS (smtp): the server does not offer STARTTLS")
    writer.write(b"STARTTLS\r\n")
    code, lines = await _smtp_reply(reader)
    if code != "220":
        raise StartTlsRefused(f"STARTTLS (smtp): STARTTLS answered {_shown(lines[-1])}")


async def _imap(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    greeting = await _line(reader, "imap")
    if not greeting.upper().startswith("* OK"):
        raise StartTlsRefused(f"STARTTLS (imap): expected a * OK greeting, got "
                              f"{_shown(greeting)}")
    writer.write(b"a1 STARTTLS\r\n")
    for _ in range(MAX_LINES):  # untagged lines may come before the tagged answer
        line = await _line(reader, "imap")
        if line.startswith("a1 "):
            if not line[3:].upper().startswith("OK"):
                raise StartTlsRefused(f"STARTTLS (imap): STARTTLS answered {_shown(line)}")
            return
    raise StartTlsRefused(f"STARTTLS (imap): no answer to STARTTLS in {MAX_LINES} lines")


async def _pop3(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    greeting = await _line(reader, "pop3")
    if not greeting.startswith("+OK"):
        raise StartTlsRefused(f"STARTTLS (pop3): expected a +OK greeting, got {_shown(greeting)}")
    writer.write(b"STLS\r\n")
    answer = await _line(reader, "pop3")
    if not answer.startswith("+OK"):
        raise StartTlsRefused(f"STARTTLS (pop3): STLS answered {_shown(answer)}")


async def _postgres(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(_SSL_REQUEST)
    answer = await reader.read(1)
    if answer != b"S":
        said = "closed the connection" if not answer else (
            "does not take TLS (N)" if answer == b"N" else f"answered {_shown(answer)}")
        raise StartTlsRefused(f"STARTTLS (postgres): the server {said}")


_EXCHANGES: Mapping[str, Callable[[asyncio.StreamReader, asyncio.StreamWriter],
                                  Awaitable[None]]] = {
    "smtp": _smtp, "imap": _imap, "pop3": _pop3, "postgres": _postgres}
#: The protocols ``starttls:`` takes (``monitor.config.kinds.StartTls``, the same names).
PROTOCOLS = tuple(_EXCHANGES)
