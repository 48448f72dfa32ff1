"""Demo storm mode: the script (deterministic, real payloads), playing it through ingestion and correlation, and the
``alertwhisperer demo storm`` command."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from alertwhisperer.audit.models import AuditEntry
from alertwhisperer.cli import app as cli_app
from alertwhisperer.clock import FakeClock
from alertwhisperer.correlation.models import Incident
from alertwhisperer.demo import DEMO_TENANTS
from alertwhisperer.demo_storm import NoAssets, Step, StormAsset, build_storm, cast, play, script_for
from alertwhisperer.ingest import adapters
from alertwhisperer.ingest.models import Alert, Delivery
from alertwhisperer.jobs.registry import build_registry
from alertwhisperer.jobs.worker import Worker
from alertwhisperer.tenants.importer import import_tenants
from alertwhisperer.tenants.models import Company

SM = async_sessionmaker[AsyncSession]
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def alerts_in(steps: list[Step]) -> int:
    """How many alerts the real adapters read from these deliveries."""
    total = 0
    for step in steps:
        adapter = adapters.get(step.source)
        assert adapter is not None
        total += len(adapter.parse(step.body, step.headers).alerts)
    return total


def demo_assets(slug: str) -> list[StormAsset]:
    company: dict[str, Any] = next(c for c in DEMO_TENANTS["companies"] if c["slug"] == slug)
    return [StormAsset(name=a["name"], type=a.get("type", "server"), ip=a.get("ip"), fqdn=a.get("fqdn"),
                       instance_id=a.get("instance_id"), critical=a.get("critical", False),
                       depends_on=tuple(a.get("depends_on", [])), tags=a.get("tags", {}))
            for a in company["assets"]]


@pytest.mark.parametrize("slug", ["acme-dental", "globex"])
def test_the_script_is_deterministic_and_every_delivery_parses_with_the_real_adapter(slug: str) -> None:
    assets = demo_assets(slug)
    script = build_storm(slug, assets, seed=7, start=START)
    assert script == build_storm(slug, assets, seed=7, start=START)
    assert [s.body for s in script.steps] != [s.body for s in build_storm(slug, assets, seed=8, start=START).steps]
    assert {"alertmanager", "zabbix", "datadog", "grafana", "uptime-kuma", "nagios"} <= set(script.sources)
    assert [s.at for s in script.steps] == sorted(s.at for s in script.steps)
    assert script.steps[0].at >= 0 and script.steps[-1].at <= script.duration
    statuses: Counter[str] = Counter()
    refs: set[str] = set()
    for step in script.steps:
        adapter = adapters.get(step.source)
        assert adapter is not None
        result = adapter.parse(step.body, step.headers)  # raises on anything the real tool would not send
        assert result.alerts and result.control is None, step.title
        for alert in result.alerts:
            statuses[alert.status] += 1
            refs.add(alert.asset_ref or "")
            assert alert.occurred_at is None or abs((alert.occurred_at - START).total_seconds()) <= script.duration
    assert statuses["firing"] >= 15 and statuses["resolved"] >= 8
    names = {a.name for a in assets}
    assert any(r in names for r in refs) and any(":" in r for r in refs)  # names and ip:port references
    bodies = Counter(s.body for s in script.steps)
    assert any(n > 1 for n in bodies.values()), "retried deliveries send the same bytes again"
    early = {a.asset_ref for s in script.steps if s.at <= script.duration * 3 / 90
             for a in adapters.get(s.source).parse(s.body, s.headers).alerts}  # type: ignore[union-attr]
    assert len(early) >= 4, f"the blip: several hosts down within seconds, {early}"
    kuma = [s for s in script.steps if s.source == "uptime-kuma" and s.payload().get("heartbeat")]
    assert len(kuma) >= 5, "a flapping service"


def test_the_script_scales_to_the_duration_and_casts_the_topology() -> None:
    assets = demo_assets("acme-dental")
    short = build_storm("acme-dental", assets, seed=1, start=START, duration=9)
    long = build_storm("acme-dental", assets, seed=1, start=START, duration=90)
    assert len(short.steps) == len(long.steps)
    assert short.steps[-1].at <= 9 < long.steps[-1].at
    parts = cast(assets)
    assert (parts.edge and parts.edge.name, parts.db.name) == ("acme-fw-01", "acme-db-01")
    assert (parts.app and parts.app.name, parts.web and parts.web.name) == ("acme-app-01", "acme-web-01")
    assert [a.name for a in parts.blip] == ["acme-db-01"]  # app and web show the disk's effects later
    assert (parts.flappy.name, parts.cert.name) == ("acme-nas-01", "acme-web-01")


def test_any_company_with_assets_gets_a_storm_and_one_without_gets_a_clear_error() -> None:
    lone = [StormAsset(name="solo-01")]
    script = build_storm("solo", lone, seed=3, start=START, duration=5)
    for step in script.steps:
        adapter = adapters.get(step.source)
        assert adapter is not None and adapter.parse(step.body, step.headers).alerts
    with pytest.raises(NoAssets, match="no assets"):
        build_storm("empty", [], seed=3, start=START)


async def _demo_company(sm: SM, clock: FakeClock, slug: str = "acme-dental") -> Company:
    async with sm() as s:
        await import_tenants(s, clock=clock, data=DEMO_TENANTS)
        await s.commit()
        company = (await s.execute(select(Company).where(Company.slug == slug))).scalar_one()
        s.expunge(company)
        return company


async def test_a_played_storm_is_stored_and_correlates_into_a_few_incidents(
        sessionmaker: SM, clock: FakeClock) -> None:
    company = await _demo_company(sessionmaker, clock)
    async with sessionmaker() as s:  # the default 90 s storm, played 90 times faster
        script = await script_for(s, company=company, clock=clock, seed=11)
    lines: list[str] = []
    worker = Worker(sessionmaker, build_registry(), clock)

    def at_step(i: int) -> None:
        clock.set(script.start + timedelta(seconds=script.steps[min(i, len(script.steps) - 1)].at))

    async def on_step(i: int, step: Step, accepted: object) -> None:
        """The inbox worker correlates each delivery as it lands (as in a live demo), at the step's time."""
        lines.append(step.title)
        await worker.run_until_idle()
        at_step(i + 1)

    at_step(0)
    began = time.monotonic()
    progress = await play(sessionmaker, clock=clock, company_id=company.id, script=script, on_step=on_step,
                          speed=90)
    assert time.monotonic() - began >= 0.8  # spaced in real time
    assert progress.finished and progress.error is None and progress.sent == len(script.steps) == len(lines)
    retries = [s for s in script.steps if "sender retry" in s.title]
    async with sessionmaker() as s:
        stored = (await s.execute(select(func.count()).select_from(Alert)
                                  .where(Alert.company_id == company.id))).scalar_one()
        deliveries = (await s.execute(select(func.count()).select_from(Delivery)
                                      .where(Delivery.company_id == company.id))).scalar_one()
    assert progress.retried == len(retries) >= 1  # a sender retry (same notification id) is not stored twice
    assert deliveries == len(script.steps) - progress.retried
    assert stored == progress.alerts == alerts_in(list(script.steps)) - alerts_in(retries)

    async with sessionmaker() as s:
        incidents = list((await s.execute(select(Incident).where(Incident.company_id == company.id))).scalars())
        outcomes = Counter((await s.execute(select(Alert.outcome).where(Alert.company_id == company.id))).scalars())
    assert None not in outcomes, outcomes  # every alert was correlated
    assert outcomes["duplicate"] >= 1 and outcomes["resolved"] >= 5
    summary = [(i.title, i.alert_count, i.tools) for i in incidents]
    assert 3 <= len(incidents) <= stored // 5, summary  # far fewer incidents than alerts
    assert len([i for i in incidents if len(i.tools) >= 2]) >= 2, summary  # the same problems seen by several tools
    by_symptom = {i.symptom: i for i in incidents}
    disk = by_symptom["disk"]
    assert disk.root_asset_name == "acme-db-01" and len(disk.tools) >= 3, summary  # its effects joined it
    assert {"zabbix", "alertmanager", "datadog", "grafana"} <= set(disk.tools), summary
    assert by_symptom["network"].alert_count >= 4, summary  # the blip: several hosts down within seconds
    assert "certificate" in by_symptom, summary  # an unrelated symptom on a busy asset opens its own incident
    assert any(i.flapping for i in incidents), summary


