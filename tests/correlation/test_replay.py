"""``alertwhisperer replay``: the exact RESULT.jsonl contract, on SQLite and PostgreSQL, and determinism."""

from __future__ import annotations

import asyncio
import json
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from alertwhisperer import migrate
from alertwhisperer.cli import app as cli_app
from alertwhisperer.config import Settings
from alertwhisperer.correlation import replay_state, snapshot, store
from alertwhisperer.correlation.engine import correlate
from alertwhisperer.correlation.models import CorrelationState, Incident, IncidentAlert
from alertwhisperer.correlation.replay_io import parse_line
from alertwhisperer.correlation.state import TenantState
from alertwhisperer.db import make_engine, make_sessionmaker
from alertwhisperer.ingest.models import Alert
from alertwhisperer.tenants.models import Asset, Company
from tests.correlation.replay_data import EXPECTED, TENANTS, generated, handcrafted, iso, line, write

KEYS = ["line", "index", "alert_id", "incident_id", "outcome", "reason"]


async def replay(tmp_path: Path, tenants: dict[str, Any], lines: list[str], *extra: str,
                 out: str = "result.jsonl") -> tuple[list[dict[str, Any]], str, bytes]:
    alerts, tenants_path = write(tmp_path, tenants, lines)
    result = tmp_path / out
    run = await asyncio.to_thread(CliRunner().invoke, cli_app, ["replay", str(alerts), "--tenants",
                                                                 str(tenants_path), "--out", str(result), *extra])
    assert run.exit_code == 0, run.stdout + run.stderr + repr(run.exception)
    raw = result.read_bytes()
    return [json.loads(x) for x in raw.decode().splitlines()], run.stdout, raw


async def test_replay_follows_the_contract_and_writes_the_database(db_url: str, db: AsyncSession,
                                                                   tmp_path: Path) -> None:
    rows, out, _ = await replay(tmp_path, TENANTS, handcrafted(), "--db", db_url)
    assert all(list(r) == KEYS for r in rows)
    assert [(r["line"], r["index"]) for r in rows] == [(n, 0) for n in range(len(EXPECTED))]
    assert {r["line"]: r["outcome"] for r in rows} == EXPECTED
    by_line = {r["line"]: r for r in rows}
    disk = by_line[0]["incident_id"]
    assert disk and by_line[1]["incident_id"] == disk
    assert by_line[2]["incident_id"] == disk and by_line[2]["alert_id"] == by_line[0]["alert_id"]  # retried
    assert by_line[3]["incident_id"] == disk and by_line[8]["incident_id"] == disk
    assert by_line[7]["incident_id"] not in (None, disk)
    for n in (4, 5, 6, 10):
        assert by_line[n]["incident_id"] is None and by_line[n]["reason"]
    assert "unknown company 'nobody'" in by_line[4]["reason"]
    assert "alerts: 11" in out and "rejected: 4" in out and "incidents: 3" in out
    assert "noise reduction: 57.1%" in out and "alerts/s" in out
    # The database holds what the run decided.
    companies = {c.slug: c.id for c in (await db.execute(select(Company))).scalars()}
    incidents = {i.id: i for i in (await db.execute(select(Incident))).scalars()}
    assert set(incidents) == {disk, by_line[7]["incident_id"], by_line[9]["incident_id"]}
    assert incidents[disk].company_id == companies["acme"] and incidents[disk].tools == ["alertmanager", "zabbix"]
    assert incidents[by_line[7]["incident_id"]].company_id == companies["beta"]
    alerts = {a.id: a for a in (await db.execute(select(Alert))).scalars()}
    assert len(alerts) == 6  # rejected and retried lines store no alerts
    assert alerts[by_line[1]["alert_id"]].outcome == "correlated" and alerts[by_line[1]["alert_id"]].incident_id == disk
    links = (await db.execute(select(IncidentAlert).where(IncidentAlert.incident_id == disk))).scalars().all()
    assert len(links) == 4 and all(link.explanation["rule"] for link in links)
    discovered = (await db.execute(select(Asset.name).where(Asset.discovered.is_(True)))).scalars().all()
    assert discovered == ["mystery-07"]


