"""Runbooks as a service: the MSP library, company runbooks and overrides, versions, rights, audit.

The library (scope "") holds the built-ins and MSP-made runbooks; a company runbook (scope = company id) either
overrides the library runbook with the same slug for that company or stands on its own. A company's *effective*
set is the library with its overrides applied, enabled ones only (a disabled override hides the library runbook
for that company too: that is how one company opts out of a library runbook).

Every create/edit adds an immutable ``RunbookVersion``; an edit that changes nothing (same spec hash) is a no-op.
Rights: everyone reads the library and their companies' runbooks; msp_admin edits the library; msp_admin and a
company_admin of the company edit that company's runbooks; technicians only read.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.audit import service as audit
from alertwhisperer.auth.models import User
from alertwhisperer.auth.principal import Principal, Role
from alertwhisperer.clock import Clock
from alertwhisperer.errors import Conflict, NotFound
from alertwhisperer.remediation.library import copy_header, ensure_builtins, new_version, sync_builtins
from alertwhisperer.remediation.models import GLOBAL_SCOPE, Execution, Runbook, RunbookVersion
from alertwhisperer.remediation.runbook_queries import (
    EffectiveRunbook,
    companies_overriding,
    effective_for_company,
    get_for_actor,
    get_version,
    library_counterpart,
    listing,
    spec_of,
    version_of,
    versions_of,
)
from alertwhisperer.remediation.spec import SpecError, parse_yaml, spec_hash
from alertwhisperer.tenants.models import Company

__all__ = [
    "EffectiveRunbook",
    "can_edit",
    "companies_overriding",
    "create",
    "delete",
    "effective_for_company",
    "get_for_actor",
    "get_version",
    "library_counterpart",
    "listing",
    "set_enabled",
    "spec_of",
    "sync_builtins",
    "update",
    "version_of",
    "versions_of",
]


def can_edit(actor: Principal, runbook_or_company: Runbook | str | None) -> bool:
    """May ``actor`` change this runbook (or create one in this company id; None = the library)?"""
    company_id = runbook_or_company.company_id if isinstance(runbook_or_company, Runbook) else runbook_or_company
    if company_id is None:
        return actor.is_msp_admin
    return actor.sees_company(company_id) and actor.role in (Role.MSP_ADMIN, Role.COMPANY_ADMIN)


def _require_edit(actor: Principal, runbook: Runbook, action: str) -> None:
    if runbook.company_id is None:
        actor.require_role(Role.MSP_ADMIN, action=f"{action} library runbooks")
    else:
        actor.require_company_admin(runbook.company_id, action=f"{action} this company's runbooks", what="runbook")


async def _author(session: AsyncSession, actor: Principal) -> str:
    user = await session.get(User, actor.user_id)
    return user.name if user is not None and user.name else actor.email


def _problem(field: str, message: str, line: int | None = None) -> SpecError:
    return SpecError([{"line": line, "field": field, "message": message}])


def _name_line(text: str) -> int | None:
    for i, line in enumerate(text.splitlines(), start=1):
        if line.startswith("name:"):
            return i
    return None


async def create(
    session: AsyncSession,
    *,
    actor: Principal,
    clock: Clock,
    yaml_text: str,
    company_id: str | None = None,
    note: str = "",
) -> Runbook:
    """A new runbook in the library (msp_admin) or in a company (its admin): an override when the library has
    the same slug. Raises ``SpecError`` (422, problems with lines) or ``Conflict`` (slug taken in that scope)."""
    if company_id is None:
        actor.require_role(Role.MSP_ADMIN, action="add runbooks to the library")
    else:
        actor.require_company_admin(company_id, action="add runbooks for this company")
        if await session.get(Company, company_id) is None:
            raise NotFound("company not found")
    spec = parse_yaml(yaml_text)
    scope = company_id or GLOBAL_SCOPE
    if await session.scalar(select(Runbook.id).where(Runbook.scope == scope, Runbook.slug == spec.name)):
        where = "this company" if company_id else "the library"
        raise Conflict(
            f"{where} already has a runbook named '{spec.name}': edit it instead",
            details={
                "problems": [
                    {
                        "line": _name_line(yaml_text),
                        "field": "name",
                        "message": f"'{spec.name}' is already taken in {where}",
                    }
                ]
            },
        )
    await ensure_builtins(session, clock=clock)
    overrides = company_id is not None and bool(
        await session.scalar(select(Runbook.id).where(Runbook.scope == GLOBAL_SCOPE, Runbook.slug == spec.name))
    )
    now = clock.now()
    runbook = Runbook(
        scope=scope,
        company_id=company_id,
        slug=spec.name,
        title=spec.title,
        risk=spec.risk,
        category=spec.category[:60],
        enabled=True,
        builtin=False,
        current_version=1,
        created_at=now,
        updated_at=now,
    )
    session.add(runbook)
    await session.flush()
    version = new_version(
        runbook,
        number=1,
        text=yaml_text,
        spec=spec,
        now=now,
        author_id=actor.user_id,
        author_name=await _author(session, actor),
        note=note or "created",
    )
    session.add(version)
    await session.flush()
    await audit.record(
        session,
        clock=clock,
        action="runbook.created",
        actor=actor,
        company_id=company_id,
        target_type="runbook",
        target_id=runbook.id,
        details={
            "slug": spec.name,
            "version": 1,
            "risk": spec.risk,
            "overrides_library": overrides,
            "spec_hash": version.spec_hash,
            "note": note,
        },
    )
    return runbook


async def update(
    session: AsyncSession, *, actor: Principal, clock: Clock, runbook_id: str, yaml_text: str, note: str = ""
) -> tuple[Runbook, bool]:
    """A new version from ``yaml_text`` (the slug cannot change). Returns ``(runbook, changed)``: an edit whose
    spec hash equals the current version's is a no-op (``changed`` False, nothing written)."""
    runbook = await get_for_actor(session, actor=actor, runbook_id=runbook_id)
    _require_edit(actor, runbook, "edit")
    spec = parse_yaml(yaml_text)
    if spec.name != runbook.slug:
        raise _problem(
            "name",
            f"the name cannot change (it is '{runbook.slug}'); create a new runbook instead",
            _name_line(yaml_text),
        )
    current = await version_of(session, actor=actor, runbook_id=runbook.id)
    if current.spec_hash == spec_hash(spec):
        return runbook, False
    last = await session.scalar(select(func.max(RunbookVersion.version)).where(RunbookVersion.runbook_id == runbook.id))
    number = (last or 0) + 1
    now = clock.now()
    version = new_version(
        runbook,
        number=number,
        text=yaml_text,
        spec=spec,
        now=now,
        author_id=actor.user_id,
        author_name=await _author(session, actor),
        note=note,
    )
    session.add(version)
    previous = runbook.current_version
    runbook.current_version = number
    copy_header(runbook, spec)
    runbook.updated_at = now
    await session.flush()
    await audit.record(
        session,
        clock=clock,
        action="runbook.updated",
        actor=actor,
        company_id=runbook.company_id,
        target_type="runbook",
        target_id=runbook.id,
        details={
            "slug": runbook.slug,
            "version": number,
            "previous_version": previous,
            "risk": spec.risk,
            "spec_hash": version.spec_hash,
            "note": note,
        },
    )
    return runbook, True


