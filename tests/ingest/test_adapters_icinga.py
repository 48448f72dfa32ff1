"""Icinga adapter: Icinga Notifications webhook channel and Icinga 2 notification commands."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import pytest

from alertwhisperer.ingest.adapters import icinga
from alertwhisperer.ingest.adapters.base import AdapterError

FIXTURES = Path(__file__).parent / "fixtures" / "icinga"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.iterdir() if p.suffix in {".json", ".txt"}))
def test_every_fixture_parses(name: str) -> None:
    [alert] = icinga.parse(body(name), FORM if name.endswith(".txt") else {}).alerts
    assert alert.source == "icinga" and alert.asset_ref


def test_notifications_webhook_crit_then_ok() -> None:
    [crit] = icinga.parse(body("notifications-crit.json"), {}).alerts  # the channel sends no Content-Type
    [ok] = icinga.parse(body("notifications-ok.json"), {}).alerts
    assert (crit.status, crit.severity, crit.original_severity) == ("firing", "critical", "crit")
    assert (ok.status, ok.severity) == ("resolved", "info")
    assert crit.external_id == ok.external_id == "web-01!http"
    assert crit.asset_ref == "web-01" and crit.signature == "http"
    assert crit.message.startswith("HTTP CRITICAL")
    assert crit.occurred_at == datetime(2024, 1, 15, 10, 21, 4, 512000, tzinfo=UTC)
    assert crit.url == "https://icinga.example.com/icingaweb2/icingadb/service?name=http&host.name=web-01"
    assert crit.labels["incident_id"] == "42" and crit.labels["tag.service"] == "http"
    assert crit.delivery_id == "2024-01-15T10:21:04.512Z:crit:web-01!http"


def test_notifications_recovered_flag_on_a_host() -> None:
    [alert] = icinga.parse(body("notifications-host-recovered.json"), {}).alerts
    assert alert.status == "resolved"
    assert alert.signature == "Host down" and alert.external_id == "nas-01"
    assert "muted" not in alert.labels


def test_notifications_without_incident_are_informational() -> None:
    [alert] = icinga.parse(body("notifications-no-incident.json"), {}).alerts
    assert (alert.status, alert.severity, alert.original_severity) == ("firing", "info", None)


@pytest.mark.parametrize(("word", "severity"), [("warning", "medium"), ("err", "high"), ("notice", "low"),
                                                ("emerg", "critical"), ("alert", "critical")])
def test_notifications_severities(word: str, severity: str) -> None:
    raw = body("notifications-crit.json").replace(b'"crit"', f'"{word}"'.encode())
    assert icinga.parse(raw, {}).alerts[0].severity == severity


def test_command_problem_ack_recovery_pair() -> None:
    [problem] = icinga.parse(body("command-service-problem.txt"), FORM).alerts
    [ack] = icinga.parse(body("command-service-ack.txt"), FORM).alerts
    [recovery] = icinga.parse(body("command-service-recovery.txt"), FORM).alerts
    assert (problem.status, ack.status, recovery.status) == ("firing", "acknowledged", "resolved")
    assert problem.external_id == ack.external_id == recovery.external_id == "web-01!http"
    assert problem.severity == "critical" and recovery.severity == "info"
    assert problem.labels["service_display_name"] == "HTTP"
    assert problem.occurred_at == datetime.fromtimestamp(1705314064, tz=UTC)
    assert ack.message.endswith("Acknowledged by jdoe: Restarting the app pool")
    # the webhook channel and the command agree on the object, so they pair with each other too
    assert problem.external_id == icinga.parse(body("notifications-ok.json"), {}).alerts[0].external_id


def test_command_host_down() -> None:
    [alert] = icinga.parse(body("command-host-down.txt"), FORM).alerts
    assert (alert.signature, alert.external_id, alert.severity) == ("Host down", "nas-01", "critical")
    assert alert.labels["host_display_name"] == "Backup NAS"


def test_command_macro_names_and_long_date_time() -> None:
    raw = urlencode({"notification.type": "PROBLEM", "host.name": "db-1", "service.name": "mysql",
                     "service.state": "WARNING", "service.output": "slow",
                     "icinga.long_date_time": "2024-01-15 11:21:04 +0100"}).encode()
    [alert] = icinga.parse(raw, {}).alerts
    assert (alert.asset_ref, alert.signature, alert.severity) == ("db-1", "mysql", "medium")
    assert alert.occurred_at == datetime(2024, 1, 15, 10, 21, 4, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"{oops", "not valid JSON"),
        (b"[]", "must be a JSON object"),
        (b"[1]", "must be a JSON object"),
        (b"nothing here", "neither a JSON object nor form-encoded"),
        (b'{"object": {}, "event": {}}', "object.name is missing"),
        (b'{"object": {"name": "h"}, "event": {}, "incident": 3}', "'incident' must be an object"),
        (b'{"object": {"name": "h"}, "event": {}, "incident": {"severity": "bad"}}', "'bad' is not one of"),
        (b"state=OK", "'host'"),
        (b"host=h", "neither 'notification_type'"),
        (b"host=h&state=MAYBE", "not an Icinga state"),
    ],
)
def test_malformed_bodies_are_refused(raw: bytes, problem: str) -> None:
    with pytest.raises(AdapterError, match=problem):
        icinga.parse(raw, {})
