"""Why an attempt failed: the one place exceptions become an :class:`ErrorKind`.

``classify(exc)`` returns ``(kind, detail)``: a kind from the documented set and a short
human sentence. The first matching row wins; the order matters because aiohttp's TLS and
DNS errors are subclasses of its connect error, and its timeouts are connection errors too.

===================================================  ===========  ==============================
exception (first match wins)                         kind         detail, e.g.
===================================================  ===========  ==============================
``TimeoutError`` (``asyncio.TimeoutError``,          timeout      no answer within 5s /
aiohttp ``ServerTimeoutError``)                                   status 200 but body not
                                                                  complete within 5s
``ClientConnectorCertificateError``,                 tls          certificate verify failed:
``ssl.SSLCertVerificationError``                                  self-signed certificate
``ClientSSLError``, ``ssl.SSLError``                 tls          TLS handshake failed: ...
``ClientConnectorDNSError``, ``socket.gaierror``     dns          cannot resolve example.invalid
``ClientConnectorError`` (refused, unreachable …)    connect      connection refused by
                                                                  127.0.0.1:9
``RefusedAddress`` (a redirect or name leading to    connect      refused 169.254.169.254: a
link-local / metadata, see ``probes.addresses``)                  link-local or cloud …
``TooManyRedirects``                                 protocol     too many redirects (5)
``RedirectClientError`` (bad or non-HTTP Location)   protocol     redirect to an unusable
                                                                  location: ...
``ClientResponseError`` (unparseable answer)         protocol     malformed HTTP answer: ...
``ServerDisconnectedError``                          protocol     server closed the connection
                                                                  without a complete answer
``ClientPayloadError``                               protocol     body cut short: ...
``ConnectionResetError`` / ``ClientOSError``         connect      connection reset by the server
with ``ECONNRESET`` or ``EPIPE``
other ``OSError`` / ``ClientOSError``                connect      connection failed: <strerror>
``InvalidURL``                                       protocol     invalid URL: ...
other ``aiohttp.ClientError``                        protocol     <class>: <message>
anything else                                        protocol     unexpected error <class>: ...
===================================================  ===========  ==============================

The tcp and tls probes (:mod:`monitor.probes.connection`) meet the plain rows: ``socket.gaierror``,
``ssl`` errors, ``OSError`` and ``TimeoutError``; their ``peer`` (host and port) names what
could not be resolved or reached, as aiohttp's own errors do for the HTTP probe.

A reset (RST) is ``connect`` even when it arrives after the request was sent: the TCP
connection was torn down, as :class:`ErrorKind` documents. An orderly close before the
answer was complete is ``protocol`` ("connection cut"). ``N`` in "too many redirects (N)" is
the number of redirects followed before giving up.
"""

from __future__ import annotations

import errno
import socket
import ssl
from datetime import timedelta

import aiohttp
from aiohttp.http_exceptions import HttpProcessingError

from monitor.core.checks import ErrorKind
from monitor.probes.addresses import RefusedAddress

__all__ = ["classify", "format_seconds"]

_MAX_DETAIL = 160
_RESET_ERRNOS = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED})


def format_seconds(td: timedelta) -> str:
    """``timedelta(seconds=5)`` → ``"5s"``, ``timedelta(milliseconds=300)`` → ``"0.3s"``."""
    return f"{td.total_seconds():g}s"


def classify(
    exc: BaseException, *, timeout: timedelta | None = None, status: int | None = None,
    peer: tuple[str, int] | None = None,
) -> tuple[ErrorKind, str]:
    """Map one exception to ``(kind, detail)`` following the table in the module docstring.

    ``timeout`` is the probe's timeout, quoted in timeout details; ``status`` is the answer's
    status code when its headers had already arrived (a timeout then happened in the body);
    ``peer`` is the host and port a connection was for, named in dns and connect details.
    """
    kind, detail = _classify(exc, timeout, status, peer)
    detail = " ".join(detail.split())  # aiohttp's parser messages span lines
    if len(detail) > _MAX_DETAIL:
        detail = detail[: _MAX_DETAIL - 1] + "…"
    return kind, detail


