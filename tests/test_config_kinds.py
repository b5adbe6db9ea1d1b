"""``kind:`` in probes.yaml: the keys each kind takes, requires and refuses, every message by
its exact text, and ``upwatch check-config`` on them."""

from __future__ import annotations

import re
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config import ConfigError, parse_config
from monitor.config.kinds import EXPECT_KEYS, KINDS, SERVICE_KEYS
from monitor.probes.kinds import PROBED_KINDS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "configuration.md"

HTTP = 'services:\n  - {name: web, url: "http://127.0.0.1:1/"%s}\n'
TCP = "services:\n  - {name: mail, kind: tcp, host: 127.0.0.1, port: 25%s}\n"
TLS = "services:\n  - {name: cert, kind: tls, host: 127.0.0.1%s}\n"


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(textwrap.dedent(text))
    return list(caught.value.problems)


# ---- what each kind reads ----------------------------------------------------------------------


def test_kind_is_http_unless_said_otherwise() -> None:
    web = parse_config(HTTP % "").service("web")
    assert (web.kind, web.url, web.host, web.port, web.target) == (
        "http", "http://127.0.0.1:1/", None, None, "http://127.0.0.1:1/")


def test_a_tcp_service() -> None:
    config = parse_config(TCP % r', send: "QUIT\r\n", expect: {banner: "^220", '
                                 "max_latency: 200ms}, retries: 2")
    mail = config.service("mail")
    assert (mail.kind, mail.url, mail.host, mail.port, mail.send) == (
        "tcp", None, "127.0.0.1", 25, "QUIT\r\n")
    assert (mail.expect.banner, mail.expect.max_latency_ms, mail.retries) == ("^220", 200.0, 2)
    assert mail.target == "tcp://127.0.0.1:25"


def test_a_tls_service_defaults_to_port_443_and_14_days() -> None:
    cert = parse_config(TLS % "").service("cert")
    assert (cert.kind, cert.port, cert.server_name) == ("tls", 443, None)
    assert cert.expect.cert_valid_for == timedelta(days=14)
    assert cert.target == "tls://127.0.0.1:443"


@pytest.mark.parametrize(("keys", "target"), [
    (", server_name: www.example.test, port: 8443, expect: {cert_valid_for: 30d}",
     "tls://127.0.0.1:8443 (server name www.example.test)"),
    (", server_name: 127.0.0.1", "tls://127.0.0.1:443"),
], ids=["named", "same_name"])
def test_a_tls_service_with_its_own_keys(keys: str, target: str) -> None:
    cert = parse_config(TLS % keys).service("cert")
    assert cert.target == target


@pytest.mark.parametrize(("host", "stored", "target"), [
    ('"::1"', "::1", "tcp://[::1]:25"),
    ('"[::1]"', "::1", "tcp://[::1]:25"),
    ("mail-1.example.test.", "mail-1.example.test.", "tcp://mail-1.example.test.:25"),
    ("_smtp.example.test", "_smtp.example.test", "tcp://_smtp.example.test:25"),
], ids=["ipv6", "ipv6_brackets", "trailing_dot", "underscore"])
def test_hosts(host: str, stored: str, target: str) -> None:
    mail = parse_config(TCP.replace("127.0.0.1", host) % "").service("mail")
    assert (mail.host, mail.target) == (stored, target)


def test_every_kind_has_a_probe() -> None:
    assert PROBED_KINDS == KINDS


# ---- what each kind refuses, requires and checks ---------------------------------------------

