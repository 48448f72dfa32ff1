"""Correlating from a read snapshot, then writing (``correlate_deliveries(reader=...)``), on SQLite and PostgreSQL.

The inbox decides on what a read session saw and holds the write lock only to store the decisions. These tests
check that this gives exactly what the all-in-one-transaction path gives, and that when another process commits
correlation work for the same company in between, nothing is lost or doubled: the company is redone under lock.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.clock import FakeClock
from alertwhisperer.correlation import service, store
from alertwhisperer.correlation.models import Incident, IncidentAlert
from alertwhisperer.db import read_session
from alertwhisperer.ingest.models import Alert
from tests.auth.helpers import cheap_argon2  # noqa: F401  (autouse fixture)
from tests.correlation.replay_data import am, zabbix
from tests.correlation.test_service import acme, now, post  # noqa: F401  (fixture)
from tests.factories import MadeCompany

SM = async_sessionmaker[AsyncSession]


async def _delivery_of(sessionmaker: SM, alert_id: str) -> str:
    async with sessionmaker() as s:
        return str(await s.scalar(select(Alert.delivery_id).where(Alert.id == alert_id)))


async def _summary(sessionmaker: SM, company_id: str) -> tuple[list[tuple[str, int]], list[int | None], int]:
    async with sessionmaker() as s:
        incidents = [(i.symptom, i.alert_count) for i in (await s.execute(
            select(Incident).where(Incident.company_id == company_id).order_by(Incident.first_seen))).scalars()]
        seqs = list((await s.execute(select(Alert.correlation_seq).where(Alert.company_id == company_id)
                                     .order_by(Alert.correlation_seq))).scalars())
        links = int(await s.scalar(select(func.count()).select_from(IncidentAlert)
                                   .where(IncidentAlert.company_id == company_id)) or 0)
    return incidents, seqs, links


async def test_planned_path_stores_what_it_decided(app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM,
                                                   clock: FakeClock, acme: MadeCompany) -> None:  # noqa: F811
    a = await post(client, acme, "alertmanager", am("NodeFilesystemAlmostOutOfSpace", "10.1.0.5:9100",
                                                   fingerprint="f1", at=now(clock)))
    clock.advance(seconds=20)
    b = await post(client, acme, "zabbix", zabbix("Disk space is low on /", "DB-01", event_id="z1", at=now(clock)))
    deliveries = [await _delivery_of(sessionmaker, a[0]), await _delivery_of(sessionmaker, b[0])]
    store.clear_cache()
    async with sessionmaker() as session, read_session(session.bind) as reader:
        decisions = await service.correlate_deliveries(session, now=clock.now(), delivery_ids=deliveries,
                                                       reader=reader)
        await session.commit()
    assert [d.kind for d in decisions] == ["new_incident", "correlated"]
    incidents, seqs, links = await _summary(sessionmaker, acme.id)
    assert incidents == [("disk", 2)] and seqs == [1, 2] and links == 2
    async with sessionmaker() as s:  # the alert rows were read by the reader, written by id in the session
        rows = (await s.execute(select(Alert).where(Alert.company_id == acme.id))).scalars().all()
    assert {r.outcome for r in rows} == {"new_incident", "correlated"}
    assert all(r.incident_id for r in rows) and sum(1 for r in rows if r.opened_incident_id) == 1


async def test_log_moved_meanwhile_redoes_under_lock(app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM,
                                                     clock: FakeClock, acme: MadeCompany,  # noqa: F811
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    first = await post(client, acme, "alertmanager", am("NodeFilesystemAlmostOutOfSpace", "10.1.0.5:9100",
                                                       fingerprint="f1", at=now(clock)))
    clock.advance(seconds=20)
    second = await post(client, acme, "zabbix", zabbix("Disk space is low on /", "DB-01", event_id="z1",
                                                      at=now(clock)))
    d1, d2 = await _delivery_of(sessionmaker, first[0]), await _delivery_of(sessionmaker, second[0])
    store.clear_cache()
    real_claim = store.claim
    raced: list[int] = []

    async def claim_after_a_rival(session: AsyncSession, company_id: str) -> int:
        """Another process correlates delivery 1 and commits just before we take the company's row."""
        if not raced:
            raced.append(1)
            ours = store._locks.pop(company_id)  # the rival is another process: its own locks and memory
            async with sessionmaker() as rival:
                await service.correlate_deliveries(rival, now=clock.now(), delivery_ids=[d1])
                await rival.commit()
            store._locks[company_id] = ours
            store.forget(company_id)
        return await real_claim(session, company_id)

    monkeypatch.setattr(store, "claim", claim_after_a_rival)
    async with sessionmaker() as session, read_session(session.bind) as reader:
        decisions = await service.correlate_deliveries(session, now=clock.now(), delivery_ids=[d1, d2],
                                                       reader=reader)
        await session.commit()
    assert raced
    assert [d.kind for d in decisions] == ["correlated"]  # only delivery 2 was left to do
    incidents, seqs, links = await _summary(sessionmaker, acme.id)
    assert incidents == [("disk", 2)] and seqs == [1, 2] and links == 2  # nothing lost, nothing twice


def test_snapshots_are_rate_limited_in_a_storm(monkeypatch: pytest.MonkeyPatch) -> None:
    """A snapshot (the whole state as JSON, written under the write lock) at most every 30 s per company,
    unless 20,000 calls have passed; the first one at once."""
    from alertwhisperer.correlation import Tenant, TenantState

    entry = store.Entry((), Tenant.build("c1"), TenantState("c1"), 0)
    entry.state.calls = 1
    assert store.snapshot_due(entry)  # never written
    clock = [1000.0]
    monkeypatch.setattr(store.time, "monotonic", lambda: clock[0])
    entry.snapshot_calls, entry.snapshot_at = 1, 1000.0
    entry.state.calls = 1 + store.SNAPSHOT_EVERY
    assert not store.snapshot_due(entry)  # 500 calls, but only just written
    clock[0] += store.SNAPSHOT_MIN_SECONDS
    assert store.snapshot_due(entry)
    clock[0] = 1000.0
    entry.state.calls = 1 + store.SNAPSHOT_MAX_BEHIND
    assert store.snapshot_due(entry)  # too far behind: replaying the log on a restart would take too long
