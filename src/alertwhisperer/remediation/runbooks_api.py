"""Runbook routes (thin: call ``remediation.runbooks``, commit). Invalid YAML answers 422 with
``details.problems`` = ``[{line, field, message}]``; ``POST /api/runbooks/validate`` checks YAML without writing."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth.principal import Principal
from alertwhisperer.deps import ClockDep, CurrentUser, SessionDep, commit
from alertwhisperer.remediation import runbooks as service
from alertwhisperer.remediation.library import pending_update
from alertwhisperer.remediation.models import Runbook
from alertwhisperer.remediation.runbook_schemas import (
    Problem,
    RunbookDetailOut,
    RunbookEditIn,
    RunbookIn,
    RunbookOut,
    ValidateIn,
    ValidateOut,
    VersionOut,
    entry_out,
    runbook_out,
    summary,
    version_out,
)
from alertwhisperer.remediation.spec import SpecError, parse_yaml, spec_hash

router = APIRouter(prefix="/api", tags=["remediation"])


async def _detail(db: AsyncSession, user: Principal, runbook: Runbook) -> RunbookDetailOut:
    version = await service.version_of(db, actor=user, runbook_id=runbook.id)
    spec = service.spec_of(version)
    versions = await service.versions_of(db, actor=user, runbook_id=runbook.id)
    overridden = await service.library_counterpart(db, runbook) is not None
    update = await pending_update(db, runbook)
    base = runbook_out(runbook, version, spec, overridden=overridden)
    return RunbookDetailOut(
        **base.model_dump(),
        yaml=version.yaml,
        spec=version.spec,
        spec_hash=version.spec_hash,
        versions=[summary(v) for v in versions],
        update_available=summary(update) if update else None,
    )


@router.get("/runbooks", response_model=list[RunbookOut])
async def list_runbooks(
    request: Request,
    user: CurrentUser,
    db: SessionDep,
    clock: ClockDep,
    company_id: str | None = Query(
        None, max_length=64, description="the company's effective view (library + its overrides); absent: the library"
    ),
    risk: Literal["low", "medium", "high"] | None = None,
    q: str | None = Query(None, max_length=200, description="words in name, title, description"),
    trigger: str | None = Query(
        None, max_length=120, description="runbooks a symptom triggers, e.g. service_down:nginx"
    ),
    enabled: bool | None = Query(None, description="true: only enabled runbooks"),
) -> list[RunbookOut]:
    entries = await service.listing(
        db, actor=user, clock=clock, company_id=company_id, risk=risk, q=q, trigger=trigger, enabled_only=bool(enabled)
    )
    out = [entry_out(e) for e in entries]
    await commit(request, db)  # keeps the built-ins synced on first use
    return out


@router.post("/runbooks/validate", response_model=ValidateOut)
async def validate(body: ValidateIn, user: CurrentUser) -> ValidateOut:
    """Check runbook YAML without saving anything: ``valid`` and every problem with its line."""
    try:
        spec = parse_yaml(body.yaml)
    except SpecError as exc:
        return ValidateOut(valid=False, problems=[Problem(**p) for p in exc.problems])
    return ValidateOut(valid=True, problems=[], spec=spec.model_dump(mode="json"), spec_hash=spec_hash(spec))


@router.post("/runbooks", response_model=RunbookDetailOut, status_code=201)
async def create_runbook(
    body: RunbookIn, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep
) -> RunbookDetailOut:
    """A library runbook (msp_admin) or a company runbook (msp_admin, or company_admin of that company)."""
    runbook = await service.create(
        db, actor=user, clock=clock, yaml_text=body.yaml, company_id=body.company_id, note=body.note
    )
    out = await _detail(db, user, runbook)
    await commit(request, db)
    return out


@router.get("/runbooks/{runbook_id}", response_model=RunbookDetailOut)
async def get_runbook(runbook_id: str, user: CurrentUser, db: SessionDep) -> RunbookDetailOut:
    return await _detail(db, user, await service.get_for_actor(db, actor=user, runbook_id=runbook_id))


@router.get("/runbooks/{runbook_id}/versions/{version}", response_model=VersionOut)
async def get_version(runbook_id: str, version: int, user: CurrentUser, db: SessionDep) -> VersionOut:
    return version_out(await service.version_of(db, actor=user, runbook_id=runbook_id, version=version))


@router.put("/runbooks/{runbook_id}", response_model=RunbookDetailOut)
async def edit_runbook(
    runbook_id: str,
    body: RunbookEditIn,
    request: Request,
    response: Response,
    user: CurrentUser,
    db: SessionDep,
    clock: ClockDep,
) -> RunbookDetailOut:
    """A new version (``X-Runbook-Changed: false`` when the YAML means the same as the current version)."""
    runbook, changed = await service.update(
        db, actor=user, clock=clock, runbook_id=runbook_id, yaml_text=body.yaml, note=body.note
    )
    out = await _detail(db, user, runbook)
    await commit(request, db)
    response.headers["X-Runbook-Changed"] = "true" if changed else "false"
    return out


async def _toggle(
    request: Request, runbook_id: str, user: Principal, db: AsyncSession, clock: ClockDep, enabled: bool
) -> RunbookOut:
    runbook = await service.set_enabled(db, actor=user, clock=clock, runbook_id=runbook_id, enabled=enabled)
    version = await service.version_of(db, actor=user, runbook_id=runbook.id)
    out = runbook_out(
        runbook,
        version,
        service.spec_of(version),
        overridden=await service.library_counterpart(db, runbook) is not None,
    )
    await commit(request, db)
    return out


@router.post("/runbooks/{runbook_id}/enable", response_model=RunbookOut)
async def enable(runbook_id: str, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep) -> RunbookOut:
    return await _toggle(request, runbook_id, user, db, clock, True)


@router.post("/runbooks/{runbook_id}/disable", response_model=RunbookOut)
async def disable(runbook_id: str, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep) -> RunbookOut:
    return await _toggle(request, runbook_id, user, db, clock, False)


@router.delete("/runbooks/{runbook_id}", status_code=204)
async def delete_runbook(
    runbook_id: str, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep
) -> Response:
    """Company runbooks only (an override: the company gets the library runbook back)."""
    await service.delete(db, actor=user, clock=clock, runbook_id=runbook_id)
    await commit(request, db)
    return Response(status_code=204)
