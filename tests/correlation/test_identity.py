"""Alert identity: the tool's id namespaced by source, else a hash that ignores volatile labels."""

from __future__ import annotations

from alertwhisperer.correlation.identity import alert_identity, stable_labels


def test_tool_ids_are_namespaced_by_source() -> None:
    a = alert_identity(source="Alertmanager", external_id="5ef7", signature="x", asset_key="db", labels={})
    b = alert_identity(source="zabbix", external_id="5ef7", signature="x", asset_key="db", labels={})
    assert a == "alertmanager:5ef7" and b == "zabbix:5ef7"


def test_hash_ignores_values_timestamps_and_state_words() -> None:
    base = {"alertname": "Disk", "mountpoint": "/", "value": "91", "state": "ALARM", "startsAt": "t1",
            "event_time": "10:21", "count": "3"}
    repeat = {**base, "value": "97", "state": "OK", "startsAt": "t2", "event_time": "10:25", "count": "9"}
    one = alert_identity(source="generic", external_id=None, signature="Disk  full", asset_key="db", labels=base)
    two = alert_identity(source="generic", external_id=None, signature="disk full", asset_key="db", labels=repeat)
    assert one == two and one.startswith("h:generic:")
    assert stable_labels(base) == [("alertname", "Disk"), ("mountpoint", "/")]


def test_hash_distinguishes_asset_signature_labels_and_source() -> None:
    args = {"source": "generic", "external_id": None, "signature": "Disk full", "asset_key": "db",
            "labels": {"mountpoint": "/"}}
    base = alert_identity(**args)  # type: ignore[arg-type]
    assert alert_identity(**{**args, "asset_key": "app"}) != base  # type: ignore[arg-type]
    assert alert_identity(**{**args, "signature": "CPU"}) != base  # type: ignore[arg-type]
    assert alert_identity(**{**args, "labels": {"mountpoint": "/var"}}) != base  # type: ignore[arg-type]
    assert alert_identity(**{**args, "source": "nagios"}) != base  # type: ignore[arg-type]
    assert alert_identity(**{**args, "external_id": "  "}) == base  # type: ignore[arg-type]