async def test_replay_on_a_throwaway_database_is_deterministic(tmp_path: Path) -> None:
    tenants, lines = generated(600)
    first, out, raw1 = await replay(tmp_path, tenants, lines, out="one.jsonl")
    _, _, raw2 = await replay(tmp_path, tenants, lines, out="two.jsonl")
    assert raw1 == raw2
    assert len(first) == 600 and "noise reduction" in out
    # No incident spans two companies; duplicates and resolves never open one.
    company_of: dict[str, str] = {}
    slugs = [json.loads(x)["company"] for x in lines]
    opened = {r["incident_id"] for r in first if r["outcome"] == "new_incident"}
    for r in first:
        if r["incident_id"] is not None:
            assert company_of.setdefault(r["incident_id"], slugs[r["line"]]) == slugs[r["line"]]
            assert r["incident_id"] in opened or r["outcome"] in ("correlated", "duplicate", "resolved")
    assert {r["outcome"] for r in first} >= {"new_incident", "correlated", "duplicate", "resolved"}


async def test_an_adapter_rejecting_a_line_gives_one_rejected_row(tmp_path: Path) -> None:
    lines = [json.dumps({"company": "acme", "source": "alertmanager", "received_at": "2024-02-01T06:00:00Z",
                         "body": {"alerts": "not a list"}})]
    rows, _, _ = await replay(tmp_path, TENANTS, lines)
    assert len(rows) == 1 and rows[0]["outcome"] == "rejected" and rows[0]["index"] == 0
    assert rows[0]["incident_id"] is None and "alertmanager" in rows[0]["reason"]


def hashed(count: int, *, companies: int = 5, hosts: int = 40) -> list[str]:
    """Generic alerts without an id of their own (identities hashed over the asset), firing and resolving."""
    out = []
    for n in range(count):
        c, h = n % companies, (n * 7) % hosts
        sig = ("disk_space_low", "cpu_high", "service_down")[n % 3]
        body = {"asset_name": f"host-{h:03d}", "signature": sig, "severity": "high", "message": f"{sig} on it",
                "tool_source": "scripts", "status": "resolved" if n % 4 == 3 else "firing", "timestamp": iso(n * 5)}
        out.append(line(f"co{c}", "generic", n * 5 + 1, body))
    return out


def merged(a: list[str], b: list[str]) -> list[str]:
    """Both streams in arrival order."""
    return sorted(a + b, key=lambda x: json.loads(x)["received_at"])


def state_fields(state: TenantState) -> dict[str, Any]:
    return {f.name: getattr(state, f.name) for f in fields(state) if f.name != "id_factory"}


async def test_replay_stores_the_state_a_server_would_rebuild_from_the_log(db_url: str, db: AsyncSession,
                                                                            tmp_path: Path) -> None:
    """The snapshot is the replay's state keyed by asset id, as the service keys it: equal to the state the
    service's own code rebuilds from the alert log (``correlation_seq``), and what ``store.checkout`` serves."""
    tenants, lines = generated(300)
    _, out, _ = await replay(tmp_path, tenants, merged(lines, hashed(120)), "--db", db_url)
    assert "no snapshot" not in out
    store.clear_cache()
    companies = (await db.execute(select(Company).order_by(Company.slug))).scalars().all()
    assert len(companies) == 5
    for company in companies:
        row = await db.get(CorrelationState, company.id)
        assert row is not None
        tenant = await store.build_tenant(db, company)
        holder: list[str | None] = [None]
        rebuilt = TenantState(company.id, id_factory=lambda holder=holder: holder[0] or "unexpected")
        log = (await db.execute(select(Alert).where(Alert.company_id == company.id, Alert.correlation_seq.is_not(
            None)).order_by(Alert.correlation_seq))).scalars().all()
        assert log and [a.correlation_seq for a in log] == list(range(1, len(log) + 1))
        for alert in log:
            holder[0] = alert.opened_incident_id
            correlate(store.alert_in(alert), rebuilt, tenant=tenant, now=alert.received_at, alert_id=alert.id)
        assert row.calls == rebuilt.calls == len(log)
        assert any(i.startswith("h:") for i in rebuilt.alerts)
        assert any(a in tenant.assets.assets for a in rebuilt.by_asset)  # keyed by asset id
        stored = snapshot.load(row.data, id_factory=lambda: "unused")
        assert state_fields(stored) == state_fields(rebuilt)
        entry = await store.checkout(db, company)  # the server path: the snapshot, nothing left to catch up
        assert state_fields(entry.state) == state_fields(rebuilt)
    await db.rollback()


