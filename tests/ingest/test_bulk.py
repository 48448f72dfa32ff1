"""The writer's SQLite bulk insert stores exactly what SQLAlchemy's insert() stores (same raw values)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, text

from alertwhisperer import models  # noqa: F401  (registers every table)
from alertwhisperer.db import Base
from alertwhisperer.ingest.bulk import insert_rows
from alertwhisperer.ingest.models import Alert, Delivery
from alertwhisperer.jobs.models import Job
from alertwhisperer.tenants.models import Company

AT = datetime(2026, 3, 2, 9, 0, 1, 123456, tzinfo=timezone(timedelta(hours=2)))


def _delivery(i: str, **extra: Any) -> dict[str, Any]:
    return {"id": i, "company_id": "c1", "source": "zabbix", "received_at": AT, "idempotency_key": None,
            "content_type": "application/json", "body": b'{"x": "\xc3\xa9"}', "headers": {"x-a": "1"},
            "alert_ids": ["a", "b"], "control": None, "status": "accepted", "processed_at": None, **extra}


def _alert(i: str, delivery: str) -> dict[str, Any]:  # no labels/url/value keys: their defaults apply
    return {"id": i, "company_id": "c1", "delivery_id": delivery, "position": 0, "source": "zabbix",
            "status": "firing", "severity": "high", "original_severity": "High", "asset_ref": "db-01",
            "signature": "disk", "message": "Disk é 95%", "external_id": None, "occurred_at": AT,
            "received_at": AT.astimezone(UTC)}


def test_same_raw_values_as_sqlalchemy(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    Base.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(Company), [{"id": "c1", "name": "Acme", "slug": "acme", "api_key_hash": "h",
                                        "api_key_prefix": "aw_"}])
        conn.execute(insert(Delivery), [_delivery("d-orm"), _delivery("d-orm2", control={"kind": "sns"})])
        insert_rows(conn, Delivery, [_delivery("d-bulk"), _delivery("d-bulk2", control={"kind": "sns"})])
        conn.execute(insert(Alert), [_alert("a-orm", "d-orm")])
        insert_rows(conn, Alert, [_alert("a-bulk", "d-orm")])
        job = {"kind": "ingest.process", "company_id": "c1", "payload": {"delivery_ids": ["d1", "d2"]},
               "status": "pending", "due_at": AT, "created_at": AT, "attempts": 0, "max_attempts": 8}
        conn.execute(insert(Job), [{**job, "id": "j-orm"}])
        insert_rows(conn, Job, [{**job, "id": "j-bulk"}])
    with engine.connect() as conn:
        for table, pairs in (("deliveries", [("d-orm", "d-bulk"), ("d-orm2", "d-bulk2")]),
                             ("alerts", [("a-orm", "a-bulk")]), ("jobs", [("j-orm", "j-bulk")])):
            for orm_id, bulk_id in pairs:
                rows = {r[0]: r for r in conn.execute(text(f"SELECT * FROM {table} WHERE id IN (:a, :b)"),
                                                      {"a": orm_id, "b": bulk_id})}
                assert rows[orm_id][1:] == rows[bulk_id][1:], table
        raw = conn.execute(text("SELECT received_at, labels, occurred_at FROM alerts WHERE id='a-bulk'")).one()
    assert raw == ("2026-03-02 07:00:01.123456", "{}", "2026-03-02 07:00:01.123456")


def test_alert_fields_are_what_model_dump_gives() -> None:
    """The writer's row values come from the validated models' fields; for every adapter's fixtures they equal
    ``model_dump`` (which they replace because it copies)."""
    from alertwhisperer.errors import DomainError
    from alertwhisperer.ingest import service
    from alertwhisperer.ingest.adapters.base import AdapterError

    fixtures = Path(__file__).parent / "fixtures"
    seen = 0
    for folder in sorted(p for p in fixtures.iterdir() if p.is_dir()):
        for sample in sorted(folder.glob("*.json")):
            try:
                result = service.parse(folder.name, sample.read_bytes(), {"content-type": "application/json"})
            except (AdapterError, DomainError):  # malformed fixtures are there on purpose
                continue
            expected = [a.model_dump(exclude={"delivery_id"}) for a in result.alerts]
            assert service.alert_fields(result) == expected, sample
            seen += len(expected)
    assert seen > 50