async def cli(*args: str) -> tuple[int, str]:
    result = await asyncio.to_thread(CliRunner().invoke, cli_app, list(args))
    return result.exit_code, result.stdout + result.stderr


@pytest.fixture
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in [k for k in os.environ if k.startswith("ALERTWHISPERER_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("ALERTWHISPERER_DATA_DIR", str(tmp_path / "data"))


@pytest.mark.usefixtures("_isolated_env")
async def test_cli_storm_on_an_unknown_company_exits_2(db_url: str) -> None:
    code, out = await cli("demo", "storm", "--company", "no-such-co", "--db", db_url)
    assert code == 2, out
    assert "no company with slug 'no-such-co'" in out


@pytest.mark.usefixtures("_isolated_env")
async def test_cli_plays_a_storm_into_the_database(db_url: str, db: AsyncSession, tmp_path: Path) -> None:
    tenants = tmp_path / "tenants.json"
    tenants.write_text(json.dumps({"companies": [
        {"name": "Empty Co", "slug": "empty-co", "assets": []}, *DEMO_TENANTS["companies"]]}))
    code, out = await cli("import", str(tenants), "--db", db_url)
    assert code == 0, out
    code, out = await cli("demo", "storm", "--company", "empty-co", "--db", db_url)
    assert code == 2 and "has no assets" in out, out
    code, out = await cli("demo", "storm", "--company", "globex", "--duration", "4", "--speed", "4",
                          "--seed", "5", "--db", db_url)
    assert code == 0, out
    assert "Zabbix" in out and "Alertmanager" in out and "deliveries" in out
    db.expunge_all()
    globex = (await db.execute(select(Company.id).where(Company.slug == "globex"))).scalar_one()
    stored = (await db.execute(select(func.count()).select_from(Alert).where(Alert.company_id == globex))).scalar_one()
    audited = [(e.company_id, e.details["via"]) for e in (await db.execute(
        select(AuditEntry).where(AuditEntry.action == "demo.storm_started"))).scalars()]
    await db.rollback()  # never hold SQLite's write lock while a command runs
    assert stored >= 25
    assert audited == [(globex, "cli")]
