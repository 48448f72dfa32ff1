"""Uptime Kuma adapter: heartbeat notifications, form-data preset, test button, certificate expiry."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from alertwhisperer.ingest.adapters import uptime_kuma
from alertwhisperer.ingest.adapters.base import AdapterError

FIXTURES = Path(__file__).parent / "fixtures" / "uptime-kuma"
MULTIPART = "multipart/form-data; boundary=--------------------------813735217420164829178920"


def body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def data(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(body(name))
    return loaded


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.json")))
def test_every_fixture_parses(name: str) -> None:
    result = uptime_kuma.parse(body(name), {"Content-Type": "application/json"})
    assert result.alerts or result.control


def test_down_fires_and_up_resolves_the_same_monitor() -> None:
    [down] = uptime_kuma.parse(body("down.json"), {}).alerts
    [up] = uptime_kuma.parse(body("up.json"), {}).alerts
    assert (down.status, down.severity) == ("firing", "critical")
    assert (up.status, up.severity) == ("resolved", "info")
    assert down.original_severity is None
    assert down.external_id == up.external_id == "1"
    assert down.asset_ref == up.asset_ref == "https://example.com"
    assert down.signature == up.signature == "My Website"
    assert down.message == "[My Website] [🔴 Down] Request failed with status code 503"
    assert down.occurred_at == datetime(2026, 1, 15, 10, 21, 4, 512000, tzinfo=UTC)
    assert down.delivery_id == "1:2026-01-15 10:21:04.512:0"
    assert down.value is None and up.value == "182"
    assert down.labels["kuma_status"] == "DOWN" and up.labels["kuma_status"] == "UP"
    assert down.labels["monitor_type"] == "http"


def test_form_data_preset_is_the_same_alert() -> None:
    [from_form] = uptime_kuma.parse(body("down-form-data.txt"), {"Content-Type": MULTIPART}).alerts
    [from_json] = uptime_kuma.parse(body("down.json"), {}).alerts
    assert from_form == from_json


def test_port_monitor_of_an_older_release() -> None:
    [alert] = uptime_kuma.parse(body("port-down-v1.json"), {}).alerts
    assert alert.asset_ref == "192.0.2.25:5432"
    assert alert.signature == "Postgres primary"
    assert alert.external_id == "7"
    assert alert.labels["tag.customer"] == "acme"


def test_test_button_is_a_test_control_message() -> None:
    result = uptime_kuma.parse(body("test.json"), {})
    assert result.alerts == []
    assert result.control is not None and result.control.kind == "test"
    assert result.control.details["msg"] == "My Webhook Testing"


def test_certificate_expiry_is_a_medium_alert_on_the_url() -> None:
    [alert] = uptime_kuma.parse(body("cert-expiry.json"), {}).alerts
    assert (alert.status, alert.severity) == ("firing", "medium")
    assert alert.asset_ref == "https://example.com"
    assert alert.signature == "TLS certificate expiring"
    assert alert.external_id == "cert:My Website"
    assert alert.labels["monitor_name"] == "My Website"


@pytest.mark.parametrize(("code", "status", "severity"), [(2, "firing", "low"), (3, "resolved", "info")])
def test_pending_and_maintenance(code: int, status: str, severity: str) -> None:
    payload = data("down.json")
    payload["heartbeat"]["status"] = code
    [alert] = uptime_kuma.parse(json.dumps(payload).encode(), {}).alerts
    assert (alert.status, alert.severity) == (status, severity)


def test_unknown_message_without_heartbeat_is_kept_as_info() -> None:
    payload = {"heartbeat": None, "monitor": {"id": 3, "name": "DNS"}, "msg": "Something new happened"}
    [alert] = uptime_kuma.parse(json.dumps(payload).encode(), {}).alerts
    assert (alert.severity, alert.signature, alert.external_id) == ("info", "DNS", "msg:3")


def test_heartbeat_without_monitor_uses_its_monitor_id() -> None:
    payload = {"heartbeat": {"monitorID": 9, "status": 0, "time": "2024-01-15 10:00:00"}, "monitor": None,
               "msg": "down"}
    [alert] = uptime_kuma.parse(json.dumps(payload).encode(), {}).alerts
    assert alert.external_id == "9" and alert.signature == "monitor 9"


@pytest.mark.parametrize(
    ("raw", "headers", "problem"),
    [
        (b"msg=hi", {}, "not valid JSON"),
        (b'{"foo": 1}', {}, "not an Uptime Kuma webhook body"),
        (b'{"heartbeat": [], "msg": "x"}', {}, "'heartbeat' must be an object"),
        (b'{"heartbeat": null, "monitor": null, "msg": 5}', {}, "'msg' must be a string"),
        (b'{"heartbeat": null, "monitor": {"id": 1}}', {}, "nothing to report"),
        (b'{"heartbeat": {"status": 7, "monitorID": 1}}', {}, "heartbeat.status 7"),
        (b'{"heartbeat": {"status": true, "monitorID": 1}}', {}, "heartbeat.status True"),
        (b'{"heartbeat": {"status": 0}}', {}, "monitorID"),
        (b"--x\r\n\r\n--x--", {"Content-Type": "multipart/form-data; boundary=x"}, "no 'data' field"),
    ],
)
def test_malformed_bodies_are_refused(raw: bytes, headers: dict[str, str], problem: str) -> None:
    with pytest.raises(AdapterError, match=problem):
        uptime_kuma.parse(raw, headers)
