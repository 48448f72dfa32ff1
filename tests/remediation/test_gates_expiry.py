"""Approvals expire 1 hour after the request, checked when someone answers and when the run starts."""

from __future__ import annotations

import pytest

from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.errors import Conflict
from alertwhisperer.remediation import gates, states
from alertwhisperer.remediation.models import Execution
from tests.remediation.test_gates_world import (
    MEDIUM,
    SM,
    World,
    approve,
    audit_actions,
    build,
    execution,
    make_request,
    sm,  # noqa: F401  (fixture)
)

NGINX = {"service": "nginx"}


@pytest.fixture
async def world(sm: SM, settings: Settings, clock: FakeClock) -> World:  # noqa: F811
    return await build(sm, settings, clock)


async def check(sm: SM, settings: Settings, execution_id: str, clock: FakeClock) -> gates.Refusal | None:  # noqa: F811
    async with sm() as s:
        row = await s.get(Execution, execution_id)
        assert row is not None
        return await gates.check_before_run(s, settings=settings, execution=row, now=clock.now())


async def test_approving_after_61_minutes_is_refused_and_marks_it_expired(
    sm: SM,  # noqa: F811
    settings: Settings,
    clock: FakeClock,
    world: World,
) -> None:
    ex = await make_request(sm, settings, clock, world, MEDIUM, params=NGINX, by="tech")
    clock.advance(minutes=61)
    async with sm() as s:
        with pytest.raises(gates.RequestExpired, match="expired") as caught:
            await gates.approve(s, actor=world.who("admin"), clock=clock, execution_id=ex.id)
        assert isinstance(caught.value, Conflict) and caught.value.status_code == 409
        await s.commit()  # the caller keeps the expiry (the API does)
    row = await execution(sm, ex.id)
    assert row.status == states.EXPIRED and "before" in row.status_reason
    assert await audit_actions(sm, ex.id) == ["execution.requested", "execution.expired"]
    with pytest.raises(Conflict, match="expired"):  # and it stays refused
        await approve(sm, clock, world, "msp", ex.id)


async def test_the_deadline_is_exactly_one_hour(
    sm: SM,  # noqa: F811
    settings: Settings,
    clock: FakeClock,
    world: World,
) -> None:
    ex = await make_request(sm, settings, clock, world, MEDIUM, params=NGINX, by="tech")
    clock.advance(minutes=60)
    assert (await approve(sm, clock, world, "admin", ex.id)).status == states.APPROVED
    assert await check(sm, settings, ex.id, clock) is None  # at the deadline itself: still valid


async def test_approved_at_59_minutes_then_run_at_61_is_expired(
    sm: SM,  # noqa: F811
    settings: Settings,
    clock: FakeClock,
    world: World,
) -> None:
    ex = await make_request(sm, settings, clock, world, MEDIUM, params=NGINX, by="tech")
    clock.advance(minutes=59)
    await approve(sm, clock, world, "admin", ex.id, note="ok")
    assert await check(sm, settings, ex.id, clock) is None
    clock.advance(minutes=2)
    refusal = await check(sm, settings, ex.id, clock)
    assert refusal is not None and refusal.status == states.EXPIRED
    assert "expired" in refusal.reason and "1 hour" in refusal.reason
    assert (await execution(sm, ex.id)).status == states.APPROVED  # check_before_run changes nothing


async def test_a_run_without_its_approval_is_refused(
    sm: SM,  # noqa: F811
    settings: Settings,
    clock: FakeClock,
    world: World,
) -> None:
    ex = await make_request(sm, settings, clock, world, MEDIUM, params=NGINX, by="tech")
    refusal = await check(sm, settings, ex.id, clock)
    assert refusal == gates.Refusal(states.CANCELLED, "the request has not been approved; it cannot run")
    clock.advance(minutes=90)
    refusal = await check(sm, settings, ex.id, clock)
    assert refusal is not None and refusal.status == states.EXPIRED


async def test_a_rejected_request_never_runs(
    sm: SM,  # noqa: F811
    settings: Settings,
    clock: FakeClock,
    world: World,
) -> None:
    ex = await make_request(sm, settings, clock, world, MEDIUM, params=NGINX, by="tech")
    async with sm() as s:
        await gates.reject(s, actor=world.who("admin"), clock=clock, execution_id=ex.id, note="not at peak time")
        await s.commit()
    refusal = await check(sm, settings, ex.id, clock)
    assert refusal is not None and refusal.status == states.CANCELLED and "rejected" in refusal.reason