def test_every_state_field_is_described_for_the_snapshot_translation() -> None:
    """A new field of the correlation state must say what it holds (asset keys, identities, grouping keys)."""
    assert replay_state.unknown_fields() == []


@pytest.mark.parametrize("text", [
    '{"company": "a", "source": "s", "received_at": "x", "body": {"k": [1, 2.5e3, "\\u00e9", null]}}',
    '  {"body" : "raw text" ,"company":"a"}  ',
    '{"company": "a", "body": {"x": 1}, "body": [true]}',
    '{"company": "a"}',
    '{}',
])
def test_a_line_is_read_as_json_loads_reads_it(text: str) -> None:
    item, body = parse_line(text)
    expected = json.loads(text)
    assert item == expected
    value = expected.get("body")
    assert body == value.encode() if isinstance(value, str) else json.loads(body) == value


@pytest.mark.parametrize("text", ["[1, 2]", "{broken json", '{"a": 1} tail', '{"a" 1}', "nul"])
def test_a_bad_line_fails_as_json_loads_fails(text: str) -> None:
    try:
        json.loads(text)
    except ValueError as exc:
        expected: Exception | None = exc
    else:
        expected = None
    if expected is None:
        item, _ = parse_line(text)
        assert not isinstance(item, dict)
        return
    with pytest.raises(ValueError, match="^" + str(expected).replace("(", r"\(").replace(")", r"\)") + "$"):
        parse_line(text)


async def test_the_bulk_tenant_import_stores_what_the_importer_stores(db: AsyncSession) -> None:
    from alertwhisperer.clock import SystemClock
    from alertwhisperer.correlation.replay_tenants import import_for_replay
    from alertwhisperer.tenants.importer import import_tenants
    from alertwhisperer.tenants.models import AssetDependency

    tenants, _ = generated(10, companies=2, hosts=12)
    tenants["companies"][0]["assets"][0] |= {"fqdn": "host-000.co0.internal", "critical": True, "type": "database",
                                             "tags": {"env": "prod"}, "instance_id": "i-0abc"}
    await import_for_replay(db, tenants)  # empty database: the bulk path
    copy = json.loads(json.dumps(tenants))
    for c in copy["companies"]:
        c["slug"] = "x" + c["slug"]
    await import_tenants(db, clock=SystemClock(), data=copy)
    companies = {c.slug: c.id for c in (await db.execute(select(Company))).scalars()}
    names = {a.id: a.name for a in (await db.execute(select(Asset))).scalars()}

    async def described(slug: str) -> tuple[Any, Any]:
        assets = (await db.execute(select(Asset).where(Asset.company_id == companies[slug]).order_by(Asset.name))
                  ).scalars().all()
        deps = (await db.execute(select(AssetDependency).where(AssetDependency.company_id == companies[slug]))
                ).scalars().all()
        return ([(a.name, a.type, a.ip, a.fqdn, a.instance_id, a.tags, a.critical, a.discovered) for a in assets],
                sorted((names[d.asset_id], names[d.depends_on_id]) for d in deps))

    for slug in ("co0", "co1"):
        bulk, imported = await described(slug), await described("x" + slug)
        assert bulk == imported and bulk[1]
    await db.rollback()


