"""Runbooks as a service on both backends: built-in sync, versions, overrides, enable/disable, delete, rights, audit."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.audit.models import AuditEntry
from alertwhisperer.auth.models import User
from alertwhisperer.auth.principal import Principal, Role
from alertwhisperer.auth.service import principal_for
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.errors import Conflict, Forbidden, NotFound
from alertwhisperer.remediation import library
from alertwhisperer.remediation import runbooks as service
from alertwhisperer.remediation.models import Execution, Runbook, RunbookVersion
from alertwhisperer.remediation.spec import SpecError, spec_hash
from tests.auth.helpers import cheap_argon2  # noqa: F401  (autouse fixture)
from tests.factories import make_asset, make_company, make_user

OWN = """name: acme-special
title: Acme special fix
risk: medium
trigger:
  symptoms: [disk]
steps:
  linux:
    - name: Fix
      run: echo fixed
"""


def override_of(slug: str, title: str = "Company nginx restart") -> str:
    return f"""name: {slug}
title: {title}
risk: low
auto_approve: true
trigger:
  symptoms: ["service_down:nginx"]
steps:
  linux:
    - name: Restart
      run: systemctl restart nginx
"""


@dataclass
class World:
    acme: str
    globex: str
    msp: Principal
    admin: Principal
    tech: Principal
    other_admin: Principal


async def _principal(db: AsyncSession, email: str) -> Principal:
    user = (await db.execute(select(User).where(User.email == email))).scalar_one()
    return await principal_for(db, user)


@pytest.fixture
async def world(db: AsyncSession, settings: Settings, clock: FakeClock) -> World:
    acme = await make_company(db, clock, "Acme")
    globex = await make_company(db, clock, "Globex")
    emails = [
        await make_user(db, settings, clock, Role.MSP_ADMIN),
        await make_user(db, settings, clock, Role.COMPANY_ADMIN, [acme.id]),
        await make_user(db, settings, clock, Role.TECHNICIAN, [acme.id]),
        await make_user(db, settings, clock, Role.COMPANY_ADMIN, [globex.id]),
    ]
    people = [await _principal(db, e) for e in emails]
    await db.commit()
    return World(acme.id, globex.id, *people)


async def test_effective_set_syncs_builtins_on_an_empty_database(
    db: AsyncSession, world: World, clock: FakeClock
) -> None:
    assert await db.scalar(select(func.count()).select_from(Runbook)) == 0
    effective = await service.effective_for_company(db, company_id=world.acme, clock=clock)
    shipped = library.shipped()
    assert len(shipped) >= 20
    assert {e.runbook.slug for e in effective} == set(shipped)
    assert all(e.runbook.builtin and not e.overridden and e.version.version == 1 for e in effective)
    nginx = next(e for e in effective if e.runbook.slug == "restart-nginx")
    assert nginx.spec.risk == "low" and nginx.version.spec_hash == spec_hash(nginx.spec)
    assert nginx.version.author_name == library.BUILTIN_AUTHOR and nginx.version.yaml == shipped["restart-nginx"].text
    await db.commit()
    # A second call (and an explicit sync) change nothing.
    assert await library.sync_builtins(db, clock=clock) == 0
    assert await db.scalar(select(func.count()).select_from(Runbook)) == len(shipped)
    synced = (await db.scalars(select(AuditEntry).where(AuditEntry.action == "runbook.builtins_synced"))).all()
    assert len(synced) == 1 and len(synced[0].details["created"]) == len(shipped)


async def test_create_edit_versions_and_noop(db: AsyncSession, world: World, clock: FakeClock) -> None:
    runbook = await service.create(
        db, actor=world.admin, clock=clock, yaml_text=OWN, company_id=world.acme, note="first"
    )
    await db.commit()
    assert runbook.scope == world.acme and runbook.current_version == 1 and runbook.risk == "medium"
    clock.advance(minutes=5)
    same_meaning = "# a comment only\n" + OWN
    again, changed = await service.update(
        db, actor=world.admin, clock=clock, runbook_id=runbook.id, yaml_text=same_meaning
    )
    assert not changed and again.current_version == 1
    edited = OWN.replace("risk: medium", "risk: high").replace("echo fixed", "echo fixed better")
    again, changed = await service.update(
        db, actor=world.admin, clock=clock, runbook_id=runbook.id, yaml_text=edited, note="harder"
    )
    await db.commit()
    assert changed and again.current_version == 2 and again.risk == "high"
    versions = await service.versions_of(db, actor=world.tech, runbook_id=runbook.id)
    assert [v.version for v in versions] == [2, 1]
    old = await service.version_of(db, actor=world.tech, runbook_id=runbook.id, version=1)
    assert old.yaml == OWN and old.note == "first" and old.author_id == world.admin.user_id
    version, spec = await service.get_version(db, version_id=old.id)
    assert version.id == old.id and spec.risk == "medium"
    with pytest.raises(NotFound):
        await service.get_version(db, version_id="0" * 32)
    # The name cannot change; the problem points at its line.
    with pytest.raises(SpecError) as info:
        await service.update(
            db,
            actor=world.admin,
            clock=clock,
            runbook_id=runbook.id,
            yaml_text=edited.replace("acme-special", "acme-renamed"),
        )
    assert info.value.problems[0]["line"] == 1 and info.value.problems[0]["field"] == "name"
    actions = [
        a
        for (a,) in (
            await db.execute(
                select(AuditEntry.action).where(AuditEntry.target_id == runbook.id).order_by(AuditEntry.seq)
            )
        ).all()
    ]
    assert actions == ["runbook.created", "runbook.updated"]
    with pytest.raises(Conflict, match="already has a runbook named"):
        await service.create(db, actor=world.admin, clock=clock, yaml_text=OWN, company_id=world.acme)


async def test_company_override_replaces_library_runbook_and_delete_restores_it(
    db: AsyncSession, world: World, clock: FakeClock
) -> None:
    override = await service.create(
        db, actor=world.admin, clock=clock, yaml_text=override_of("restart-nginx"), company_id=world.acme
    )
    await db.commit()
    acme = {e.runbook.slug: e for e in await service.effective_for_company(db, company_id=world.acme)}
    globex = {e.runbook.slug: e for e in await service.effective_for_company(db, company_id=world.globex)}
    assert acme["restart-nginx"].runbook.id == override.id and acme["restart-nginx"].overridden
    assert acme["restart-nginx"].spec.title == "Company nginx restart"
    assert globex["restart-nginx"].runbook.builtin and not globex["restart-nginx"].overridden
    assert len(acme) == len(globex)
    library_row = await service.library_counterpart(db, override)
    assert library_row is not None and library_row.id == globex["restart-nginx"].runbook.id
    assert [c.id for c in await service.companies_overriding(db, actor=world.msp, runbook=library_row)] == [world.acme]
    assert await service.companies_overriding(db, actor=world.other_admin, runbook=library_row) == []
    # Disabling the override hides the runbook for Acme only.
    await service.set_enabled(db, actor=world.admin, clock=clock, runbook_id=override.id, enabled=False)
    await db.commit()
    assert "restart-nginx" not in {
        e.runbook.slug for e in await service.effective_for_company(db, company_id=world.acme)
    }
    listed = await service.listing(db, actor=world.tech, clock=clock, company_id=world.acme, q="nginx")
    assert [e.runbook.id for e in listed if e.runbook.slug == "restart-nginx"] == [override.id]
    await service.delete(db, actor=world.admin, clock=clock, runbook_id=override.id)
    await db.commit()
    acme = {e.runbook.slug: e for e in await service.effective_for_company(db, company_id=world.acme)}
    assert acme["restart-nginx"].runbook.builtin
    actions = [
        a
        for (a,) in (
            await db.execute(
                select(AuditEntry.action).where(AuditEntry.target_id == override.id).order_by(AuditEntry.seq)
            )
        ).all()
    ]
    assert actions == ["runbook.created", "runbook.disabled", "runbook.deleted"]


async def test_listing_filters(db: AsyncSession, world: World, clock: FakeClock) -> None:
    everything = await service.listing(db, actor=world.tech, clock=clock)
    assert len(everything) == len(library.shipped())
    high = await service.listing(db, actor=world.tech, clock=clock, risk="high")
    assert high and all(e.spec.risk == "high" for e in high)
    by_symptom = {
        e.runbook.slug for e in await service.listing(db, actor=world.tech, clock=clock, trigger="service_down:nginx")
    }
    assert {"restart-nginx", "restart-service"} <= by_symptom and "disk-cleanup" not in by_symptom
    words = await service.listing(db, actor=world.tech, clock=clock, q="certbot renew")
    assert [e.runbook.slug for e in words] == ["renew-certificate"]
    with pytest.raises(NotFound):
        await service.listing(db, actor=world.tech, clock=clock, company_id=world.globex)


async def test_rights(db: AsyncSession, world: World, clock: FakeClock) -> None:
    await library.sync_builtins(db, clock=clock)
    nginx = (await db.execute(select(Runbook).where(Runbook.slug == "restart-nginx"))).scalar_one()
    own = await service.create(db, actor=world.admin, clock=clock, yaml_text=OWN, company_id=world.acme)
    await db.commit()
    with pytest.raises(Forbidden):  # technicians only read
        await service.update(db, actor=world.tech, clock=clock, runbook_id=own.id, yaml_text=OWN + "# x\n")
    with pytest.raises(Forbidden):
        await service.create(db, actor=world.tech, clock=clock, yaml_text=OWN, company_id=world.acme)
    with pytest.raises(Forbidden):  # only msp_admin edits the library
        await service.update(
            db, actor=world.admin, clock=clock, runbook_id=nginx.id, yaml_text=override_of("restart-nginx")
        )
    with pytest.raises(Forbidden):
        await service.create(db, actor=world.admin, clock=clock, yaml_text=OWN)
    with pytest.raises(Forbidden):
        await service.set_enabled(db, actor=world.admin, clock=clock, runbook_id=nginx.id, enabled=False)
    with pytest.raises(NotFound):  # another company's runbook does not exist for them
        await service.get_for_actor(db, actor=world.other_admin, runbook_id=own.id)
    with pytest.raises(NotFound):
        await service.update(db, actor=world.other_admin, clock=clock, runbook_id=own.id, yaml_text=OWN)
    with pytest.raises(NotFound):
        await service.create(db, actor=world.other_admin, clock=clock, yaml_text=OWN, company_id=world.acme)
    with pytest.raises(Conflict, match="cannot be deleted"):
        await service.delete(db, actor=world.msp, clock=clock, runbook_id=nginx.id)
    assert (await service.get_for_actor(db, actor=world.tech, runbook_id=nginx.id)).id == nginx.id
    assert service.can_edit(world.msp, nginx) and not service.can_edit(world.admin, nginx)
    assert service.can_edit(world.admin, own) and not service.can_edit(world.tech, own)
    assert not service.can_edit(world.other_admin, own)
    # The MSP admin edits the library; a built-in edit is a new version like any other.
    _, changed = await service.update(
        db,
        actor=world.msp,
        clock=clock,
        runbook_id=nginx.id,
        yaml_text=override_of("restart-nginx", "MSP nginx"),
        note="ours",
    )
    assert changed and nginx.current_version == 2 and nginx.title == "MSP nginx"


async def test_a_runbook_with_executions_is_kept(db: AsyncSession, world: World, clock: FakeClock) -> None:
    own = await service.create(db, actor=world.admin, clock=clock, yaml_text=OWN, company_id=world.acme)
    asset = await make_asset(db, clock, world.acme, "web-1")
    version = await service.version_of(db, actor=world.admin, runbook_id=own.id)
    db.add(
        Execution(
            company_id=world.acme,
            runbook_id=own.id,
            runbook_version_id=version.id,
            runbook_slug=own.slug,
            runbook_version=1,
            risk="medium",
            asset_id=asset.id,
            binding_hash="x" * 64,
            status="succeeded",
        )
    )
    await db.commit()
    with pytest.raises(Conflict, match="1 execution"):
        await service.delete(db, actor=world.admin, clock=clock, runbook_id=own.id)


async def test_shipped_changes_follow_unless_an_msp_edited(
    db: AsyncSession, world: World, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await library.sync_builtins(db, clock=clock)
    await db.commit()
    original = library.shipped()
    rows = {r.slug: r for r in (await db.scalars(select(Runbook))).all()}
    # An MSP admin edits restart-redis; restart-nginx stays as shipped.
    redis_text = original["restart-redis"].text.replace("cooldown_minutes: 15", "cooldown_minutes: 20")
    await service.update(db, actor=world.msp, clock=clock, runbook_id=rows["restart-redis"].id, yaml_text=redis_text)
    await db.commit()
    # A new release changes both shipped files.
    changed = dict(original)
    for slug in ("restart-nginx", "restart-redis"):
        text = original[slug].text.replace("timeout_seconds: 120", "timeout_seconds: 150")
        spec = library.parse_yaml(text)
        changed[slug] = library.Shipped(slug, text, spec, spec_hash(spec))
    monkeypatch.setattr(library, "shipped", lambda: changed)
    clock.advance(days=30)
    assert await library.sync_builtins(db, clock=clock) == 2
    await db.commit()
    nginx, redis = rows["restart-nginx"], rows["restart-redis"]
    await db.refresh(nginx)
    await db.refresh(redis)
    assert nginx.current_version == 2  # followed the release
    assert (await service.version_of(db, actor=world.msp, runbook_id=nginx.id)).yaml == changed["restart-nginx"].text
    assert redis.current_version == 2  # the MSP's edit stays current ...
    pending = await library.pending_update(db, redis)
    assert pending is not None and pending.version == 3 and pending.yaml == changed["restart-redis"].text
    assert await library.pending_update(db, nginx) is None
    entry = (
        await db.scalars(
            select(AuditEntry).where(AuditEntry.action == "runbook.builtins_synced").order_by(AuditEntry.seq.desc())
        )
    ).first()
    assert entry is not None and entry.details["update_available"] == ["restart-redis"]
    assert entry.details["updated"] == ["restart-nginx"]
    # ... and syncing again adds nothing.
    assert await library.sync_builtins(db, clock=clock) == 0
    count = await db.scalar(
        select(func.count()).select_from(RunbookVersion).where(RunbookVersion.runbook_id == redis.id)
    )
    assert count == 3
