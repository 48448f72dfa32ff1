"""``alertwhisperer replay``: the exact RESULT.jsonl contract, on SQLite and PostgreSQL, and determinism."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from alertwhisperer.cli import app as cli_app
from alertwhisperer.correlation.models import Incident, IncidentAlert
from alertwhisperer.ingest.models import Alert
from alertwhisperer.tenants.models import Asset, Company
from tests.correlation.replay_data import EXPECTED, TENANTS, generated, handcrafted, write

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