async def set_enabled(
    session: AsyncSession, *, actor: Principal, clock: Clock, runbook_id: str, enabled: bool
) -> Runbook:
    runbook = await get_for_actor(session, actor=actor, runbook_id=runbook_id)
    _require_edit(actor, runbook, "enable or disable")
    if runbook.enabled == enabled:
        return runbook
    runbook.enabled = enabled
    runbook.updated_at = clock.now()
    await session.flush()
    await audit.record(
        session,
        clock=clock,
        action="runbook.enabled" if enabled else "runbook.disabled",
        actor=actor,
        company_id=runbook.company_id,
        target_type="runbook",
        target_id=runbook.id,
        details={"slug": runbook.slug},
    )
    return runbook


async def delete(session: AsyncSession, *, actor: Principal, clock: Clock, runbook_id: str) -> None:
    """Remove a company runbook (an override: the company gets the library one back). Library runbooks are
    disabled, not deleted; a runbook that has executions is kept for their history (disable it instead)."""
    runbook = await get_for_actor(session, actor=actor, runbook_id=runbook_id)
    if runbook.company_id is None:
        actor.require_role(Role.MSP_ADMIN, action="change library runbooks")
        raise Conflict("library runbooks cannot be deleted; disable it instead")
    _require_edit(actor, runbook, "delete")
    runs = await session.scalar(select(func.count()).select_from(Execution).where(Execution.runbook_id == runbook.id))
    if runs:
        raise Conflict(
            f"this runbook has {runs} execution{'s' if runs != 1 else ''} whose history refers to it; "
            "disable it instead (or edit it back to the library version)"
        )
    details: dict[str, Any] = {"slug": runbook.slug, "versions": runbook.current_version}
    company_id = runbook.company_id
    await session.delete(runbook)
    await session.flush()
    await audit.record(
        session,
        clock=clock,
        action="runbook.deleted",
        actor=actor,
        company_id=company_id,
        target_type="runbook",
        target_id=runbook_id,
        details=details,
    )
