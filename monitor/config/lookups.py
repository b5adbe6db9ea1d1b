"""The keys of a dns service (``kind: dns``): which record it asks for and what the answer must be.

``record`` is one of :data:`RECORD_TYPES`; ``expect.rcode`` a DNS response code by name
(``NOERROR``, ``NXDOMAIN``, ``SERVFAIL``, ``REFUSED`` …, any case); ``expect.answers`` and
``expect.answers_contain`` list records in their presentation form, as ``dig +short`` prints
them (``192.0.2.10``, ``10 mail.example.com.``, ``v=spf1 -all``). How they are compared is the
probe's (:mod:`monitor.probes.dns`).
"""

from __future__ import annotations

from ipaddress import ip_address
from typing import Literal, get_args

import dns.exception
import dns.name
import dns.rcode

from monitor.config.durations import invalid, show

__all__ = ["RECORD_TYPES", "RecordType", "answer_problem", "check_answers", "check_rcode",
           "check_record"]

RecordType = Literal["A", "AAAA", "CNAME", "MX", "NS", "TXT"]
RECORD_TYPES: tuple[RecordType, ...] = get_args(RecordType)
#: The most records one ``expect.answers`` or ``expect.answers_contain`` lists.
MAX_ANSWERS = 100


def check_record(value: object) -> object:
    """A record type by name, any case."""
    name = value.strip().upper() if isinstance(value, str) else value
    if name not in RECORD_TYPES:
        raise invalid(f"unknown record type {show(value)} (types: {', '.join(RECORD_TYPES)})")
    return name


def check_rcode(value: object) -> str:
    """A response code by name (``NOERROR``, ``NXDOMAIN`` …), any case."""
    if isinstance(value, str):
        try:
            return dns.rcode.to_text(dns.rcode.from_text(value.strip().upper()))
        except dns.rcode.UnknownRcode:
            pass
    names = ", ".join(dns.rcode.to_text(code) for code in
                      (dns.rcode.NOERROR, dns.rcode.NXDOMAIN, dns.rcode.SERVFAIL,
                       dns.rcode.REFUSED))
    raise invalid(f"unknown DNS response code {show(value)} (such as {names})")


def check_answers(value: object) -> object:
    """A record, or a list of at most :data:`MAX_ANSWERS`, each as text, not empty."""
    if value is None:
        return value
    entries = [value] if isinstance(value, str | int) and not isinstance(value, bool) else value
    if not isinstance(entries, list | tuple):
        raise invalid(f"expected a record (like 192.0.2.10) or a list of them, got {show(value)}")
    if len(entries) > MAX_ANSWERS:
        raise invalid(f"lists {len(entries)} records; at most {MAX_ANSWERS}")
    for index, entry in enumerate(entries):
        if isinstance(entry, bool) or not isinstance(entry, str | int) or not str(entry).strip():
            raise invalid(f"expected a record as text, like 192.0.2.10, got {show(entry)}", index)
    return tuple(str(entry).strip() for entry in entries)


_FORMS = {"A": "an IPv4 address like 192.0.2.10", "AAAA": "an IPv6 address like 2001:db8::10",
          "CNAME": "a name like www.example.com.", "NS": "a name like ns1.example.com.",
          "MX": "a preference and a name like 10 mail.example.com."}


def answer_problem(record: str, text: str) -> str | None:
    """Why ``text`` cannot be a ``record`` answer (None: it can): an expected answer of another
    type would never match, and the service would be down for good."""
    form = _FORMS.get(record)
    if form is None:  # TXT: any text
        return None
    try:
        if record in ("A", "AAAA"):
            ok = ip_address(text).version == (4 if record == "A" else 6)
        elif record == "MX":
            preference, name = text.split()
            ok = 0 <= int(preference) <= 65535 and bool(dns.name.from_text(name))
        else:
            ok = len(text.split()) == 1 and bool(dns.name.from_text(text))
    except (ValueError, dns.exception.DNSException):
        ok = False
    return None if ok else f"expected {form} (record: {record}), got {show(text)}"
