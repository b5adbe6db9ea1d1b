"""A service's last check in words, as its kind tells it, for the visitor of the page.

One short line under the service's state: a push service's last ping ("Last ping 3 mins
ago", "No ping yet"), a certificate's remaining time for a tls service and for an https
service whose certificate is about to expire ("Certificate expires in 9 days"), how fast an
http, tcp or dns service answered, or, when the check failed, what kind of failure it was
("No answer in time"). Only the failure's kind is shown, never its detail: a detail quotes what
the target sent or where it is, which is the operator's, not the public's.

The certificate's ``notAfter`` is read from the check's own detail, where the tls probe writes
it (``certificate valid until 2027-01-05T00:00:00Z``, or ``certificate expires in 6d 23h
(2026-10-08T10:00:00Z), …``): the first UTC timestamp in it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from monitor.core.checks import ErrorKind
from monitor.store.checks import StoredCheck
from statuspage.i18n import Formatter

__all__ = ["cert_not_after", "last_result"]

_STAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")

def _(message: str) -> str:
    """Marks a message for pybabel's extraction; :func:`last_result` translates it."""
    return message


#: How each failure kind is told.
_FAILURES: dict[ErrorKind, str] = {
    ErrorKind.TIMEOUT: _("No answer in time"),
    ErrorKind.DNS: _("Host name not found"),
    ErrorKind.CONNECT: _("Connection refused or unreachable"),
    ErrorKind.TLS: _("TLS handshake or certificate failed"),
    ErrorKind.HTTP_STATUS: _("Unexpected HTTP status"),
    ErrorKind.CONTENT: _("Unexpected response content"),
    ErrorKind.TOO_LARGE: _("Response too large"),
    ErrorKind.PROTOCOL: _("Malformed response"),
    ErrorKind.DNS_ANSWER: _("Unexpected DNS answer"),
    ErrorKind.MISSED_PING: _("Ping overdue"),
    ErrorKind.JOB_FAILED: _("The job reported a failure"),
}

_ANSWERED = {"http": _("Answered in %(time)s"), "tcp": _("Connected in %(time)s"),
             "dns": _("Resolved in %(time)s")}


def cert_not_after(check: StoredCheck) -> datetime | None:
    """The certificate expiry a tls check (or an https check that is ``cert_expiring``) wrote
    in its detail."""
    found = _STAMP.search(check.detail)
    if found is None:
        return None
    return datetime.strptime(found.group(1), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def last_result(kind: str, check: StoredCheck | None, last_ping: datetime | None,
                now: datetime, f: Formatter) -> str | None:
    """The line for a service of ``kind`` whose last check is ``check`` (None: none yet)."""
    if kind == "push":
        if check is not None and not check.ok and check.error is ErrorKind.JOB_FAILED:
            return f.gettext("The job reported a failure")
        if last_ping is None:
            return f.gettext("No ping yet")
        minutes = (now - last_ping).total_seconds() / 60
        if minutes < 1:
            return f.gettext("Last ping less than a minute ago")
        return f.gettext("Last ping %(duration)s ago") % {"duration": f.duration(int(minutes))}
    if check is None:
        return None
    if not check.ok:
        told = _FAILURES.get(check.error) if check.error is not None else None
        return None if told is None else f.gettext(told)
    if kind == "tls" or check.error is ErrorKind.CERT_EXPIRING:
        not_after = cert_not_after(check)
        if not_after is not None:
            left = (not_after - now).total_seconds() / 60
            if left <= 0:
                return f.gettext("Certificate expired")
            return f.gettext("Certificate expires in %(duration)s") % {
                "duration": f.duration(int(left))}
    answered = _ANSWERED.get(kind)
    if answered is None or check.latency_ms is None:
        return None
    return f.gettext(answered) % {"time": f.millis(check.latency_ms)}
