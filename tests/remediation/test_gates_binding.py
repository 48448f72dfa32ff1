"""An approval is bound to the exact runbook version, parameters and target: a change between approval and run
refuses the run and says what changed."""

from __future__ import annotations

import pytest

from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.remediation import gates, runbooks, states
from alertwhisperer.remediation import spec as specs
from alertwhisperer.remediation.models import AssetAccess, Execution, Runbook, RunbookVersion
from tests.remediation.test_gates_world import (
    LOW_AUTO,
    MEDIUM,
    SM,
    World,
    approve,
    build,
    make_request,
    set_policy,
    sm,  # noqa: F401  (fixture)
)

NGINX = {"service": "nginx"}


@pytest.fixture
async def world(sm: SM, settings: Settings, clock: FakeClock) -> World:  # noqa: F811
    return await build(sm, settings, clock)


async def approved(sm: SM, settings: Settings, clock: FakeClock, w: World) -> Execution:  # noqa: F811
    ex = await make_request(sm, settings, clock, w, MEDIUM, params=NGINX, by="tech")
    await approve(sm, clock, w, "admin", ex.id, note="fine")
    return ex


async def check(sm: SM, settings: Settings, execution_id: str, clock: FakeClock) -> gates.Refusal | None:  # noqa: F811
    async with sm() as s:
        row = await s.get(Execution, execution_id)
        assert row is not None
        return await gates.check_before_run(s, settings=settings, execution=row, now=clock.now())


async def test_unchanged_request_may_run(
    sm: SM,  # noqa: F811
    settings: Settings,
    clock: FakeClock,
    world: World,
) -> None:
    ex = await approved(sm, settings, clock, world)
    clock.advance(minutes=5)
    assert await check(sm, settings, ex.id, clock) is None


async def test_a_new_runbook_version_refuses_the_run(
    sm: SM,  # noqa: F811
    settings: Settings,
    clock: FakeClock,
    world: World,
) -> None:
    ex = await approved(sm, settings, clock, world)
    async with sm() as s:
        book = await s.get(Runbook, ex.runbook_id)
        assert book is not None
        _, spec = await runbooks.get_version(s, version_id=ex.runbook_version_id)
        _, changed = await runbooks.update(
            s,
            actor=world.who("msp"),
            clock=clock,
            runbook_id=book.id,
            yaml_text=yaml_with_new_description(spec),
            note="clearer description",
        )
        assert changed
        await s.commit()
    refusal = await check(sm, settings, ex.id, clock)
    assert refusal == gates.Refusal(states.CANCELLED, "approval no longer matches: version changed")


def yaml_with_new_description(spec: specs.RunbookSpec) -> str:
    return specs.dump_yaml(spec.model_copy(update={"description": spec.description + " Edited."}))


async def test_a_company_override_refuses_the_run(
    sm: SM,  # noqa: F811
    settings: Settings,
    clock: FakeClock,
    world: World,
) -> None:
    ex = await approved(sm, settings, clock, world)
    async with sm() as s:
        _, spec = await runbooks.get_version(s, version_id=ex.runbook_version_id)
        await runbooks.create(
            s, actor=world.who("admin"), clock=clock, company_id=world.a.id, yaml_text=yaml_with_new_description(spec)
        )
        await s.commit()
    refusal = await check(sm, settings, ex.id, clock)
    assert refusal == gates.Refusal(states.CANCELLED, "approval no longer matches: version changed")


async def test_a_disabled_runbook_refuses_the_run(
    sm: SM,  # noqa: F811
    settings: Settings,
    clock: FakeClock,
    world: World,
) -> None:
    ex = await approved(sm, settings, clock, world)
    async with sm() as s:
        await runbooks.set_enabled(s, actor=world.who("msp"), clock=clock, runbook_id=ex.runbook_id, enabled=False)
        await s.commit()
    refusal = await check(sm, settings, ex.id, clock)
    assert refusal is not None and refusal.status == states.CANCELLED and "disabled" in refusal.reason


