"""POST /api/webhooks/{source}: the one door every monitoring tool knocks on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError

from alertwhisperer.deps import ClockDep, CurrentUser, SessionDep, SettingsDep, commit
from alertwhisperer.errors import Unauthenticated
from alertwhisperer.ingest import adapters, service, signing
from alertwhisperer.ingest.cache import CompanyEntry, IngestCaches
from alertwhisperer.ingest.limiter import LimiterUnavailable
from alertwhisperer.ingest.writer import IngestWriter, Submission, WriterUnavailable
from alertwhisperer.jobs.worker import wake_workers

log = structlog.get_logger(__name__)

WEBHOOK_PATH = "/api/webhooks/{source}"
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


@asynccontextmanager
async def _writer_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Runs inside the app's lifespan (engine and worker exist): the caches and the group-commit writer."""
    caches = IngestCaches()
    hub = getattr(app.state, "hub", None)
    writer = IngestWriter(app.state.engine, recent=caches.deliveries,
                          on_commit=lambda: wake_workers(hub), on_stale_key=caches.invalidate)
    app.state.ingest_caches = caches
    app.state.ingest_writer = writer
    writer.start()
    try:
        yield
    finally:
        await writer.stop()


router = APIRouter(tags=["ingest"], lifespan=_writer_lifespan)


async def _company(state: Any, api_key: str | None) -> CompanyEntry:
    if not api_key:
        raise Unauthenticated(service.MISSING_KEY)
    caches: IngestCaches = state.ingest_caches
    entry = caches.companies.get(api_key)
    if entry is None:
        async with state.sessionmaker() as db:
            entry = await caches.companies.load(db, api_key)
    if entry is None:
        raise Unauthenticated("invalid API key")
    return entry


def _answer(accepted: service.Accepted) -> JSONResponse:
    return JSONResponse({"delivery_id": accepted.delivery_id, "alert_ids": accepted.alert_ids,
                         "duplicate": accepted.duplicate, "control": accepted.control},
                        status_code=200 if accepted.duplicate else 202)


@router.post(WEBHOOK_PATH, status_code=202, responses={
    200: {"description": "a repeat of an earlier delivery: nothing new stored, original alert ids"},
    202: {"description": "stored durably; processing follows"},
    401: {"description": "missing or invalid API key"}, 404: {"description": "unknown source"},
    409: {"description": "replayed signature"}, 413: {"description": "body over 1 MiB"},
    422: {"description": "payload the adapter cannot read"},
    429: {"description": "rate limited (senders that retry 429); Retry-After"},
    503: {"description": "temporarily unavailable or rate limited (Alertmanager, Grafana); Retry-After"},
})
async def receive(source: str, request: Request,
                  api_key: Annotated[str | None, Query(description="for tools that cannot set headers")] = None,
                  ) -> JSONResponse:
    """Authenticate (cached key lookup), rate-limit, read, verify the signature, parse, then store through
    the group-commit writer; the answer comes only after the transaction holding the delivery committed.

    Served by ``WebhookFastPath`` (ingest/fastpath.py) without routing and dependency injection; this
    route documents it and serves it wherever that middleware is not installed."""
    return await handle_webhook(request, source, api_key)


