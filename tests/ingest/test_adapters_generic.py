"""Generic adapter: the platform's own JSON (single object or batch), strictly validated."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from alertwhisperer.ingest.adapters import generic
from alertwhisperer.ingest.adapters.base import AdapterError

FIXTURES = Path(__file__).parent / "fixtures" / "generic"
BASE: dict[str, Any] = {"asset_name": "srv-1", "signature": "cpu_high", "severity": "high", "message": "CPU 95%",
                        "tool_source": "script"}


def body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def one(**changes: Any) -> bytes:
    item = {**BASE, **changes}
    return json.dumps({k: v for k, v in item.items() if v is not ...}).encode()


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.json")))
def test_every_fixture_parses(name: str) -> None:
    assert generic.parse(body(name), {"Content-Type": "application/json"}).alerts


def test_seed_payload() -> None:
    [alert] = generic.parse(body("seed-single.json"), {}).alerts
    assert alert.source == "generic"
    assert (alert.status, alert.severity, alert.original_severity) == ("firing", "high", "high")
    assert alert.asset_ref == "server-prod-01"
    assert alert.signature == "disk_space_critical"
    assert alert.message == "Disk space at 95%"
    assert alert.labels == {"tool_source": "datadog"}
    assert alert.external_id is None and alert.occurred_at is None


def test_every_optional_field() -> None:
    [alert] = generic.parse(body("full-resolved.json"), {}).alerts
    assert alert.status == "resolved" and alert.severity == "critical"
    assert alert.occurred_at == datetime(2025, 1, 25, 10, 15, tzinfo=UTC)
    assert alert.labels == {"env": "prod", "rack": "12", "managed": "true", "tool_source": "backup-script",
                            "asset_id": "a1b2c3"}
    assert alert.external_id == "cpu/web-server-01"


def test_batch() -> None:
    alerts = generic.parse(body("batch.json"), {}).alerts
    assert [a.asset_ref for a in alerts] == ["db-01", "db-02", "db-01"]
    assert [a.status for a in alerts] == ["firing", "firing", "acknowledged"]
    assert [a.severity for a in alerts] == ["medium", "low", "critical"]
    assert alerts[0].occurred_at == datetime.fromtimestamp(1737799200, tz=UTC)
    assert alerts[1].occurred_at == datetime(2025, 1, 25, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(("word", "expected"), [("CRITICAL", "critical"), ("Info", "info"), ("warning", "medium"),
                                                ("error", "high"), ("P4", "low")])
def test_severity_words(word: str, expected: str) -> None:
    [alert] = generic.parse(one(severity=word), {}).alerts
    assert alert.severity == expected and alert.original_severity == word


def test_active_means_firing_and_numeric_asset_id() -> None:
    [alert] = generic.parse(one(status="active", asset_id=17, message=""), {}).alerts
    assert alert.status == "firing" and alert.labels["asset_id"] == "17" and alert.message == ""


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"", "not valid JSON"),
        (b"[]", "batch is empty"),
        (b'"alert"', "body must be a JSON object"),
        (b"[1]", r"alert\[0\]: must be a JSON object"),
        (one(asset_name=...), "'asset_name' is required"),
        (one(signature=...), "'signature' is required"),
        (one(tool_source=None), "'tool_source' is required"),
        (one(message=...), "'message' is required"),
        (one(signature=""), "'signature' must not be empty"),
        (one(signature="x" * 501), "'signature' is longer than 500"),
        (one(severity=3), "'severity' must be a string, got int"),
        (one(severity="$ALERT_STATUS"), "'severity' '\\$ALERT_STATUS' is not one of critical, high"),
        (one(severity="ok"), "'severity' 'ok' is not one of"),
        (one(status="closed"), "'status' 'closed' is not one of firing, resolved, acknowledged"),
        (one(timestamp="yesterday"), "'timestamp' 'yesterday' is not an ISO-8601"),
        (one(timestamp=True), "'timestamp' must be an ISO-8601 string"),
        (one(labels=["a"]), "'labels' must be an object"),
        (one(labels={"a": {"b": 1}}), "'labels.a' must be a string, number or boolean"),
        (one(asset_id=1.5), "'asset_id' must be a string"),
        (one(category="Network"), "unknown field\\(s\\) 'category'; allowed: asset_name"),
        (json.dumps([BASE, {**BASE, "severity": "huge"}]).encode(), r"alert\[1\]: 'severity' 'huge'"),
    ],
)
def test_strict_validation_names_the_problem(raw: bytes, problem: str) -> None:
    with pytest.raises(AdapterError, match=problem):
        generic.parse(raw, {})
