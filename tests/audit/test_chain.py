"""The hash chain: append-only by trigger, tamper and gap detection on both backends, concurrent appends."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.audit import service as audit
from alertwhisperer.audit.chain import entry_hash
from alertwhisperer.audit.models import AuditEntry
from alertwhisperer.auth.principal import Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from tests.factories import bearer, login, make_company, make_user

SM = async_sessionmaker[AsyncSession]


async def _log_some(db: AsyncSession, clock: FakeClock, n: int = 5) -> None:
    for i in range(n):
        clock.advance(seconds=1)
        await audit.record(db, clock=clock, action="test.event", company_id=None, target_type="thing",
                           target_id=str(i), details={"i": i, "note": "ünïcode ✓"})
    await db.commit()


async def _disable_guard(db: AsyncSession) -> None:
    """What an attacker with database access does first."""
    if db.get_bind().dialect.name == "postgresql":
        await db.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
    else:
        await db.execute(text("DROP TRIGGER audit_log_no_update"))
        await db.execute(text("DROP TRIGGER audit_log_no_delete"))
    await db.commit()


async def test_a_normal_log_verifies(db: AsyncSession, clock: FakeClock) -> None:
    assert (await audit.verify_chain(db)).ok  # empty
    await _log_some(db, clock, 7)
    report = await audit.verify_chain(db)
    assert report.ok and report.checked == 7 and report.first_broken_seq is None
    small_batches = await audit.verify_chain(db, batch=2)
    assert small_batches.ok and small_batches.checked == 7


@pytest.mark.parametrize("statement", [
    "UPDATE audit_log SET details = '{}' WHERE seq = 2",
    "DELETE FROM audit_log WHERE seq = 2",
])
async def test_the_table_is_append_only(db: AsyncSession, clock: FakeClock, statement: str) -> None:
    await _log_some(db, clock)
    with pytest.raises(DBAPIError, match="append-only"):
        await db.execute(text(statement))
    await db.rollback()
    assert (await audit.verify_chain(db)).ok


async def test_a_modified_entry_is_named(db: AsyncSession, clock: FakeClock) -> None:
    await _log_some(db, clock)
    await _disable_guard(db)
    new_details = '{"i": 99, "note": "edited"}'
    await db.execute(text("UPDATE audit_log SET details = :d WHERE seq = 3"), {"d": new_details})
    await db.commit()
    db.expunge_all()
    report = await audit.verify_chain(db)
    assert not report.ok
    assert report.first_broken_seq == 3
    assert report.checked == 2
    assert "modified" in (report.problem or "")


async def test_rehashing_a_modified_entry_breaks_the_next_link(db: AsyncSession, clock: FakeClock) -> None:
    """An attacker who also recomputes the edited entry's hash is caught by the next entry's link."""
    await _log_some(db, clock)
    await _disable_guard(db)
    e = (await db.execute(select(AuditEntry).where(AuditEntry.seq == 2))).scalar_one()
    forged = entry_hash(seq=e.seq, at=e.at, actor_id=e.actor_id, actor_email=e.actor_email,
                        actor_role=e.actor_role, company_id=e.company_id, action="test.forged",
                        target_type=e.target_type, target_id=e.target_id, details=e.details, ip=e.ip,
                        user_agent=e.user_agent, prev_hash=e.prev_hash)
    await db.execute(text("UPDATE audit_log SET action = 'test.forged', hash = :h WHERE seq = 2"), {"h": forged})
    await db.commit()
    db.expunge_all()
    report = await audit.verify_chain(db)
    assert report.first_broken_seq == 3
    assert "link" in (report.problem or "")


async def test_a_deleted_middle_entry_is_a_gap(db: AsyncSession, clock: FakeClock) -> None:
    await _log_some(db, clock)
    await _disable_guard(db)
    await db.execute(text("DELETE FROM audit_log WHERE seq = 3"))
    await db.commit()
    db.expunge_all()
    report = await audit.verify_chain(db)
    assert not report.ok
    assert report.first_broken_seq == 4
    assert "gap" in (report.problem or "") and "expected entry 3" in (report.problem or "")


async def test_verify_over_the_api_reports_the_broken_entry(client: httpx.AsyncClient, sessionmaker: SM,
                                                            settings: Settings, clock: FakeClock) -> None:
    async with sessionmaker() as s:
        msp = await make_user(s, settings, clock, Role.MSP_ADMIN)
        await make_company(s, clock, "Acme")
    h = bearer(await login(client, msp))
    assert (await client.get("/api/audit/verify", headers=h)).json() == {
        "ok": True, "checked": 3, "first_broken_seq": None, "problem": None}
    async with sessionmaker() as s:
        await _disable_guard(s)
        await s.execute(text("UPDATE audit_log SET ip = '10.6.6.6' WHERE seq = 2"))
        await s.commit()
    report = (await client.get("/api/audit/verify", headers=h)).json()
    assert report["ok"] is False and report["first_broken_seq"] == 2


async def _assert_gap_free(sm: SM, expected: int) -> None:
    async with sm() as s:
        seqs = list((await s.execute(select(AuditEntry.seq).order_by(AuditEntry.seq))).scalars())
        assert seqs == list(range(1, expected + 1))
        report = await audit.verify_chain(s)
    assert report.ok, report


async def test_concurrent_appends_keep_the_chain(client: httpx.AsyncClient, sessionmaker: SM,
                                                 settings: Settings, clock: FakeClock) -> None:
    async with sessionmaker() as s:
        msp = await make_user(s, settings, clock, Role.MSP_ADMIN)
    h = bearer(await login(client, msp))
    results = await asyncio.gather(*[
        client.post("/api/companies", json={"name": f"Parallel {i}"}, headers=h) for i in range(20)])
    assert [r.status_code for r in results] == [201] * 20
    logins = await asyncio.gather(*[
        client.post("/api/auth/login", json={"email": msp, "password": "Wrong-Password-1" if i % 2 else
                                             "Correct-Horse-Battery-42"}) for i in range(6)])
    assert sorted(r.status_code for r in logins) == [200, 200, 200, 401, 401, 401]
    await _assert_gap_free(sessionmaker, 2 + 20 + 6)  # user.created, auth.login, 20 companies, 6 logins


async def test_concurrent_sessions_appending_directly(sessionmaker: SM, clock: FakeClock) -> None:
    async def append(i: int) -> None:
        async with sessionmaker() as s:
            await audit.record(s, clock=clock, action="test.parallel", details={"i": i})
            await asyncio.sleep(0)  # let the others run while this transaction is open
            await s.commit()

    await asyncio.gather(*[append(i) for i in range(20)])
    await _assert_gap_free(sessionmaker, 20)
    async with sessionmaker() as s:
        count = (await s.execute(select(func.count()).select_from(AuditEntry))).scalar_one()
    assert count == 20
