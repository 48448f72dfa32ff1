"""Patch compliance per asset and per company: asking for scans, and reading what the scans found.

An asset is **compliant** when a scan succeeded and found no missing and no failed patch (``missing == 0`` and
``failed == 0``); a company's compliance is the share of its scanned assets that are compliant. Critical and
security counts are the missing patches of those classes, summed over the company's assets. A scan that failed
keeps the counts of the last good one (the row shows the error), so one unreachable night does not make a
patched fleet look unknown.

Scans run as ``remediation.patch_scan`` jobs (``patch_scan.scan_job``), keyed per asset and hour so a double click
never scans twice; AWS-reached assets of one company that share a credential and region go in one job (batched
calls). Any user who sees the company may ask for a scan; every request is audited (``patches.scan_requested``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.audit import service as audit
from alertwhisperer.auth.principal import Principal
from alertwhisperer.clock import Clock
from alertwhisperer.db import new_id
from alertwhisperer.errors import Conflict, Invalid, NotFound
from alertwhisperer.jobs import service as jobs
from alertwhisperer.jobs.models import PENDING, RUNNING, Job
from alertwhisperer.realtime.hub import Event, emit
from alertwhisperer.remediation.hooks import PATCH_SCAN_JOB
from alertwhisperer.remediation.models import SSM, AssetAccess, PatchState
from alertwhisperer.remediation.patch_scan import is_compliant, scan_job
from alertwhisperer.tenants.models import Asset, Company

__all__ = ["PatchRow", "ScanRequest", "compliance_by_company", "get_row", "list_rows", "request_scan", "scan_job",
           "scanning_asset_ids"]

SCANNING = "patch.scanning"
SCAN_WINDOW = timedelta(hours=1)  # one scan per asset per clock hour (double clicks, impatient retries)
NO_ACCESS = "no remote access is configured for this asset: set it up under Remote access"


@dataclass(frozen=True)
class ScanRequest:
    company_id: str
    queued: list[str] = field(default_factory=list)  # asset ids whose scan was enqueued now
    skipped: list[dict[str, str]] = field(default_factory=list)  # {asset_id, asset_name, reason}
    next_at: datetime | None = None  # when a scan skipped as "already this hour" may be asked again


@dataclass(frozen=True)
class PatchRow:
    asset: Asset
    access: AssetAccess | None
    state: PatchState | None
    scanning: bool

    @property
    def compliant(self) -> bool:
        return self.state is not None and is_compliant(self.state)

    @property
    def scanned(self) -> bool:
        return self.state is not None and bool(self.state.details.get("scanned"))


def _hour(now: datetime) -> tuple[str, datetime]:
    """The dedup window a scan request falls in (its key part) and when the next one starts."""
    start = now.replace(minute=0, second=0, microsecond=0)
    return start.strftime("%Y%m%d%H"), start + SCAN_WINDOW


def _job(company_id: str, asset_ids: list[str], key: str, now: datetime) -> Job:
    return Job(id=new_id(), kind=PATCH_SCAN_JOB, company_id=company_id, due_at=now, created_at=now, status=PENDING,
               attempts=0, max_attempts=3, dedup_key=key, payload={"asset_ids": asset_ids})


async def _assets_to_scan(session: AsyncSession, *, actor: Principal, asset_id: str | None,
                          company_id: str | None) -> tuple[str, list[Asset]]:
    if (asset_id is None) == (company_id is None):
        raise Invalid("say what to scan: an asset_id or a company_id (one of them)", field="asset_id")
    if asset_id is not None:
        asset = await session.get(Asset, asset_id)
        if asset is None:
            raise NotFound("asset not found")
        actor.require_company(asset.company_id, "asset")
        return asset.company_id, [asset]
    assert company_id is not None
    actor.require_company(company_id)
    if await session.get(Company, company_id) is None:
        raise NotFound("company not found")
    assets = (await session.execute(select(Asset).where(Asset.company_id == company_id)
                                    .order_by(Asset.name))).scalars().all()
    return company_id, list(assets)


async def request_scan(session: AsyncSession, *, actor: Principal, clock: Clock, asset_id: str | None = None,
                       company_id: str | None = None, origin: str | None = None) -> ScanRequest:
    """Enqueue patch scans of one asset, or of every asset of a company that has remote access.

    ``Conflict`` when nothing can be scanned (no remote access configured). Assets already scanned or being
    scanned this hour are reported in ``skipped`` with the time a new scan may be asked for. ``origin`` (the
    console's tag of the requesting login) goes on the ``patch.scanning`` event so that page shows no echo."""
    company, assets = await _assets_to_scan(session, actor=actor, asset_id=asset_id, company_id=company_id)
    ids = [a.id for a in assets]
    access = {row.asset_id: row for row in (await session.execute(
        select(AssetAccess).where(AssetAccess.asset_id.in_(ids)))).scalars()} if ids else {}
    reachable = [a for a in assets if a.id in access]
    if not reachable:
        raise Conflict(NO_ACCESS if asset_id else "no asset of this company has remote access configured: set it "
                       "up under Remote access (SSH, or AWS Systems Manager) to scan patches")
    now = clock.now()
    hour, next_at = _hour(now)
    planned: list[tuple[list[Asset], str]] = []
    groups: dict[tuple[str, str], list[Asset]] = {}
    for asset in reachable:
        row = access[asset.id]
        if row.executor == SSM and asset_id is None:
            groups.setdefault((row.credential_id or "", row.region), []).append(asset)
        else:
            planned.append(([asset], f"patch-scan:{asset.id}:{hour}"))
    for members in groups.values():
        digest = hashlib.sha256(",".join(sorted(a.id for a in members)).encode()).hexdigest()[:24]
        planned.append((members, f"patch-scan:ssm:{digest}:{hour}"))
    queued: list[str] = []
    skipped = [{"asset_id": a.id, "asset_name": a.name, "reason": NO_ACCESS} for a in assets if a.id not in access]
    for members, key in planned:
        if await jobs.enqueue_keyed(session, [_job(company, [a.id for a in members], key, now)]):
            queued += [a.id for a in members]
        else:
            skipped += [{"asset_id": a.id, "asset_name": a.name,
                         "reason": "already scanned or being scanned this hour"} for a in members]
    await audit.record(session, clock=clock, action="patches.scan_requested", actor=actor, company_id=company,
                       target_type="asset" if asset_id else "company", target_id=asset_id or company,
                       details={"queued": len(queued), "skipped": len(skipped), "asset_ids": queued[:50]})
    if queued:
        data: dict[str, Any] = {"company_id": company, "asset_ids": queued, "name": names_of(assets, queued)}
        if origin:
            data["origin"] = origin
        emit(session, Event(SCANNING, company, data))
    return ScanRequest(company_id=company, queued=queued, skipped=skipped,
                       next_at=next_at if any("this hour" in s["reason"] for s in skipped) else None)


def names_of(assets: list[Asset], ids: list[str]) -> str:
    """``web-01`` / ``web-01, db-01`` / ``3 assets``: how an event names what it is about."""
    chosen = [a.name for a in assets if a.id in set(ids)]
    return ", ".join(chosen) if len(chosen) <= 2 else f"{len(chosen)} assets"


async def scanning_asset_ids(session: AsyncSession, *, company_ids: list[str] | None) -> set[str]:
    """Assets with a scan waiting or running (``company_ids`` None: every company)."""
    stmt = select(Job.payload).where(Job.kind == PATCH_SCAN_JOB, Job.status.in_((PENDING, RUNNING)))
    if company_ids is not None:
        stmt = stmt.where(Job.company_id.in_(company_ids))
    out: set[str] = set()
    for payload in (await session.execute(stmt)).scalars():
        out.update(str(i) for i in (payload or {}).get("asset_ids") or [])
        if (payload or {}).get("asset_id"):
            out.add(str(payload["asset_id"]))
    return out


async def _scope(session: AsyncSession, actor: Principal, company_id: str | None) -> list[Company]:
    if company_id is not None:
        actor.require_company(company_id)
        company = await session.get(Company, company_id)
        if company is None:
            raise NotFound("company not found")
        return [company]
    stmt = select(Company).order_by(Company.name)
    if not actor.is_msp_admin:
        stmt = stmt.where(Company.id.in_(actor.company_ids))
    return list((await session.execute(stmt)).scalars())


async def list_rows(session: AsyncSession, *, actor: Principal, company_id: str | None = None) -> list[PatchRow]:
    """Per asset: its remote access, its patch state and whether a scan is under way. Lists the assets that have
    remote access or a patch state (the others cannot be scanned), by company then asset name."""
    companies = await _scope(session, actor, company_id)
    company_ids = [c.id for c in companies]
    if not company_ids:
        return []
    assets = (await session.execute(select(Asset).where(Asset.company_id.in_(company_ids))
                                    .order_by(Asset.company_id, Asset.name))).scalars().all()
    access = {r.asset_id: r for r in (await session.execute(
        select(AssetAccess).where(AssetAccess.company_id.in_(company_ids)))).scalars()}
    states = {s.asset_id: s for s in (await session.execute(
        select(PatchState).where(PatchState.company_id.in_(company_ids)))).scalars()}
    scanning = await scanning_asset_ids(session, company_ids=company_ids)
    order = {c.id: n for n, c in enumerate(companies)}
    rows = [PatchRow(asset=a, access=access.get(a.id), state=states.get(a.id), scanning=a.id in scanning)
            for a in assets if a.id in access or a.id in states]
    return sorted(rows, key=lambda r: (order.get(r.asset.company_id, 0), r.asset.name.lower()))


async def get_row(session: AsyncSession, *, actor: Principal, asset_id: str) -> PatchRow:
    """One asset's patch row (``NotFound`` outside the actor's scope)."""
    asset = await session.get(Asset, asset_id)
    if asset is None:
        raise NotFound("asset not found")
    actor.require_company(asset.company_id, "asset")
    scanning = asset.id in await scanning_asset_ids(session, company_ids=[asset.company_id])
    return PatchRow(asset=asset, access=await session.get(AssetAccess, asset.id),
                    state=await session.get(PatchState, asset.id), scanning=scanning)


def summarize(company: Company, rows: list[PatchRow], assets_total: int) -> dict[str, Any]:
    """One company's compliance from its rows (``list_rows``)."""
    scanned = [r for r in rows if r.scanned and r.state is not None]
    compliant = sum(1 for r in scanned if r.compliant)
    last = max((r.state.scanned_at for r in scanned if r.state is not None), default=None)
    return {
        "company_id": company.id, "name": company.name, "assets": assets_total,
        "assets_with_access": sum(1 for r in rows if r.access is not None), "assets_scanned": len(scanned),
        "compliant": compliant, "percent": round(100.0 * compliant / len(scanned), 1) if scanned else None,
        "missing": sum(r.state.missing for r in scanned if r.state is not None),
        "critical": sum(r.state.critical for r in scanned if r.state is not None),
        "security": sum(r.state.security for r in scanned if r.state is not None),
        "failed": sum(r.state.failed for r in scanned if r.state is not None),
        "errors": sum(1 for r in rows if r.state is not None and r.state.error),
        "scanning": sum(1 for r in rows if r.scanning), "last_scan": last,
    }


async def compliance_by_company(session: AsyncSession, *, actor: Principal,
                                company_id: str | None = None) -> list[dict[str, Any]]:
    """Per company in the actor's scope: company_id, name, assets_scanned, compliant, percent (None before the
    first scan), critical, security, last_scan; plus assets, assets_with_access, missing, failed, errors,
    scanning. Companies without any asset with remote access are included (percent None)."""
    companies = await _scope(session, actor, company_id)
    rows = await list_rows(session, actor=actor, company_id=company_id)
    totals: dict[str, int] = {}
    if companies:
        for cid in (await session.execute(select(Asset.company_id).where(
                Asset.company_id.in_([c.id for c in companies])))).scalars():
            totals[cid] = totals.get(cid, 0) + 1
    by_company: dict[str, list[PatchRow]] = {}
    for row in rows:
        by_company.setdefault(row.asset.company_id, []).append(row)
    return [summarize(c, by_company.get(c.id, []), totals.get(c.id, 0)) for c in companies]