ERRORS = [
    ("http_without_url",
     "services:\n  - {name: web}\n",
     ["probes.yaml: services[0].url: required but missing"]),
    ("unknown_kind",
     'services:\n  - {name: web, kind: udp, url: "http://x/"}\n',
     ['probes.yaml: services[0].kind: unknown kind "udp" (kinds: http, tcp, tls, dns, push)']),
    ("kind_not_text",
     "services:\n  - {name: mail, kind: [tcp], host: x, port: 25}\n",
     ['probes.yaml: services[0].kind: unknown kind ["tcp"] (kinds: http, tcp, tls, dns, push)']),
    ("url_on_tcp",
     TCP % ', url: "http://x/"',
     ['probes.yaml: services[0].url: only for kind http (service "mail" is kind tcp: give host '
      "and port)"]),
    ("url_on_tls",
     TLS % ', url: "https://x/"',
     ['probes.yaml: services[0].url: only for kind http (service "cert" is kind tls: give host '
      "and port)"]),
    ("tcp_without_host_and_port",
     "services:\n  - {name: mail, kind: tcp}\n",
     ["probes.yaml: services[0].host: required but missing (a tcp service connects to host and "
      "port)",
      "probes.yaml: services[0].port: required but missing (a tcp service connects to host and "
      "port)"]),
    ("tls_without_host",
     "services:\n  - {name: cert, kind: tls, port: 443}\n",
     ["probes.yaml: services[0].host: required but missing (a tls service connects to host and "
      "port)"]),
    ("port_out_of_range",
     TCP.replace("port: 25", "port: 70000") % "",
     ["probes.yaml: services[0].port: must be between 1 and 65535, got 70000"]),
    ("port_zero",
     TLS % ", port: 0",
     ["probes.yaml: services[0].port: must be between 1 and 65535, got 0"]),
    ("port_not_a_number",
     TCP.replace("port: 25", "port: smtp") % "",
     ['probes.yaml: services[0].port: expected a whole number, got "smtp"']),
    ("host_with_scheme",
     TCP.replace("127.0.0.1", '"smtp://mail.example.test"') % "",
     ["probes.yaml: services[0].host: expected a host name or IP address, without scheme or "
      'port (the port is its own key), got "smtp://mail.example.test"']),
    ("host_with_port",
     TCP.replace("127.0.0.1", '"mail.example.test:25"') % "",
     ["probes.yaml: services[0].host: expected a host name or IP address, without scheme or "
      'port (the port is its own key), got "mail.example.test:25"']),
    ("host_on_http",
     HTTP % ", host: 127.0.0.1, port: 80",
     ['probes.yaml: services[0].host: only for kinds tcp and tls (service "web" is kind http: '
      "give url)",
      'probes.yaml: services[0].port: only for kinds tcp, tls and dns (service "web" is kind '
      "http: give url)"]),
    ("send_on_tls",
     TLS % r', send: "HELO\r\n"',
     ['probes.yaml: services[0].send: only for kind tcp (service "cert" is kind tls)']),
    ("send_empty",
     TCP % ', send: ""',
     ["probes.yaml: services[0].send: must not be empty"]),
    ("server_name_on_tcp",
     TCP % ", server_name: mail.example.test",
     ['probes.yaml: services[0].server_name: only for kind tls (service "mail" is kind tcp)']),
    ("banner_on_http",
     HTTP % ", expect: {banner: '^220'}",
     ['probes.yaml: services[0].expect.banner: only for kind tcp (service "web" is kind http)']),
    ("banner_on_tls",
     TLS % ", expect: {banner: '^220'}",
     ['probes.yaml: services[0].expect.banner: only for kind tcp (service "cert" is kind tls)']),
    ("cert_valid_for_on_tcp",
     TCP % ", expect: {cert_valid_for: 7d}",
     ['probes.yaml: services[0].expect.cert_valid_for: only for kinds http and tls (service '
      '"mail" is kind tcp)']),
    ("cert_valid_for_on_dns",
     "services:\n  - {name: ns, kind: dns, query: example.test, expect: {cert_valid_for: 7d}}\n",
     ['probes.yaml: services[0].expect.cert_valid_for: only for kinds http and tls (service '
      '"ns" is kind dns)']),
    ("dns_answer_of_another_record_type",
     "services:\n  - {name: mx, kind: dns, query: example.test, record: MX,\n"
     "     expect: {answers: ['10 mail.example.test.', 192.0.2.1]}}\n",
     ['probes.yaml: services[0].expect.answers[1]: expected a preference and a name like 10 '
      'mail.example.com. (record: MX), got "192.0.2.1"']),
    ("dns_answer_ipv6_for_a",
     "services:\n  - {name: ns, kind: dns, query: example.test,\n"
     "     expect: {answers_contain: ['2001:db8::1']}}\n",
     ['probes.yaml: services[0].expect.answers_contain[0]: expected an IPv4 address like '
      '192.0.2.10 (record: A), got "2001:db8::1"']),
    ("cert_valid_for_not_a_duration",
     TLS % ", expect: {cert_valid_for: two weeks}",
     ['probes.yaml: services[0].expect.cert_valid_for: expected a duration like "30s", "5m" or '
      '"1h", got "two weeks"']),
    ("banner_not_a_regex",
     TCP % ", expect: {banner: '(220'}",
     ["probes.yaml: services[0].expect.banner: invalid regular expression: missing ) at "
      "position 4"]),
    ("every_http_expect_key_on_tcp",
     TCP % ", expect: {status: 200, body_contains: ok, body_regex: ok, max_latency: 1s}",
     ['probes.yaml: services[0].expect.status: only for kind http (service "mail" is kind tcp)',
      'probes.yaml: services[0].expect.body_contains: only for kind http (service "mail" is '
      "kind tcp)",
      'probes.yaml: services[0].expect.body_regex: only for kind http (service "mail" is kind '
      "tcp)"]),
    ("unknown_expect_key_lists_the_kinds_keys",
     TCP % ", expect: {baner: '^220'}",
     ["probes.yaml: services[0].expect.baner: unknown key (allowed: banner, max_latency)"]),
    ("unknown_expect_key_of_tls",
     TLS % ", expect: {valid_for: 7d}",
     ["probes.yaml: services[0].expect.valid_for: unknown key (allowed: cert_valid_for, "
      "max_latency)"]),
    ("unknown_expect_key_of_http_unchanged",
     HTTP % ", expect: {staus: 200}",
     ["probes.yaml: services[0].expect.staus: unknown key (allowed: body_contains, body_regex, "
      "cert_valid_for, headers, json, max_latency, status)"]),
    ("kind_problems_beside_other_problems",
     TCP % ", method: GET, interval: 0s, retries: 9",
     ['probes.yaml: services[0].method: only for kind http (service "mail" is kind tcp)',
      'probes.yaml: services[0].interval: must be at least 1s, got "0s"',
      "probes.yaml: services[0].retries: must be between 0 and 5, got 9"]),
    ("a_default_of_another_kind_names_each_service",
     "defaults: {headers: {X-Team: ops}, expect: {status: 2xx}}\n" + TCP % "" +
     '  - {name: web, url: "http://127.0.0.1:1/"}\n'
     "  - {name: cert, kind: tls, host: 127.0.0.1}\n",
     ['probes.yaml: defaults.headers: only for kind http (service "mail" is kind tcp)',
      'probes.yaml: defaults.expect.status: only for kind http (service "mail" is kind tcp)',
      'probes.yaml: defaults.headers: only for kind http (service "cert" is kind tls)',
      'probes.yaml: defaults.expect.status: only for kind http (service "cert" is kind tls)']),
    ("own_expect_beside_a_default_of_another_kind",
     "defaults: {expect: {status: 2xx}}\n" + TCP % ", expect: {banner: '^220'}",
     ['probes.yaml: defaults.expect.status: only for kind http (service "mail" is kind tcp)']),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in ERRORS],
                         ids=[c[0] for c in ERRORS])
