"""POST /api/webhooks/{source}: the one door every monitoring tool knocks on."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError

from alertwhisperer.deps import ClockDep, CurrentUser, SessionDep, commit
from alertwhisperer.errors import DomainError
from alertwhisperer.ingest import adapters, service
from alertwhisperer.ingest.adapters.base import header

router = APIRouter(tags=["ingest"])

MAX_BODY = 1024 * 1024  # 1 MiB
RETRY_AFTER_SECONDS = 5


class AlertOut(BaseModel):
    id: str
    company_id: str
    source: str
    status: str
    severity: str
    original_severity: str | None
    asset_ref: str | None
    signature: str
    message: str
    labels: dict[str, str]
    external_id: str | None
    received_at: str
    occurred_at: str | None


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise service.PayloadTooLarge(f"body of {declared} bytes exceeds the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise service.PayloadTooLarge(f"body exceeds the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _unavailable(source: str, message: str) -> JSONResponse:
    """Temporary failure: answer so every sender retries (5xx + Retry-After)."""
    return JSONResponse({"error": "unavailable", "message": message, "source": source}, status_code=503,
                        headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


@router.post("/api/webhooks/{source}", status_code=202, responses={
    200: {"description": "a repeat of an earlier delivery: nothing new stored, original alert ids"},
    202: {"description": "stored durably; processing follows"},
    401: {"description": "missing or invalid API key"}, 404: {"description": "unknown source"},
    413: {"description": "body over 1 MiB"}, 422: {"description": "payload the adapter cannot read"},
    503: {"description": "temporarily unavailable; retry after Retry-After"},
})
async def receive(source: str, request: Request, db: SessionDep, clock: ClockDep,
                  api_key: Annotated[str | None, Query(description="for tools that cannot set headers")] = None,
                  ) -> JSONResponse:
    body = await _read_body(request, MAX_BODY)
    headers = dict(request.headers)
    try:
        company = await service.authenticate(db, api_key=header(headers, "x-api-key") or api_key)
        result = service.parse(source, body, headers)
        accepted = await service.accept(db, clock=clock, company=company, source=source, body=body,
                                        headers=headers, result=result)
        await commit(request, db)
    except DomainError:
        await db.rollback()
        raise
    except OperationalError:
        await db.rollback()
        return _unavailable(source, "database busy; retry")
    worker = getattr(request.app.state, "worker", None)
    if worker is not None and not accepted.duplicate:
        worker.wake()
    return JSONResponse({"delivery_id": accepted.delivery_id, "alert_ids": accepted.alert_ids,
                         "duplicate": accepted.duplicate, "control": accepted.control},
                        status_code=200 if accepted.duplicate else 202)


@router.get("/api/alerts", response_model=list[AlertOut])
async def list_alerts(user: CurrentUser, db: SessionDep,
                      limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[AlertOut]:
    scope = None if user.is_msp_admin else sorted(user.company_ids)
    rows = await service.list_alerts(db, company_ids=scope, limit=limit)
    return [AlertOut(id=a.id, company_id=a.company_id, source=a.source, status=a.status, severity=a.severity,
                     original_severity=a.original_severity, asset_ref=a.asset_ref, signature=a.signature,
                     message=a.message, labels=a.labels, external_id=a.external_id,
                     received_at=a.received_at.isoformat(),
                     occurred_at=a.occurred_at.isoformat() if a.occurred_at else None) for a in rows]


@router.get("/api/webhooks/sources")
async def sources(user: CurrentUser) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for key in adapters.keys():  # noqa: SIM118 - a function, not a dict
        adapter = adapters.get(key)
        if adapter is not None:
            info = adapter.INFO
            out.append({"key": info.key, "name": info.name, "description": info.description})
    return out