def _classify(
    exc: BaseException, timeout: timedelta | None, status: int | None,
    peer: tuple[str, int] | None,
) -> tuple[ErrorKind, str]:
    if isinstance(exc, TimeoutError):
        within = f"within {format_seconds(timeout)}" if timeout is not None else "in time"
        if status is not None:
            return ErrorKind.TIMEOUT, f"status {status} but body not complete {within}"
        return ErrorKind.TIMEOUT, f"no answer {within}"

    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return ErrorKind.TLS, _certificate_detail(exc.certificate_error)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ErrorKind.TLS, _certificate_detail(exc)
    if isinstance(exc, aiohttp.ClientSSLError):
        return ErrorKind.TLS, f"TLS handshake failed: {_ssl_reason(exc.os_error)}"
    if isinstance(exc, ssl.SSLError):
        return ErrorKind.TLS, f"TLS handshake failed: {_ssl_reason(exc)}"

    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return ErrorKind.DNS, f"cannot resolve {exc.host}: {_strerror(exc.os_error)}"
    if isinstance(exc, socket.gaierror):
        host = peer[0] if peer is not None else "host"
        return ErrorKind.DNS, f"cannot resolve {host}: {_strerror(exc)}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ErrorKind.CONNECT, _connect_detail(exc.os_error, f"{exc.host}:{exc.port}")
    if isinstance(exc, RefusedAddress):
        return ErrorKind.CONNECT, str(exc)

    if isinstance(exc, aiohttp.TooManyRedirects):
        return ErrorKind.PROTOCOL, f"too many redirects ({max(len(exc.history) - 1, 0)})"
    if isinstance(exc, aiohttp.RedirectClientError):
        return ErrorKind.PROTOCOL, f"redirect to an unusable location: {exc}"
    if isinstance(exc, aiohttp.ClientResponseError):
        message = exc.message.replace("\n", " ").rstrip(" ^")  # drop the parser's caret line
        return ErrorKind.PROTOCOL, f"malformed HTTP answer: {message or exc.status}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return ErrorKind.PROTOCOL, "server closed the connection without a complete answer"
    if isinstance(exc, aiohttp.ClientPayloadError):
        cause = exc.__cause__  # the parser's own error says what was missing
        reason = cause.message if isinstance(cause, HttpProcessingError) else str(exc)
        return ErrorKind.PROTOCOL, f"body cut short: {reason}"
    if isinstance(exc, OSError):  # ClientOSError, ConnectionResetError, …
        return ErrorKind.CONNECT, _connect_detail(exc, None if peer is None else _where(*peer))
    if isinstance(exc, aiohttp.InvalidURL):
        return ErrorKind.PROTOCOL, f"invalid URL: {exc}"
    if isinstance(exc, aiohttp.ClientError):
        return ErrorKind.PROTOCOL, f"{type(exc).__name__}: {exc}"
    return ErrorKind.PROTOCOL, f"unexpected error {type(exc).__name__}: {exc}"


def _where(host: str, port: int) -> str:
    """``127.0.0.1:25``, ``[::1]:25``."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _certificate_detail(err: BaseException) -> str:
    message = getattr(err, "verify_message", None) or str(err)
    return f"certificate verify failed: {message}"


def _ssl_reason(err: BaseException) -> str:
    reason = getattr(err, "reason", None)
    if isinstance(reason, str) and reason:
        return reason.lower().replace("_", " ")
    return _strerror(err)


def _strerror(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return str(err) or type(err).__name__


def _connect_detail(err: BaseException, where: str | None) -> str:
    code = err.errno if isinstance(err, OSError) else None
    suffix = f" {where}" if where else ""
    if isinstance(err, ConnectionRefusedError) or code == errno.ECONNREFUSED:
        return f"connection refused by{suffix or ' the server'}"
    if isinstance(err, ConnectionResetError) or code in _RESET_ERRNOS:
        return f"connection reset by{suffix or ' the server'}"
    if code == errno.EHOSTUNREACH:
        return f"host unreachable:{suffix}" if where else "host unreachable"
    if code == errno.ENETUNREACH:
        return f"network unreachable:{suffix}" if where else "network unreachable"
    if code == errno.ETIMEDOUT:
        return f"connection timed out:{suffix}" if where else "connection timed out"
    reason = _strerror(err)
    return f"cannot connect to {where}: {reason}" if where else f"connection failed: {reason}"
