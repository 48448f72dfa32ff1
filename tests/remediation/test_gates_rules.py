"""The approval rule table (issue #6 §3): who may approve what, self-approval, auto-run policy, scope."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.errors import Forbidden, Invalid, NotFound
from alertwhisperer.jobs.models import Job
from alertwhisperer.remediation import gates, hooks, states
from alertwhisperer.remediation.models import Approval
from alertwhisperer.remediation.policy import APPROVAL_TTL, RemediationPolicy
from tests.remediation.test_gates_world import (
    HIGH,
    LOW,
    LOW_AUTO,
    MEDIUM,
    SM,
    World,
    approve,
    audit_actions,
    build,
    execution,
    make_request,
    notified,
    set_policy,
    sm,  # noqa: F401  (fixture)
)

REF = {
    "asset_id": "a1",
    "executor": "ssh",
    "host": "10.0.0.5",
    "port": 22,
    "instance_id": "",
    "region": "",
    "os": "linux",
    "sudo": False,
    "username": "ops",
}


def test_binding_hash_is_canonical_and_covers_every_part() -> None:
    base = gates.binding_hash(runbook_version_id="v1", spec_hash="s1", params={"a": 1, "b": "x"}, target_ref=REF)
    reordered = gates.binding_hash(
        runbook_version_id="v1", spec_hash="s1", params={"b": "x", "a": 1}, target_ref=dict(reversed(list(REF.items())))
    )
    assert base == reordered and len(base) == 64
    variants = [
        gates.binding_hash(runbook_version_id="v2", spec_hash="s1", params={"a": 1, "b": "x"}, target_ref=REF),
        gates.binding_hash(runbook_version_id="v1", spec_hash="s2", params={"a": 1, "b": "x"}, target_ref=REF),
        gates.binding_hash(runbook_version_id="v1", spec_hash="s1", params={"a": 2, "b": "x"}, target_ref=REF),
        gates.binding_hash(runbook_version_id="v1", spec_hash="s1", params={"a": "1", "b": "x"}, target_ref=REF),
        gates.binding_hash(
            runbook_version_id="v1", spec_hash="s1", params={"a": 1, "b": "x"}, target_ref={**REF, "host": "10.0.0.6"}
        ),
    ]
    assert len({base, *variants}) == 6


def test_approval_rule_table() -> None:
    on, off = RemediationPolicy(), RemediationPolicy(auto_run=False)
    assert gates.approval_rule("low", True, on) == (False, "")
    assert gates.approval_rule("low", True, off) == (True, "company_admin")
    assert gates.approval_rule("low", False, on) == (True, "company_admin")
    assert gates.approval_rule("medium", False, on) == (True, "company_admin")
    assert gates.approval_rule("medium", False, off) == (True, "company_admin")
    assert gates.approval_rule("high", False, on) == (True, "msp_admin")


@pytest.fixture
async def world(sm: SM, settings: Settings, clock: FakeClock) -> World:  # noqa: F811
    return await build(sm, settings, clock)


async def _execute_jobs(sm: SM, execution_id: str) -> list[Job]:  # noqa: F811
    async with sm() as s:
        return list(
            (
                await s.execute(
                    select(Job).where(Job.kind == hooks.EXECUTE_JOB, Job.dedup_key == f"execute:{execution_id}")
                )
            ).scalars()
        )


async def test_low_auto_approve_runs_without_an_approval(
    sm: SM,  # noqa: F811
    settings: Settings,
    clock: FakeClock,
    world: World,
) -> None:
    ex = await make_request(sm, settings, clock, world, LOW_AUTO)
    assert (ex.status, ex.approval_required, ex.approver_role, ex.expires_at) == (states.QUEUED, False, "", None)
    assert ex.requested_by_id is None and ex.requested_by_name == "system" and ex.trigger == "auto"
    assert ex.runbook_slug == LOW_AUTO and ex.risk == "low" and ex.asset_name == "web-01"
    assert ex.params == {"journal_max_size": "500M", "max_percent": 90}  # defaults applied and typed
    assert ex.target["asset_id"] == world.asset_a and ex.target["executor"] == "local"
    assert len(await _execute_jobs(sm, ex.id)) == 1
    assert await audit_actions(sm, ex.id) == ["execution.requested"]
    assert await notified(sm, world) == {}
    with pytest.raises(NotFound):  # nothing to approve
        await approve(sm, clock, world, "admin", ex.id)


async def test_a_technicians_manual_request_follows_the_same_table(
    sm: SM,  # noqa: F811
    settings: Settings,
    clock: FakeClock,
    world: World,
) -> None:
    low = await make_request(sm, settings, clock, world, LOW_AUTO, by="tech")
    assert low.status == states.QUEUED and low.trigger == "manual" and low.requested_by_id == world.ids["tech"]
    medium = await make_request(sm, settings, clock, world, MEDIUM, by="tech", params={"service": "nginx"})
    assert medium.status == states.PENDING_APPROVAL and medium.approver_role == "company_admin"
    assert medium.expires_at == clock.now() + APPROVAL_TTL
    assert await _execute_jobs(sm, medium.id) == []


async def test_policy_without_auto_run_needs_an_approval_for_low_risk(
    sm: SM,  # noqa: F811
    settings: Settings,
    clock: FakeClock,
    world: World,
) -> None:
    await set_policy(sm, world.a.id, auto_run=False)
    ex = await make_request(sm, settings, clock, world, LOW_AUTO)
    assert (ex.status, ex.approval_required, ex.approver_role) == (states.PENDING_APPROVAL, True, "company_admin")
    assert await _execute_jobs(sm, ex.id) == []


# (slug, params, auto_run) -> who may approve; everyone else is refused (403, or 404 outside their scope)
CASES = {
    "low+auto, policy off": (LOW_AUTO, {}, False, {"admin", "msp"}),
    "low without auto": (LOW, {}, True, {"admin", "msp"}),
    "medium": (MEDIUM, {"service": "nginx"}, True, {"admin", "msp"}),
    "high": (HIGH, {}, True, {"msp"}),
}
EXPECTED_REFUSAL = {"tech": Forbidden, "admin_b": NotFound, "admin": Forbidden, "msp": Forbidden}


@pytest.mark.parametrize("case", list(CASES))
async def test_who_may_approve(
    case: str,
    sm: SM,  # noqa: F811
    settings: Settings,
    clock: FakeClock,
    world: World,
) -> None:
    slug, params, auto_run, allowed = CASES[case]
    await set_policy(sm, world.a.id, auto_run=auto_run)
    for who in ("tech", "admin_b", "admin", "msp"):
        ex = await make_request(sm, settings, clock, world, slug, params=params, by="tech2")
        assert ex.status == states.PENDING_APPROVAL
        if who in allowed:
            done = await approve(sm, clock, world, who, ex.id, note="go")
            assert done.status == states.APPROVED, who
            async with sm() as s:
                row = (await s.execute(select(Approval).where(Approval.execution_id == ex.id))).scalar_one()
            assert (row.decision, row.user_id, row.role, row.note) == (
                "approved",
                world.ids[who],
                world.who(who).role.value,
                "go",
            )
            assert row.binding_hash == ex.binding_hash
            assert len(await _execute_jobs(sm, ex.id)) == 1
        else:
            with pytest.raises(EXPECTED_REFUSAL[who]):
                await approve(sm, clock, world, who, ex.id)
            assert (await execution(sm, ex.id)).status == states.PENDING_APPROVAL, who


async def test_nobody_approves_their_own_request(
    sm: SM,  # noqa: F811
    settings: Settings,
    clock: FakeClock,
    world: World,
) -> None:
    medium = await make_request(sm, settings, clock, world, MEDIUM, by="admin", params={"service": "nginx"})
    with pytest.raises(Forbidden, match="nobody approves their own request"):
        await approve(sm, clock, world, "admin", medium.id)
    high = await make_request(sm, settings, clock, world, HIGH, by="msp")
    with pytest.raises(Forbidden, match="nobody approves their own request"):
        await approve(sm, clock, world, "msp", high.id)
    assert (await approve(sm, clock, world, "admin2", medium.id)).status == states.APPROVED
    assert (await approve(sm, clock, world, "msp2", high.id)).status == states.APPROVED


async def test_an_auto_request_has_no_requester_so_any_rightful_approver_may(
    sm: SM,  # noqa: F811
    settings: Settings,
    clock: FakeClock,
    world: World,
) -> None:
    ex = await make_request(sm, settings, clock, world, MEDIUM, params={"service": "nginx"})
    assert ex.requested_by_id is None
    assert (await approve(sm, clock, world, "admin", ex.id)).status == states.APPROVED


async def test_requests_stay_inside_the_company(
    sm: SM,  # noqa: F811
    settings: Settings,
    clock: FakeClock,
    world: World,
) -> None:
    async with sm() as s:
        from tests.remediation.test_gates_world import version_id

        vid = await version_id(s, world.a.id, LOW_AUTO)
        with pytest.raises(NotFound):  # company B's asset for a company A request
            await gates.request(
                s,
                clock=clock,
                settings=settings,
                company_id=world.a.id,
                runbook_version_id=vid,
                params={},
                asset_id=world.asset_b,
                actor=None,
                trigger="auto",
            )
        with pytest.raises(NotFound):  # a technician outside company B
            await gates.request(
                s,
                clock=clock,
                settings=settings,
                company_id=world.b.id,
                runbook_version_id=vid,
                params={},
                asset_id=world.asset_b,
                actor=world.who("tech"),
                trigger="manual",
            )
        high = await version_id(s, world.a.id, HIGH)
        with pytest.raises(NotFound):  # company A's own runbook does not exist for company B
            await gates.request(
                s,
                clock=clock,
                settings=settings,
                company_id=world.b.id,
                runbook_version_id=high,
                params={},
                asset_id=world.asset_b,
                actor=None,
                trigger="auto",
            )
        with pytest.raises(Invalid, match="journal_max_size"):
            await gates.request(
                s,
                clock=clock,
                settings=settings,
                company_id=world.a.id,
                runbook_version_id=vid,
                params={"journal_max_size": "lots; rm -rf /"},
                asset_id=world.asset_a,
                actor=None,
                trigger="auto",
            )
