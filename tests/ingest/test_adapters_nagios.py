"""Nagios adapter: the documented notification command, form-encoded and JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import pytest

from alertwhisperer.ingest.adapters import nagios
from alertwhisperer.ingest.adapters.base import AdapterError

FIXTURES = Path(__file__).parent / "fixtures" / "nagios"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.iterdir() if p.suffix in {".json", ".txt"}))
def test_every_fixture_parses(name: str) -> None:
    headers = FORM if name.endswith(".txt") else {"Content-Type": "application/json"}
    [alert] = nagios.parse(body(name), headers).alerts
    assert alert.source == "nagios" and alert.asset_ref


def test_service_problem_and_recovery_pair_on_the_problem_id() -> None:
    [problem] = nagios.parse(body("service-problem.json"), {}).alerts
    [recovery] = nagios.parse(body("service-recovery.json"), {}).alerts
    assert (problem.status, problem.severity, problem.original_severity) == ("firing", "critical", "CRITICAL")
    assert (recovery.status, recovery.severity) == ("resolved", "info")
    assert problem.external_id == recovery.external_id == "web-01!HTTP#3812"
    assert problem.asset_ref == "web-01" and problem.signature == "HTTP"
    assert problem.message.startswith("HTTP CRITICAL - Invalid HTTP response")
    assert problem.occurred_at == datetime.fromtimestamp(1705314064, tz=UTC)
    assert problem.delivery_id == "1705314064:PROBLEM:web-01!HTTP"
    assert problem.labels["address"] == "192.0.2.10"
    assert problem.labels["host_alias"] == "Web server 01"


def test_host_notifications_form_encoded() -> None:
    [down] = nagios.parse(body("host-down.txt"), FORM).alerts
    [up] = nagios.parse(body("host-recovery.txt"), FORM).alerts
    assert (down.status, down.severity, down.original_severity) == ("firing", "critical", "DOWN")
    assert (up.status, up.severity) == ("resolved", "info")
    assert down.signature == up.signature == "Host down"
    assert down.external_id == up.external_id == "fw-edge-01#3901"
    assert down.message == "PING CRITICAL - Packet loss = 100%"
    assert "service" not in down.labels


def test_acknowledgement_carries_author_and_comment() -> None:
    [ack] = nagios.parse(body("service-ack.txt"), FORM).alerts
    [problem] = nagios.parse(body("service-problem.json"), {}).alerts
    assert ack.status == "acknowledged"
    assert ack.external_id == problem.external_id
    assert ack.message.endswith("Acknowledged by jdoe: Looking into it - app pool restart")
    assert ack.labels["author"] == "jdoe"


def test_flapping_start_follows_the_state() -> None:
    [alert] = nagios.parse(body("service-flapping-start.txt"), FORM).alerts
    assert (alert.status, alert.severity) == ("firing", "medium")
    assert alert.signature == "Disk /var"
    assert alert.labels["notification_type"] == "FLAPPINGSTART"
    assert "(9% inode=87%);" in alert.message  # characters that break naive JSON survive the form


def test_macro_names_as_keys() -> None:
    [alert] = nagios.parse(body("service-problem-macro-keys.json"), {"Content-Type": "application/json"}).alerts
    assert (alert.asset_ref, alert.signature, alert.severity) == ("mail-01", "SMTP queue", "medium")
    assert alert.external_id == "mail-01!SMTP queue#4002"
    assert alert.message == "WARNING: 412 messages in queue\ndeferred: 380\nactive: 32"


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"notification_type": "FLAPPINGSTOP", "state": "OK"}, "resolved"),
        ({"notification_type": "DOWNTIMESTART", "state": "CRITICAL"}, "firing"),
        ({"notification_type": "CUSTOM", "state": "UP"}, "resolved"),
        ({"state": "UNREACHABLE"}, "firing"),
    ],
)
def test_other_notification_types_follow_the_state(fields: dict[str, str], status: str) -> None:
    [alert] = nagios.parse(urlencode({"host": "h1", **fields}).encode(), FORM).alerts
    assert alert.status == status


def test_long_date_time_when_no_timestamp() -> None:
    raw = urlencode({"host": "h", "service": "s", "state": "OK", "notification_type": "RECOVERY",
                     "datetime": "Mon Jan 15 10:27:04 UTC 2024"}).encode()
    [alert] = nagios.parse(raw, {}).alerts  # no content type: detected as a form
    assert alert.occurred_at == datetime(2024, 1, 15, 10, 27, 4, tzinfo=UTC)
    assert alert.delivery_id is None and alert.external_id == "h!s"


def test_problem_without_id_pairs_on_the_name() -> None:
    raw = urlencode({"host": "h", "service": "s", "state": "CRITICAL", "notification_type": "PROBLEM",
                     "problem_id": "0"}).encode()
    [alert] = nagios.parse(raw, FORM).alerts
    assert alert.external_id == "h!s"


@pytest.mark.parametrize(
    ("raw", "headers", "problem"),
    [
        (b'{"host": "web-01", "output": "say "hi""}', {"Content-Type": "application/json"},
         "form-encoded instead"),
        (b"[1, 2]", {"Content-Type": "application/json"}, "must be a JSON object"),
        (b"just text", {}, "neither form-encoded"),
        (b"notification_type=PROBLEM&state=CRITICAL", FORM, "'host'"),
        (b"host=h1", FORM, "neither 'notification_type'"),
        (b"host=h1&state=PURPLE", FORM, "'PURPLE' is not a Nagios state"),
    ],
)
def test_malformed_bodies_are_refused(raw: bytes, headers: dict[str, str], problem: str) -> None:
    with pytest.raises(AdapterError, match=problem):
        nagios.parse(raw, headers)


def test_json_and_form_bodies_are_equivalent() -> None:
    fields = json.loads(body("service-problem.json"))
    form = urlencode({k: "" if v is None else v for k, v in fields.items()}).encode()
    assert nagios.parse(form, FORM).alerts == nagios.parse(body("service-problem.json"), {}).alerts
