"""Company and asset routes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

from alertwhisperer.deps import ClockDep, CurrentUser, SessionDep, commit
from alertwhisperer.realtime.hub import Event, emit
from alertwhisperer.tenants import assets, service
from alertwhisperer.tenants.schemas import (
    ApiKeyOut,
    AssetCreate,
    AssetOut,
    AssetUpdate,
    CompanyCreate,
    CompanyCreated,
    CompanyOut,
    CompanyUpdate,
)

router = APIRouter(prefix="/api", tags=["companies"])


class DeleteConfirm(BaseModel):
    confirm_slug: str


@router.get("/companies", response_model=list[CompanyOut])
async def list_companies(user: CurrentUser, db: SessionDep) -> list[CompanyOut]:
    return [CompanyOut.model_validate(c) for c in await service.list_companies(db, actor=user)]


@router.post("/companies", response_model=CompanyCreated, status_code=201)
async def create_company(body: CompanyCreate, request: Request, user: CurrentUser, db: SessionDep,
                         clock: ClockDep) -> CompanyCreated:
    company, key = await service.create_company(db, actor=user, clock=clock, data=body)
    emit(db, Event("company.created", company.id, {"id": company.id, "name": company.name}))
    await commit(request, db)
    return CompanyCreated(**CompanyOut.model_validate(company).model_dump(), api_key=key)


@router.get("/companies/{company_id}", response_model=CompanyOut)
async def get_company(company_id: str, user: CurrentUser, db: SessionDep) -> CompanyOut:
    return CompanyOut.model_validate(await service.get_company(db, actor=user, company_id=company_id))


@router.patch("/companies/{company_id}", response_model=CompanyOut)
async def update_company(company_id: str, body: CompanyUpdate, request: Request, user: CurrentUser,
                         db: SessionDep, clock: ClockDep) -> CompanyOut:
    company = await service.update_company(db, actor=user, clock=clock, company_id=company_id, data=body)
    emit(db, Event("company.updated", company.id, {"id": company.id, "name": company.name}))
    out = CompanyOut.model_validate(company)
    await commit(request, db)
    return out


@router.delete("/companies/{company_id}", status_code=204)
async def delete_company(company_id: str, body: DeleteConfirm, request: Request, user: CurrentUser,
                         db: SessionDep, clock: ClockDep) -> None:
    await service.delete_company(db, actor=user, clock=clock, company_id=company_id,
                                 confirm_slug=body.confirm_slug)
    await commit(request, db)


@router.post("/companies/{company_id}/api-key", response_model=ApiKeyOut)
async def regenerate_api_key(company_id: str, request: Request, user: CurrentUser, db: SessionDep,
                             clock: ClockDep) -> ApiKeyOut:
    company, key = await service.regenerate_api_key(db, actor=user, clock=clock, company_id=company_id)
    await commit(request, db)
    return ApiKeyOut(company_id=company.id, api_key=key, api_key_prefix=company.api_key_prefix)


@router.get("/companies/{company_id}/assets", response_model=list[AssetOut])
async def list_assets(company_id: str, user: CurrentUser, db: SessionDep) -> list[AssetOut]:
    return await assets.to_out(db, await assets.list_assets(db, actor=user, company_id=company_id))


@router.post("/companies/{company_id}/assets", response_model=AssetOut, status_code=201)
async def create_asset(company_id: str, body: AssetCreate, request: Request, user: CurrentUser,
                       db: SessionDep, clock: ClockDep) -> AssetOut:
    asset = await assets.create_asset(db, actor=user, clock=clock, company_id=company_id, data=body)
    out = (await assets.to_out(db, [asset]))[0]
    emit(db, Event("asset.created", company_id, {"id": asset.id, "name": asset.name}))
    await commit(request, db)
    return out


@router.get("/assets/{asset_id}", response_model=AssetOut)
async def get_asset(asset_id: str, user: CurrentUser, db: SessionDep) -> AssetOut:
    return (await assets.to_out(db, [await assets.get_asset(db, actor=user, asset_id=asset_id)]))[0]


@router.patch("/assets/{asset_id}", response_model=AssetOut)
async def update_asset(asset_id: str, body: AssetUpdate, request: Request, user: CurrentUser, db: SessionDep,
                       clock: ClockDep) -> AssetOut:
    asset = await assets.get_asset(db, actor=user, asset_id=asset_id)
    await assets.update_asset(db, actor=user, clock=clock, asset=asset, data=body)
    out = (await assets.to_out(db, [asset]))[0]
    emit(db, Event("asset.updated", asset.company_id, {"id": asset.id, "name": asset.name}))
    await commit(request, db)
    return out


@router.delete("/assets/{asset_id}", status_code=204)
async def delete_asset(asset_id: str, request: Request, user: CurrentUser, db: SessionDep,
                       clock: ClockDep) -> None:
    await assets.delete_asset(db, actor=user, clock=clock, asset_id=asset_id)
    await commit(request, db)
