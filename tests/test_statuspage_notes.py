"""The page's words on each kind's last check (statuspage.notes), in every language."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.core.checks import ErrorKind
from monitor.store.checks import StoredCheck
from statuspage.i18n import formatter
from statuspage.notes import cert_not_after, last_result

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
EN = formatter("en")


def check(ok: bool = True, error: ErrorKind | None = None, latency_ms: float | None = 87.4,
          detail: str = "") -> StoredCheck:
    return StoredCheck("svc", "local", NOW - timedelta(seconds=30), ok, latency_ms, None,
                       error, detail)


@pytest.mark.parametrize(("kind", "last", "ping", "expected"), [
    ("http", check(), None, "Answered in 87 ms"),
    ("http", check(latency_ms=1234.0), None, "Answered in 1.2 secs"),
    ("tcp", check(latency_ms=3.0), None, "Connected in 3 ms"),
    ("dns", check(latency_ms=12.0), None, "Resolved in 12 ms"),
    ("http", None, None, None),
    ("http", check(ok=False, error=ErrorKind.TIMEOUT, latency_ms=None), None,
     "No answer in time"),
    ("dns", check(ok=False, error=ErrorKind.DNS_ANSWER), None, "Unexpected DNS answer"),
    ("tls", check(detail="certificate valid until 2026-11-11T12:00:00Z"), None,
     "Certificate expires in 9 days"),
    ("http", check(error=ErrorKind.CERT_EXPIRING, detail=(
        "certificate expires in 2d (2026-11-04T18:00:00Z), within cert_valid_for 14d")), None,
     "Certificate expires in 2 days 6 hrs"),
    ("tls", check(ok=False, error=ErrorKind.TLS,
                  detail="certificate expired 2026-11-01T00:00:00Z (by upwatch's clock)"), None,
     "TLS handshake or certificate failed"),
    ("push", None, None, "No ping yet"),
    ("push", check(), NOW - timedelta(minutes=3, seconds=20), "Last ping 3 mins ago"),
    ("push", check(), NOW - timedelta(seconds=20), "Last ping less than a minute ago"),
    ("push", check(ok=False, error=ErrorKind.MISSED_PING), NOW - timedelta(hours=2),
     "Last ping 2 hrs ago"),
    ("push", check(ok=False, error=ErrorKind.JOB_FAILED), NOW, "The job reported a failure"),
], ids=["http", "http-slow", "tcp", "dns", "no-check", "timeout", "dns-answer", "tls-days",
        "https-expiring", "tls-failed", "push-never", "push-ago", "push-just-now",
        "push-overdue", "push-failed"])
def test_each_kinds_last_check_in_words(kind: str, last: StoredCheck | None,
                                        ping: datetime | None, expected: str | None) -> None:
    assert last_result(kind, last, ping, NOW, EN) == expected


def test_the_detail_of_a_failure_is_never_shown() -> None:
    secret = check(ok=False, error=ErrorKind.CONTENT, detail="banner: '220 db-7.internal'")
    said = last_result("tcp", secret, None, NOW, EN)
    assert said == "Unexpected response content" and "internal" not in said


@pytest.mark.parametrize(("lang", "expected"), [
    ("de", "Letzter Ping vor 3 Min."), ("da", "Seneste ping for 3 min. siden"),
    ("it", "Ultimo ping 3 min fa"), ("es", "Último ping hace 3 min"),
])
def test_the_words_are_translated(lang: str, expected: str) -> None:
    said = last_result("push", None, NOW - timedelta(minutes=3), NOW, formatter(lang))
    assert said == expected


def test_a_certificate_expiry_is_read_from_the_probes_own_detail() -> None:
    assert cert_not_after(check(detail="certificate valid until 2027-01-05T00:00:00Z")) == (
        datetime(2027, 1, 5, tzinfo=UTC))
    assert cert_not_after(check(detail="")) is None
