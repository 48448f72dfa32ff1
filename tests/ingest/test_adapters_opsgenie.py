"""Opsgenie outgoing webhook adapter."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from alertwhisperer.ingest.adapters import opsgenie
from alertwhisperer.ingest.adapters.base import AdapterError

FIXTURES = Path(__file__).parent / "fixtures" / "opsgenie"


def parse(name: str) -> list:
    return opsgenie.parse((FIXTURES / name).read_bytes(), {}).alerts


def test_create() -> None:
    [alert] = parse("create.json")
    assert (alert.status, alert.severity, alert.original_severity) == ("firing", "medium", None)
    assert alert.signature == "test alert"  # leading space of the verbatim example trimmed
    assert alert.external_id == "aliastest"
    assert alert.asset_ref == "fili@ifountain.com"  # entity is empty: the source
    assert alert.delivery_id == "052652ac-5d1c-464a-812a-7dd18bbfba8c:Create:1420452193166002000"
    assert alert.occurred_at == datetime(2015, 1, 5, 10, 3, 11, 104000, tzinfo=UTC)  # createdAt (ms)
    assert alert.labels == {"tag1": "", "tag2": "", "teams": "team1,team2", "tinyId": "23",
                            "alertId": "052652ac-5d1c-464a-812a-7dd18bbfba8c", "integration": "Integration1"}


def test_close_uses_nanosecond_updated_at() -> None:
    [alert] = parse("close.json")
    assert (alert.status, alert.external_id) == ("resolved", "aliastest")
    assert alert.occurred_at == datetime(2015, 1, 5, 10, 3, 44, 764002, tzinfo=UTC)
    assert alert.delivery_id == "052652ac-5d1c-464a-812a-7dd18bbfba8c:Close:1420452224764002246"


def test_acknowledge() -> None:
    [alert] = parse("acknowledge.json")
    assert (alert.status, alert.external_id) == ("acknowledged", "aliastest")


def test_note_changes_nothing() -> None:
    assert parse("addnote.json") == []


def test_create_with_priority_entity_details() -> None:
    [alert] = parse("create-with-details.json")
    assert (alert.severity, alert.original_severity) == ("critical", "P1")
    assert alert.asset_ref == "db-02"
    assert alert.message == "Replica db-02 is 412s behind the primary."
    assert alert.labels["env"] == "prod" and alert.labels["lag_seconds"] == "412"
    assert alert.external_id == "zabbix-31337"


def test_alert_id_when_there_is_no_alias() -> None:
    body = b'{"action": "Create", "alert": {"message": "m", "alertId": "abc", "priority": "P4"}}'
    [alert] = opsgenie.parse(body, {}).alerts
    assert (alert.external_id, alert.severity, alert.delivery_id) == ("abc", "low", None)


@pytest.mark.parametrize(("body", "message"), [
    (b'{"alert": {}}', "action must be a string"),
    (b'{"action": "Create"}', "alert must be a JSON object"),
    (b'{"action": "Create", "alert": {"alertId": "x"}}', "alert.message is missing"),
    (b'{"action": "Create", "alert": {"message": "m", "tags": "a,b"}}', "alert.tags must be a list of strings"),
    (b'{"action": "Create", "alert": {"message": "m", "details": []}}', "alert.details must be an object"),
    (b'{"action": "Close", "alert": {"message": ["m"]}}', "alert.message must be a string"),
])
def test_malformed(body: bytes, message: str) -> None:
    with pytest.raises(AdapterError, match=message):
        opsgenie.parse(body, {})
