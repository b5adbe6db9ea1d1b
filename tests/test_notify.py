"""Notification events and the webhook signature, checked against an independent HMAC."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from monitor.notify import ChannelSetupError, Event, event_from_json
from monitor.notify.webhook import secret_from_env, sign, verify

EVENT = Event("incident-update:3", "incident", datetime(2026, 10, 1, 10, 0, tzinfo=UTC),
              "[severity 1] api down: identified", "Rolling **back**.", ("api",),
              {"incident_id": 1, "status": "identified"})


def test_event_json_round_trip() -> None:
    assert event_from_json(EVENT.dumps()) == EVENT
    assert EVENT.to_json()["at"] == "2026-10-01T10:00:00Z"


@pytest.mark.parametrize(("body", "tamper"), [
    (b'{"a": 1}', b'{"a": 2}'), (EVENT.dumps().encode(), b""),
], ids=["small", "event"])
def test_signature_is_hmac_sha256_of_the_raw_body(body: bytes, tamper: bytes) -> None:
    expected = "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()
    assert sign(b"k", body) == expected
    assert verify(b"k", body, expected)
    assert not verify(b"k", tamper, expected)
    assert not verify(b"other", body, expected)


def test_secret_must_be_set() -> None:
    assert secret_from_env({"HOOK": "abc"}, "HOOK", "ops-hook") == b"abc"
    with pytest.raises(ChannelSetupError) as err:
        secret_from_env({"HOOK": ""}, "HOOK", "ops-hook")
    assert str(err.value) == ('notifications: channel "ops-hook": environment variable HOOK '
                              "is not set (it holds the channel's secret)")