async def test_a_version_edited_behind_the_services_back_refuses_the_run(sm: SM, settings: Settings,  # noqa: F811
                                                                         clock: FakeClock, world: World) -> None:
    ex = await approved(sm, settings, clock, world)
    async with sm() as s:
        version = await s.get(RunbookVersion, ex.runbook_version_id)
        assert version is not None
        tampered = dict(version.spec)
        tampered["steps"] = {"linux": [{"name": "Worse", "run": "rm -rf /srv/data", "shell": "sh"}]}
        version.spec = tampered  # same row, same id, same recorded hash: only the content differs
        await s.commit()
    refusal = await check(sm, settings, ex.id, clock)
    assert refusal == gates.Refusal(states.CANCELLED, "approval no longer matches: version changed")


async def test_tampered_parameters_refuse_the_run(
    sm: SM,  # noqa: F811
    settings: Settings,
    clock: FakeClock,
    world: World,
) -> None:
    ex = await approved(sm, settings, clock, world)
    async with sm() as s:
        row = await s.get(Execution, ex.id)
        assert row is not None
        row.params = {**row.params, "service": "sshd"}
        await s.commit()
    refusal = await check(sm, settings, ex.id, clock)
    assert refusal == gates.Refusal(states.CANCELLED, "approval no longer matches: parameters changed")


async def test_tampered_parameters_with_a_recomputed_hash_still_refuse(
    sm: SM,  # noqa: F811
    settings: Settings,
    clock: FakeClock,
    world: World,
) -> None:
    ex = await approved(sm, settings, clock, world)
    async with sm() as s:
        row = await s.get(Execution, ex.id)
        assert row is not None
        version, _ = await runbooks.get_version(s, version_id=row.runbook_version_id)
        row.params = {**row.params, "service": "sshd"}
        row.binding_hash = gates.binding_hash(
            runbook_version_id=version.id, spec_hash=version.spec_hash, params=row.params, target_ref=row.target
        )
        await s.commit()
    refusal = await check(sm, settings, ex.id, clock)  # the approval row still holds the hash it approved
    assert refusal == gates.Refusal(states.CANCELLED, "approval no longer matches: parameters changed")


async def test_a_changed_target_refuses_the_run(
    sm: SM,  # noqa: F811
    settings: Settings,
    clock: FakeClock,
    world: World,
) -> None:
    ex = await approved(sm, settings, clock, world)
    async with sm() as s:
        access = await s.get(AssetAccess, world.asset_a)
        assert access is not None
        access.host = "10.9.9.9"
        await s.commit()
    refusal = await check(sm, settings, ex.id, clock)
    assert refusal == gates.Refusal(states.CANCELLED, "approval no longer matches: target changed")


async def test_a_target_that_cannot_be_reached_any_more(
    sm: SM,  # noqa: F811
    settings: Settings,
    clock: FakeClock,
    world: World,
) -> None:
    ex = await approved(sm, settings, clock, world)
    async with sm() as s:
        access = await s.get(AssetAccess, world.asset_a)
        await s.delete(access)
        await s.commit()
    refusal = await check(sm, settings, ex.id, clock)
    assert refusal is not None and refusal.status == states.CANCELLED
    assert refusal.reason.startswith("the target can no longer be reached: no remote access is configured")


async def test_queued_runs_are_bound_too(
    sm: SM,  # noqa: F811
    settings: Settings,
    clock: FakeClock,
    world: World,
) -> None:
    ex = await make_request(sm, settings, clock, world, LOW_AUTO)
    assert await check(sm, settings, ex.id, clock) is None
    async with sm() as s:
        row = await s.get(Execution, ex.id)
        assert row is not None
        row.params = {**row.params, "max_percent": 99}
        await s.commit()
    assert await check(sm, settings, ex.id, clock) == gates.Refusal(
        states.CANCELLED, "request no longer matches: parameters changed"
    )


async def test_policy_forbidding_auto_run_stops_a_queued_run(
    sm: SM,  # noqa: F811
    settings: Settings,
    clock: FakeClock,
    world: World,
) -> None:
    ex = await make_request(sm, settings, clock, world, LOW_AUTO)
    await set_policy(sm, world.a.id, auto_run=False)
    refusal = await check(sm, settings, ex.id, clock)
    assert refusal is not None and refusal.status == states.CANCELLED and "policy" in refusal.reason