def test_error_messages(text: str, expected: list[str]) -> None:
    assert problems(text) == expected


HTTP_ONLY = [k for k, kinds in SERVICE_KEYS.items() if kinds == ("http",)]
VALUES = {"url": '"http://x/"', "method": "GET", "headers": "{X: y}", "body": "hi",
          "tls_verify": "false", "follow_redirects": "false", "max_redirects": "2",
          "max_body_bytes": "1KiB"}


@pytest.mark.parametrize("kind", ["tcp", "tls"])
@pytest.mark.parametrize("key", HTTP_ONLY)
def test_every_http_only_key_is_refused_naming_the_key_and_the_kind(key: str, kind: str) -> None:
    text = f"services:\n  - {{name: svc, kind: {kind}, host: x, port: 1, {key}: {VALUES[key]}}}\n"
    hint = ": give host and port" if key == "url" else ""
    assert problems(text) == [
        f'probes.yaml: services[0].{key}: only for kind http (service "svc" is kind {kind}{hint})']


def test_every_kind_key_is_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    keys = [*SERVICE_KEYS, *EXPECT_KEYS, "kind"]
    assert [k for k in keys if f"| `{k}`" not in text] == []
    assert "### Kinds: `tcp` and `tls`" in text


def test_the_documented_examples_load() -> None:
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("### Kinds: `tcp` and `tls`", 1)[1]
    example = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert example is not None
    config = parse_config(example.group(1))
    assert [(s.name, s.kind, s.port, s.starttls) for s in config.services] == [
        ("mail", "tcp", 25, None), ("www-cert", "tls", 443, None), ("api-cert", "tls", 8443, None),
        ("mail-cert", "tls", 25, "smtp")]
    assert config.service("mail").send == "QUIT\r\n"
    assert config.service("www-cert").expect.cert_valid_for == timedelta(days=21)


def test_the_shipped_examples_of_other_kinds_load_when_uncommented() -> None:
    text = (ROOT / "probes.yaml").read_text(encoding="utf-8")
    text = re.sub(r"^(\s*)# (?=\s*(?:- |[a-z_]+:))", r"\1", text, flags=re.M)
    text = re.sub(r"^\s*(timezone: UTC|coverage: 24x7)\b.*\n", "", text, flags=re.M)
    config = parse_config(text)
    mail, cert = config.service("mail"), config.service("www-cert")
    assert (mail.kind, mail.port, mail.send, mail.expect.banner) == ("tcp", 25, "QUIT\r\n",
                                                                     "^220")
    assert (cert.kind, cert.port, cert.expect.cert_valid_for) == ("tls", 443,
                                                                  timedelta(days=14))


# ---- upwatch check-config --------------------------------------------------------------------


def test_check_config_accepts_and_refuses_by_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "probes.yaml"
    monkeypatch.setenv("UPWATCH_CONFIG", str(path))
    path.write_text(HTTP % "" + (TCP % "").split("\n", 1)[1] + (TLS % "").split("\n", 1)[1])
    assert main(["check-config"]) == 0
    assert capsys.readouterr().out == "OK: 3 services\n"
    path.write_text(TCP % ", method: POST" + "  - {name: cert, kind: tls}\n")
    assert main(["check-config"]) == 2
    assert capsys.readouterr().err == (
        f'{path}: services[0].method: only for kind http (service "mail" is kind tcp)\n'
        f"{path}: services[1].host: required but missing (a tls service connects to host and "
        "port)\n")
