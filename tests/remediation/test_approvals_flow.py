"""Approve and reject: the one answer per request, notes, notifications to the right people, audit entries."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from alertwhisperer.audit.models import AuditEntry
from alertwhisperer.auth.models import User
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.errors import Conflict, Invalid
from alertwhisperer.remediation import approvals, gates, states
from alertwhisperer.remediation.models import Approval
from tests.remediation.test_gates_world import (
    HIGH,
    MEDIUM,
    SM,
    World,
    approve,
    audit_actions,
    build,
    execution,
    make_request,
    notified,
    sm,  # noqa: F401  (fixture)
)

NGINX = {"service": "nginx"}


@pytest.fixture
async def world(sm: SM, settings: Settings, clock: FakeClock) -> World:  # noqa: F811
    return await build(sm, settings, clock)


async def reject(sm: SM, clock: FakeClock, w: World, who: str, execution_id: str, note: str) -> None:  # noqa: F811
    async with sm() as s:
        await gates.reject(s, actor=w.who(who), clock=clock, execution_id=execution_id, note=note)
        await s.commit()


async def test_medium_request_notifies_company_admins_and_msp_admins(
    sm: SM,  # noqa: F811
    settings: Settings,
    clock: FakeClock,
    world: World,
) -> None:
    ex = await make_request(sm, settings, clock, world, MEDIUM, params=NGINX, by="tech")
    got = await notified(sm, world)
    assert set(got) == {"admin", "admin2", "msp", "msp2"}  # not the technicians, not company B's admin
    assert got["admin"] == [f"Approval needed: “{ex.runbook_title}” v1 on web-01"]


async def test_high_request_notifies_msp_admins_only_and_skips_requester(
    sm: SM,  # noqa: F811
    settings: Settings,
    clock: FakeClock,
    world: World,
) -> None:
    await make_request(sm, settings, clock, world, HIGH, by="msp")
    assert set(await notified(sm, world)) == {"msp2"}


async def test_inactive_approvers_are_not_notified(
    sm: SM,  # noqa: F811
    settings: Settings,
    clock: FakeClock,
    world: World,
) -> None:
    async with sm() as s:
        user = await s.get(User, world.ids["admin2"])
        assert user is not None
        user.is_active = False
        await s.commit()
    await make_request(sm, settings, clock, world, MEDIUM, params=NGINX, by="admin")
    assert set(await notified(sm, world)) == {"msp", "msp2"}  # admin asked, admin2 inactive


async def test_approve_once_then_conflict_and_requester_told(
    sm: SM,  # noqa: F811
    settings: Settings,
    clock: FakeClock,
    world: World,
) -> None:
    ex = await make_request(sm, settings, clock, world, MEDIUM, params=NGINX, by="tech")
    clock.advance(minutes=3)
    done = await approve(sm, clock, world, "admin", ex.id, note="  maintenance window  ")
    assert done.status == states.APPROVED and done.status_reason.endswith("maintenance window")
    with pytest.raises(Conflict, match="already approved by"):
        await approve(sm, clock, world, "msp", ex.id)
    with pytest.raises(Conflict, match="already approved"):
        async with sm() as s:
            await gates.reject(s, actor=world.who("msp"), clock=clock, execution_id=ex.id, note="no")
    async with sm() as s:
        rows = list((await s.execute(select(Approval).where(Approval.execution_id == ex.id))).scalars())
        assert len(rows) == 1 and rows[0].note == "maintenance window" and rows[0].at == clock.now()
        entry = (await s.execute(select(AuditEntry).where(AuditEntry.action == "execution.approved"))).scalar_one()
        assert entry.actor_id == world.ids["admin"] and entry.company_id == world.a.id
        assert entry.details["note"] == "maintenance window" and entry.details["binding_hash"] == ex.binding_hash
    assert (await notified(sm, world))["tech"] == [f"Run approved: “{ex.runbook_title}” v1 on web-01"]
    assert await audit_actions(sm, ex.id) == ["execution.requested", "execution.approved"]


async def test_reject_needs_a_note_and_cancels(
    sm: SM,  # noqa: F811
    settings: Settings,
    clock: FakeClock,
    world: World,
) -> None:
    ex = await make_request(sm, settings, clock, world, MEDIUM, params=NGINX, by="tech")
    with pytest.raises(Invalid, match="say why"):
        await reject(sm, clock, world, "admin", ex.id, "   ")
    await reject(sm, clock, world, "admin", ex.id, "not during business hours")
    row = await execution(sm, ex.id)
    assert row.status == states.CANCELLED and "not during business hours" in row.status_reason
    async with sm() as s:
        answer = (await s.execute(select(Approval).where(Approval.execution_id == ex.id))).scalar_one()
        assert (answer.decision, answer.user_id) == ("rejected", world.ids["admin"])
    assert (await notified(sm, world))["tech"] == [f"Run rejected: “{ex.runbook_title}” v1 on web-01"]
    assert await audit_actions(sm, ex.id) == ["execution.requested", "execution.rejected"]
    with pytest.raises(Conflict):
        await approve(sm, clock, world, "msp", ex.id)


async def test_inbox_shows_what_each_viewer_may_answer(
    sm: SM,  # noqa: F811
    settings: Settings,
    clock: FakeClock,
    world: World,
) -> None:
    medium = await make_request(sm, settings, clock, world, MEDIUM, params=NGINX, by="tech")
    high = await make_request(sm, settings, clock, world, HIGH, by="admin")
    async with sm() as s:

        def ids(views: list[approvals.RequestView]) -> list[str]:
            return [v.execution.id for v in views]

        now = clock.now()
        assert ids(await approvals.list_requests(s, actor=world.who("msp"), now=now)) == [medium.id, high.id]
        admin = await approvals.list_requests(s, actor=world.who("admin"), now=now)
        assert ids(admin) == [medium.id, high.id] and [v.mine for v in admin] == [False, True]
        assert [v.can_decide for v in admin] == [True, False]
        assert "own request" in admin[1].why_not
        tech = await approvals.list_requests(s, actor=world.who("tech"), now=now)
        assert ids(tech) == [medium.id] and tech[0].mine and not tech[0].can_decide
        assert await approvals.list_requests(s, actor=world.who("admin_b"), now=now) == []
        assert await approvals.list_requests(s, actor=world.who("tech2"), now=now) == []
        admin2 = await approvals.list_requests(s, actor=world.who("admin2"), now=now)
        assert ids(admin2) == [medium.id]  # the high-risk one is not theirs to answer
        clock.advance(minutes=61)
        later = clock.now()
        assert await approvals.list_requests(s, actor=world.who("msp"), now=later) == []
        decided = await approvals.list_requests(s, actor=world.who("msp"), now=later, status="decided")
        assert {v.execution.id: v.status for v in decided} == {medium.id: "expired", high.id: "expired"}
        view = await approvals.get_request(s, actor=world.who("msp"), execution_id=medium.id, now=later)
        assert view.expired and not view.can_decide and view.why_not == "this request expired"
