"""Integrations per company (guides with the real URL, test alerts) and heartbeats (config + ping)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from alertwhisperer.deps import ClockDep, CurrentUser, SessionDep, SettingsDep, commit
from alertwhisperer.ingest import heartbeats, integrations
from alertwhisperer.ingest import service as ingest
from alertwhisperer.jobs.worker import wake_workers
from alertwhisperer.tenants import service as tenants

router = APIRouter(tags=["integrations"])


class IntegrationOut(BaseModel):
    key: str
    name: str
    description: str
    webhook_url: str
    key_header: str = "X-API-Key"
    key_query_param: str = "api_key"
    retries_on_429: bool
    has_sample: bool


class GuideOut(IntegrationOut):
    guide_markdown: str
    guide_html: str


class TestAlertOut(BaseModel):
    delivery_id: str
    alert_ids: list[str]


def _out(i: integrations.Integration) -> IntegrationOut:
    return IntegrationOut(key=i.key, name=i.name, description=i.description, webhook_url=i.webhook_url,
                          retries_on_429=i.retries_on_429, has_sample=i.has_sample)


@router.get("/api/companies/{company_id}/integrations", response_model=list[IntegrationOut])
async def list_integrations(company_id: str, user: CurrentUser, db: SessionDep,
                            settings: SettingsDep) -> list[IntegrationOut]:
    await tenants.get_company(db, actor=user, company_id=company_id)
    return [_out(i) for i in integrations.list_integrations(settings.base_url)]


@router.get("/api/companies/{company_id}/integrations/{source}", response_model=GuideOut)
async def integration_guide(company_id: str, source: str, user: CurrentUser, db: SessionDep,
                            settings: SettingsDep) -> GuideOut:
    company = await tenants.get_company(db, actor=user, company_id=company_id)
    markdown = integrations.render_guide(source, base_url=settings.base_url, company_name=company.name)
    (item,) = [i for i in integrations.list_integrations(settings.base_url) if i.key == source]
    return GuideOut(**_out(item).model_dump(), guide_markdown=markdown, guide_html=integrations.guide_html(markdown))


@router.post("/api/companies/{company_id}/integrations/{source}/test", response_model=TestAlertOut,
             status_code=202)
async def send_test_alert(company_id: str, source: str, request: Request, user: CurrentUser, db: SessionDep,
                          clock: ClockDep) -> TestAlertOut:
    accepted = await integrations.send_test_alert(db, actor=user, clock=clock, company_id=company_id, key=source)
    await commit(request, db)
    wake_workers(getattr(request.app.state, "hub", None))
    return TestAlertOut(delivery_id=accepted.delivery_id, alert_ids=accepted.alert_ids)


@router.get("/api/companies/{company_id}/heartbeats", response_model=list[heartbeats.HeartbeatOut])
async def list_heartbeats(company_id: str, user: CurrentUser, db: SessionDep) -> list[heartbeats.HeartbeatOut]:
    return [heartbeats.to_out(h) for h in await heartbeats.list_for(db, actor=user, company_id=company_id)]


@router.post("/api/companies/{company_id}/heartbeats", response_model=heartbeats.HeartbeatOut, status_code=201)
async def create_heartbeat(company_id: str, body: heartbeats.HeartbeatIn, request: Request, user: CurrentUser,
                           db: SessionDep, clock: ClockDep) -> heartbeats.HeartbeatOut:
    hb = await heartbeats.create(db, actor=user, clock=clock, company_id=company_id, data=body)
    out = heartbeats.to_out(hb)
    await commit(request, db)
    return out


@router.delete("/api/companies/{company_id}/heartbeats/{heartbeat_name}", status_code=204)
async def delete_heartbeat(company_id: str, heartbeat_name: str, request: Request, user: CurrentUser,
                           db: SessionDep, clock: ClockDep) -> None:
    await heartbeats.delete(db, actor=user, clock=clock, company_id=company_id, name=heartbeat_name)
    await commit(request, db)


@router.api_route("/api/heartbeats/{heartbeat_name}", methods=["GET", "POST"], response_model=heartbeats.HeartbeatOut)
async def ping(heartbeat_name: str, request: Request, db: SessionDep, clock: ClockDep,
               api_key: Annotated[str | None, Query()] = None) -> heartbeats.HeartbeatOut:
    """A ping from the monitored integration (API key auth, like webhooks)."""
    company = await ingest.authenticate(db, api_key=ingest.api_key_from(dict(request.headers), api_key))
    hb = await heartbeats.ping(db, clock=clock, company=company, name=heartbeat_name)
    out = heartbeats.to_out(hb)
    await commit(request, db)
    return out
