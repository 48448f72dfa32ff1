"""Reading runbooks: a company's effective set, the library listing, versions, scope checks.

Import through ``remediation.runbooks`` (the service), which re-exports these.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth.principal import Principal
from alertwhisperer.clock import Clock, SystemClock
from alertwhisperer.errors import NotFound
from alertwhisperer.remediation.library import ensure_builtins
from alertwhisperer.remediation.models import GLOBAL_SCOPE, Runbook, RunbookVersion
from alertwhisperer.remediation.spec import RunbookSpec, parse_yaml
from alertwhisperer.tenants.models import Company


@dataclass
class EffectiveRunbook:
    runbook: Runbook
    version: RunbookVersion
    spec: RunbookSpec
    overridden: bool  # a company runbook replacing the library one with the same slug


def spec_of(version: RunbookVersion) -> RunbookSpec:
    """The validated spec of a stored version (re-parsed from its YAML if the stored JSON no longer validates)."""
    try:
        return RunbookSpec.model_validate(version.spec)
    except ValueError:
        return parse_yaml(version.yaml)


async def _current_versions(session: AsyncSession, runbooks: list[Runbook]) -> dict[str, RunbookVersion]:
    if not runbooks:
        return {}
    wanted = {(r.id, r.current_version) for r in runbooks}
    rows = (
        await session.scalars(select(RunbookVersion).where(RunbookVersion.runbook_id.in_([r.id for r in runbooks])))
    ).all()
    return {v.runbook_id: v for v in rows if (v.runbook_id, v.version) in wanted}


async def _merged(session: AsyncSession, *, company_id: str | None) -> list[EffectiveRunbook]:
    """Library runbooks with ``company_id``'s runbooks applied (all, enabled or not), sorted by title."""
    scopes = [GLOBAL_SCOPE] if company_id is None else [GLOBAL_SCOPE, company_id]
    rows = list((await session.scalars(select(Runbook).where(Runbook.scope.in_(scopes)))).all())
    library_slugs = {r.slug for r in rows if r.scope == GLOBAL_SCOPE}
    by_slug: dict[str, Runbook] = {}
    for runbook in sorted(rows, key=lambda r: r.scope != GLOBAL_SCOPE):  # company rows last: they win
        by_slug[runbook.slug] = runbook
    chosen = list(by_slug.values())
    versions = await _current_versions(session, chosen)
    out = [
        EffectiveRunbook(
            r, versions[r.id], spec_of(versions[r.id]), overridden=r.scope != GLOBAL_SCOPE and r.slug in library_slugs
        )
        for r in chosen
        if r.id in versions
    ]
    return sorted(out, key=lambda e: (e.runbook.title.lower(), e.runbook.slug))


async def effective_for_company(
    session: AsyncSession, *, company_id: str, clock: Clock | None = None
) -> list[EffectiveRunbook]:
    """The enabled runbooks that apply to ``company_id`` (built-ins synced first if this database lacks them)."""
    await ensure_builtins(session, clock=clock or SystemClock())
    return [e for e in await _merged(session, company_id=company_id) if e.runbook.enabled]


def _matches(entry: EffectiveRunbook, *, risk: str | None, q: str | None, trigger: str | None) -> bool:
    if risk and entry.spec.risk != risk:
        return False
    if trigger and not (trigger in entry.spec.trigger.symptoms or entry.spec.trigger.matches_symptom(trigger)):
        return False
    if q:
        needle = q.strip().lower()
        hay = " ".join(
            (
                entry.spec.name,
                entry.spec.title,
                entry.spec.description,
                entry.spec.category,
                " ".join(entry.spec.trigger.symptoms),
            )
        ).lower()
        return all(word in hay for word in needle.split())
    return True


async def listing(
    session: AsyncSession,
    *,
    actor: Principal,
    clock: Clock,
    company_id: str | None = None,
    risk: str | None = None,
    q: str | None = None,
    trigger: str | None = None,
    enabled_only: bool = False,
) -> list[EffectiveRunbook]:
    """What the library page and ``GET /api/runbooks`` show: the library, or a company's effective view."""
    if company_id:
        actor.require_company(company_id)
    await ensure_builtins(session, clock=clock)
    entries = await _merged(session, company_id=company_id or None)
    return [
        e for e in entries if _matches(e, risk=risk, q=q, trigger=trigger) and (e.runbook.enabled or not enabled_only)
    ]


async def get_version(session: AsyncSession, *, version_id: str) -> tuple[RunbookVersion, RunbookSpec]:
    version = await session.get(RunbookVersion, version_id)
    if version is None:
        raise NotFound("runbook version not found")
    return version, spec_of(version)


async def get_for_actor(session: AsyncSession, *, actor: Principal, runbook_id: str) -> Runbook:
    """A runbook the actor may read (a company runbook outside their scope does not exist for them)."""
    runbook = await session.get(Runbook, runbook_id)
    if runbook is None or (runbook.scope != GLOBAL_SCOPE and not actor.sees_company(runbook.company_id)):
        raise NotFound("runbook not found")
    return runbook


async def versions_of(session: AsyncSession, *, actor: Principal, runbook_id: str) -> list[RunbookVersion]:
    """Newest first."""
    runbook = await get_for_actor(session, actor=actor, runbook_id=runbook_id)
    return list(
        (
            await session.scalars(
                select(RunbookVersion)
                .where(RunbookVersion.runbook_id == runbook.id)
                .order_by(RunbookVersion.version.desc())
            )
        ).all()
    )


async def version_of(
    session: AsyncSession, *, actor: Principal, runbook_id: str, version: int | None = None
) -> RunbookVersion:
    """One version of a runbook (its current one when ``version`` is None)."""
    runbook = await get_for_actor(session, actor=actor, runbook_id=runbook_id)
    number = runbook.current_version if version is None else version
    row = await session.scalar(
        select(RunbookVersion).where(RunbookVersion.runbook_id == runbook.id, RunbookVersion.version == number)
    )
    if row is None:
        raise NotFound(f"version {number} of this runbook not found")
    return row


async def library_counterpart(session: AsyncSession, runbook: Runbook) -> Runbook | None:
    """The library runbook a company runbook overrides (None when it stands on its own or is in the library)."""
    if runbook.scope == GLOBAL_SCOPE:
        return None
    return await session.scalar(select(Runbook).where(Runbook.scope == GLOBAL_SCOPE, Runbook.slug == runbook.slug))


async def companies_overriding(session: AsyncSession, *, actor: Principal, runbook: Runbook) -> list[Company]:
    """Companies in the actor's scope with their own runbook of this library runbook's slug."""
    if runbook.scope != GLOBAL_SCOPE:
        return []
    query = select(Company).join(Runbook, Runbook.company_id == Company.id).where(Runbook.slug == runbook.slug)
    if not actor.is_msp_admin:
        if not actor.company_ids:
            return []
        query = query.where(Company.id.in_(sorted(actor.company_ids)))
    return list((await session.scalars(query.order_by(Company.name))).all())
