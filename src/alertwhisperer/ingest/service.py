"""Accept a webhook delivery: authenticate, parse with the tool's adapter, persist durably, dedupe.

The answer is 2xx only after the delivery, its alerts, its idempotency key and its inbox job are
committed in one transaction. Processing (correlation) runs later from the inbox job.

Two ways in: the webhook endpoint hands parsed deliveries to the group-commit writer (``writer.py``:
many requests per transaction); ``accept`` stores one delivery in the caller's session and
transaction (heartbeats, test alerts). Both keep the same rows and guarantees.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.clock import Clock
from alertwhisperer.errors import DomainError, Invalid, NotFound, Unauthenticated
from alertwhisperer.ingest import adapters
from alertwhisperer.ingest.adapters.base import Adapter, AdapterError, header
from alertwhisperer.ingest.models import Alert, Delivery, IdempotencyKey
from alertwhisperer.ingest.schemas import ParseResult
from alertwhisperer.jobs import service as jobs
from alertwhisperer.tenants.models import Company
from alertwhisperer.tenants.service import company_for_api_key

log = structlog.get_logger(__name__)

IDEMPOTENCY_TTL = timedelta(hours=24)
MISSING_KEY = "missing API key: send it in the X-API-Key header, as Authorization: Bearer aw_…, or as ?api_key="
PROCESS_JOB = "ingest.process"
KEPT_HEADERS = ("content-type", "user-agent", "x-delivery-id", "x-timestamp", "x-amz-sns-message-type",
                "x-amz-sns-message-id", "sentry-hook-resource", "x-request-id")


class PayloadTooLarge(DomainError):
    status_code = 413
    code = "payload_too_large"


@dataclass(frozen=True)
class Accepted:
    delivery_id: str
    alert_ids: list[str]
    duplicate: bool
    company_id: str
    control: str | None = None


def api_key_from(headers: Mapping[str, str], query_key: str | None) -> str | None:
    """The company key: ``X-API-Key`` (preferred), ``Authorization: Bearer aw_…`` (what Alertmanager's and
    Grafana's ``authorization`` settings send), else ``?api_key=`` for tools that cannot set headers."""
    given = header(headers, "x-api-key")
    if given:
        return given.strip()
    auth = header(headers, "authorization") or ""
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip().startswith("aw_"):
        return token.strip()
    return query_key


async def authenticate(session: AsyncSession, *, api_key: str | None) -> Company:
    if not api_key:
        raise Unauthenticated(MISSING_KEY)
    company = await company_for_api_key(session, api_key=api_key)
    if company is None:
        raise Unauthenticated("invalid API key")
    return company


def adapter_for(source: str) -> Adapter:
    adapter = adapters.get(source)
    if adapter is None:
        raise NotFound(f"unknown source {source!r}; known sources: {', '.join(adapters.all_keys())}")
    return adapter


def parse(source: str, body: bytes, headers: Mapping[str, str]) -> ParseResult:
    adapter = adapter_for(source)
    if not body.strip():
        raise Invalid("empty body")
    try:
        return adapter.parse(body, headers)
    except AdapterError as exc:
        raise Invalid(f"{source} payload rejected: {exc}") from exc
    except Exception as exc:  # an adapter bug must not turn bad input into a 500: report and refuse
        log.exception("ingest.adapter_crashed", source=source)
        raise Invalid(f"{source} payload could not be read ({type(exc).__name__})") from exc


def header_key(headers: Mapping[str, str]) -> str | None:
    """The idempotency key given as ``X-Delivery-ID`` (known before the body is read), if any."""
    given = header(headers, "x-delivery-id")
    return "hdr:" + given.strip()[:190] if given else None


def idempotency_key(headers: Mapping[str, str], result: ParseResult) -> str | None:
    """X-Delivery-ID wins; else the tool's own stable id of this notification, when every alert has one."""
    given = header_key(headers)
    if given:
        return given
    ids = [a.delivery_id for a in result.alerts]
    if ids and all(ids):
        return "tool:" + "|".join(sorted(set(str(i) for i in ids)))[:190]
    return None


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The request headers stored with a delivery (never the API key or the signature)."""
    return {h: v for h in KEPT_HEADERS if (v := header(headers, h)) is not None}


def alert_fields(result: ParseResult) -> list[dict[str, Any]]:
    """Column values of each parsed alert (ids, delivery and position are added when stored).

    The validated model's own field values (``vars``), not ``model_dump``: the fields are flat (the labels
    dict is stored as JSON, never changed), and for a 50-alert batch the dump's copying showed in profiles."""
    out = []
    for alert in result.alerts:
        fields = dict(vars(alert))
        del fields["delivery_id"]
        out.append(fields)
    return out


async def _replay_of(session: AsyncSession, company_id: str, key: str, clock: Clock) -> Accepted | None:
    row = await session.get(IdempotencyKey, (company_id, key))
    if row is None:
        return None
    if row.expires_at <= clock.now():
        await session.delete(row)
        await session.flush()
        return None
    delivery = await session.get(Delivery, row.delivery_id)
    if delivery is None:
        return None
    return Accepted(delivery.id, list(delivery.alert_ids), True, company_id)


async def accept(session: AsyncSession, *, clock: Clock, company: Company, source: str, body: bytes,
                 headers: Mapping[str, str], result: ParseResult) -> Accepted:
    """Persist the delivery and its alerts in the caller's transaction (the caller commits, then answers)."""
    key = idempotency_key(headers, result)
    if key is not None:
        previous = await _replay_of(session, company.id, key, clock)
        if previous is not None:
            return previous
    now = clock.now()
    kept = kept_headers(headers)
    delivery = Delivery(company_id=company.id, source=source, received_at=now, idempotency_key=key,
                        content_type=kept.get("content-type"), body=body, headers=kept,
                        control=result.control.model_dump(mode="json") if result.control else None)
    session.add(delivery)
    await session.flush()
    rows = [Alert(company_id=company.id, delivery_id=delivery.id, position=i, received_at=now, **fields)
            for i, fields in enumerate(alert_fields(result))]
    session.add_all(rows)
    await session.flush()
    delivery.alert_ids = [r.id for r in rows]
    if key is not None:
        try:
            async with session.begin_nested():
                session.add(IdempotencyKey(company_id=company.id, key=key, delivery_id=delivery.id,
                                           expires_at=now + IDEMPOTENCY_TTL))
        except IntegrityError:
            # A concurrent delivery with the same key committed first: answer as its repeat.
            await session.rollback()
            previous = await _replay_of(session, company.id, key, clock)
            if previous is None:
                raise
            return previous
    await jobs.enqueue(session, kind=PROCESS_JOB, now=now, company_id=company.id,
                       payload={"delivery_id": delivery.id})
    return Accepted(delivery.id, delivery.alert_ids, False, company.id,
                    result.control.kind if result.control else None)


async def purge_expired_keys(session: AsyncSession, *, clock: Clock) -> int:
    result = await session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at <= clock.now()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def list_alerts(session: AsyncSession, *, company_ids: list[str] | None, limit: int = 100) -> list[Alert]:
    stmt = select(Alert).order_by(Alert.received_at.desc(), Alert.position).limit(limit)
    if company_ids is not None:
        stmt = stmt.where(Alert.company_id.in_(company_ids))
    return list((await session.execute(stmt)).scalars().all())