async def handle_webhook(request: Request, source: str, api_key: str | None) -> JSONResponse:
    state = request.app.state
    adapter = service.adapter_for(source)
    headers = dict(request.headers)
    try:
        company = await _company(state, service.api_key_from(headers, api_key))
    except OperationalError:
        return _unavailable(source, "database busy; retry")
    try:
        verdict = await state.limiter.hit(company.company_id, company.ingest)
    except LimiterUnavailable as exc:
        log.warning("ingest.limiter_unavailable", error=str(exc)[:300])
        return _unavailable(source, "rate limiter unavailable; retry")
    if not verdict.allowed:
        return _limited(source, adapter.INFO.retries_on_429, verdict.retry_after, verdict.limit)
    now = state.clock.now()
    caches: IngestCaches = state.ingest_caches
    given = service.header_key(headers)
    if given is not None and not company.ingest.require_signature and "x-signature" not in headers:
        seen = caches.deliveries.get(company.company_id, given, now)  # a retry we answered: no need to parse
        if seen is not None:
            return _answer(service.Accepted(seen.delivery_id, list(seen.alert_ids), True, company.company_id))
    body = await _read_body(request, MAX_BODY)
    signature = signing.check(secret=company.secret, now=now, server_secret=state.settings.secret(),
                              headers=headers, body=body, required=company.ingest.require_signature)
    result = service.parse(source, body, headers)
    key = service.idempotency_key(headers, result)
    if key is not None and signature is None:  # a signed repeat must still be checked for replay
        seen = caches.deliveries.get(company.company_id, key, now)
        if seen is not None:
            return _answer(service.Accepted(seen.delivery_id, list(seen.alert_ids), True, company.company_id))
    submission = Submission(
        company_id=company.company_id, source=source, received_at=now, key=key, body=body,
        headers=service.kept_headers(headers),
        control=result.control.model_dump(mode="json") if result.control else None,
        control_kind=result.control.kind if result.control else None,
        alerts=service.alert_fields(result), signature=signature, key_hash=company.key_hash or None)
    try:
        accepted = await state.ingest_writer.submit(submission)
    except WriterUnavailable as exc:
        return _unavailable(source, str(exc))
    return _answer(accepted)


def _limited(source: str, retries_on_429: bool, retry_after: int, limit: str) -> JSONResponse:
    """429 for senders that retry it; 503 for those that drop any 4xx (both with Retry-After)."""
    return JSONResponse({"error": "rate_limited", "message": f"rate limit {limit} exceeded; retry later",
                         "source": source}, status_code=429 if retries_on_429 else 503,
                        headers={"Retry-After": str(retry_after)})


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
    for key in adapters.all_keys():
        adapter = adapters.get(key)
        if adapter is not None:
            info = adapter.INFO
            out.append({"key": info.key, "name": info.name, "description": info.description})
    return out


class SecretStatus(BaseModel):
    configured: bool
    rotated_at: str | None = None
    previous_valid_until: str | None = None


class SecretRotated(BaseModel):
    secret: str
    previous_valid_until: str | None
    header_format: str = "X-Signature: sha256=<hex HMAC-SHA256(secret, '{X-Timestamp}.{raw body}')>"


@router.get("/api/companies/{company_id}/webhook-secret", response_model=SecretStatus)
async def secret_status(company_id: str, user: CurrentUser, db: SessionDep) -> SecretStatus:
    row = await signing.status(db, actor=user, company_id=company_id)
    if row is None:
        return SecretStatus(configured=False)
    until = row.previous_valid_until
    return SecretStatus(configured=True, rotated_at=row.rotated_at.isoformat(),
                        previous_valid_until=until.isoformat() if until else None)


@router.post("/api/companies/{company_id}/webhook-secret", response_model=SecretRotated)
async def rotate_secret(company_id: str, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep,
                        settings: SettingsDep) -> SecretRotated:
    """Create or rotate the signing secret; shown once. The previous secret stays valid for 24 h."""
    rotated = await signing.rotate(db, actor=user, clock=clock, server_secret=settings.secret(),
                                   company_id=company_id)
    await commit(request, db)
    until = rotated.previous_valid_until
    return SecretRotated(secret=rotated.secret, previous_valid_until=until.isoformat() if until else None)


@router.delete("/api/companies/{company_id}/webhook-secret", status_code=204)
async def remove_secret(company_id: str, request: Request, user: CurrentUser, db: SessionDep,
                        clock: ClockDep) -> None:
    await signing.remove(db, actor=user, clock=clock, company_id=company_id)
    await commit(request, db)
