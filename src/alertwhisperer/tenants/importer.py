"""Idempotent import of companies and assets from JSON (upsert by company slug and asset name)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.clock import Clock
from alertwhisperer.errors import Invalid
from alertwhisperer.tenants import assets as asset_service
from alertwhisperer.tenants import service as company_service
from alertwhisperer.tenants.models import Asset, Company
from alertwhisperer.tenants.schemas import AssetCreate, CompanyCreate, Slug


class ImportAsset(AssetCreate):
    model_config = ConfigDict(extra="ignore")


class ImportCompany(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=200)
    slug: Slug | None = None
    timezone: str = "UTC"
    assets: list[ImportAsset] = Field(default_factory=list)


class ImportFile(BaseModel):
    model_config = ConfigDict(extra="ignore")

    companies: list[ImportCompany] = Field(default_factory=list)


@dataclass
class ImportReport:
    companies_created: list[str] = field(default_factory=list)
    companies_updated: list[str] = field(default_factory=list)
    companies_unchanged: list[str] = field(default_factory=list)
    assets_created: int = 0
    assets_updated: int = 0
    assets_unchanged: int = 0
    api_keys: dict[str, str] = field(default_factory=dict)  # slug -> key, new companies only

    def summary(self) -> str:
        return (f"companies: {len(self.companies_created)} created, {len(self.companies_updated)} updated, "
                f"{len(self.companies_unchanged)} unchanged; assets: {self.assets_created} created, "
                f"{self.assets_updated} updated, {self.assets_unchanged} unchanged")


def parse(data: Any) -> ImportFile:
    try:
        return ImportFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise Invalid(f"import file invalid at {where}: {first['msg']}", details=exc.errors(
            include_url=False, include_context=False, include_input=False)) from exc


async def import_tenants(session: AsyncSession, *, clock: Clock, data: Any) -> ImportReport:
    """Apply the file in the caller's transaction (all or nothing). Audited as the system actor."""
    parsed = parse(data)
    report = ImportReport()
    seen: set[str] = set()
    for item in parsed.companies:
        slug = item.slug or company_service.slugify(item.name)
        if slug in seen:
            raise Invalid(f"company slug {slug!r} appears twice in the import file")
        seen.add(slug)
        company = (await session.execute(select(Company).where(Company.slug == slug))).scalar_one_or_none()
        if company is None:
            company, key = await company_service.create_company(
                session, actor=None, clock=clock, data=CompanyCreate(name=item.name, slug=slug,
                                                                      timezone=item.timezone),
                audit_details={"via": "import"})
            report.companies_created.append(slug)
            report.api_keys[slug] = key
        elif company.name != item.name or company.timezone != item.timezone:
            CompanyCreate(name=item.name, timezone=item.timezone)  # validates the timezone
            company.name, company.timezone = item.name, item.timezone
            company.updated_at = clock.now()
            report.companies_updated.append(slug)
        else:
            report.companies_unchanged.append(slug)
        await _import_assets(session, clock, company, item.assets, report)
    await session.flush()
    return report


async def _import_assets(session: AsyncSession, clock: Clock, company: Company, items: list[ImportAsset],
                         report: ImportReport) -> None:
    names = [a.name for a in items]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise Invalid(f"company {company.slug!r}: asset name(s) repeated: {', '.join(dupes)}")
    existing = {a.name: a for a in (await session.execute(
        select(Asset).where(Asset.company_id == company.id))).scalars()}
    unchanged: set[str] = set()
    # First pass without dependencies so an asset may depend on one listed after it.
    for item in items:
        bare = item.model_copy(update={"depends_on": []})
        asset = existing.get(item.name)
        if asset is None:
            existing[item.name] = await asset_service.create_asset(
                session, actor=None, clock=clock, company_id=company.id, data=bare,
                audit_action="asset.imported")
            report.assets_created += 1
        else:
            fields = bare.model_dump(exclude={"depends_on", "name"})
            update = AssetCreate(name=item.name, **fields)
            changes = await asset_service.update_asset(session, actor=None, clock=clock, asset=asset,
                                                       data=update.model_copy(update={"depends_on": None}))
            if changes:
                report.assets_updated += 1
            else:
                unchanged.add(item.name)
    for item in items:
        asset = existing[item.name]
        current = (await asset_service.to_out(session, [asset]))[0].depends_on
        if sorted(set(item.depends_on)) != current:
            try:
                await asset_service.set_dependencies(session, asset=asset, names=item.depends_on)
            except Invalid as exc:
                raise Invalid(f"company {company.slug!r}, asset {item.name!r}: {exc.message}") from exc
            if item.name in unchanged:
                unchanged.discard(item.name)
                report.assets_updated += 1
    report.assets_unchanged += len(unchanged)