async def test_tenants_the_bulk_import_cannot_judge_get_the_importers_error(tmp_path: Path) -> None:
    tenants = {"companies": [{"name": "Acme", "slug": "acme", "assets": [
        {"name": "a", "depends_on": ["b"]}, {"name": "b", "depends_on": ["a"]}]}]}
    alerts, tenants_path = write(tmp_path, tenants, handcrafted()[:1])
    run = await asyncio.to_thread(CliRunner().invoke, cli_app, ["replay", str(alerts), "--tenants", str(tenants_path),
                                                                 "--out", str(tmp_path / "r.jsonl")])
    assert run.exit_code == 1 and "dependency cycle" in run.stderr


async def test_a_replay_split_over_two_processes_gives_the_same_result_and_database(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Companies are correlated in two processes (``replay_split``): byte-identical RESULT.jsonl, same rows."""
    tenants, lines = generated(500)
    lines = merged(lines, hashed(80))
    lines.insert(7, json.dumps({"source": "generic", "company": "co1", "received_at": iso(30), "body": {}}))
    lines.insert(9, "{broken json")
    results, databases = [], []
    for workers in ("1", "2"):
        monkeypatch.setenv("AW_REPLAY_WORKERS", workers)
        url = f"sqlite+aiosqlite:///{tmp_path / f'w{workers}.db'}"
        await asyncio.to_thread(migrate.upgrade, Settings(database_url=url, data_dir=tmp_path))
        rows, out, raw = await replay(tmp_path, tenants, lines, "--db", url, out=f"w{workers}.jsonl")
        assert "no snapshot" not in out and f"processes: {workers}" in out
        results.append(raw)
        engine = make_engine(url)
        async with make_sessionmaker(engine)() as s:
            slugs = {c.id: c.slug for c in (await s.execute(select(Company))).scalars()}
            alerts = sorted((a.id, slugs[a.company_id], a.outcome, a.incident_id, a.correlation_seq)
                            for a in (await s.execute(select(Alert))).scalars())
            incidents = sorted((i.id, i.status, i.alert_count, i.merged_into)
                               for i in (await s.execute(select(Incident))).scalars())
            links = len((await s.execute(select(IncidentAlert))).scalars().all())
            states = sorted((slugs[r.company_id], r.calls, len(r.data["alerts"]["$m"]))
                            for r in (await s.execute(select(CorrelationState))).scalars())
        await engine.dispose()
        databases.append((alerts, incidents, links, states))
        assert len(rows) > 500 and any(r["outcome"] == "rejected" for r in rows)
    assert results[0] == results[1]
    assert databases[0] == databases[1]


def test_rows_are_bound_exactly_as_sqlalchemy_binds_them() -> None:
    """The replay's own parameter binding (faster JSON and datetime text) equals SQLAlchemy's processors'."""
    from datetime import UTC, datetime, timedelta, timezone

    from sqlalchemy.dialects import sqlite

    from alertwhisperer import dbrows
    from alertwhisperer.correlation import replay_io

    dialect = sqlite.dialect()
    table = Alert.__table__
    at = datetime(2026, 3, 2, 6, 0, 1, 250, tzinfo=UTC)
    values = [{"occurred_at": None, "labels": {}}, {"occurred_at": at, "labels": {"é": "ü", "n": "1"}},
              {"occurred_at": at.astimezone(timezone(timedelta(hours=-5))), "labels": {"a": "\n\"x\""}},
              {"occurred_at": datetime(999, 1, 1, tzinfo=UTC), "labels": {"k": "v"}}]
    rows = [{c.name: None for c in table.c} | v for v in values]
    _, order, _ = dbrows.statement(dialect, table)  # type: ignore[arg-type]
    real = [None if name == "body" else table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in order]
    expected = [tuple(p(r[n]) if p else r[n] for n, p in zip(order, real, strict=True)) for r in rows]
    assert replay_io.bind(dialect, table, rows) == expected  # type: ignore[arg-type]
