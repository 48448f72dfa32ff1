"""Notifying people: the in-app bell, a private live event, and one delivery per email / Apprise target.

``notify`` works in the caller's transaction: bell rows, delivery rows and their durable ``notify.send`` jobs
land together with the change that caused them, or not at all. The send job (``notify.jobs``) does the
talking to mail servers and chat services, with retry and backoff.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth.models import Membership, User
from alertwhisperer.auth.principal import Principal
from alertwhisperer.clock import Clock
from alertwhisperer.correlation.models import Incident
from alertwhisperer.db import new_id
from alertwhisperer.errors import NotFound
from alertwhisperer.jobs import service as jobs
from alertwhisperer.notify import preferences
from alertwhisperer.notify.models import Notification, NotificationDelivery
from alertwhisperer.notify.templating import subject_for
from alertwhisperer.realtime.hub import Event, emit
from alertwhisperer.tenants.models import Company

SEND_JOB = "notify.send"
SEND_ATTEMPTS = 6
PENDING, SENT, FAILED, DEAD, SUPPRESSED = "pending", "sent", "failed", "dead", "suppressed"
FINAL = (SENT, DEAD, SUPPRESSED)
KINDS = ("assignment", "sla_warning", "sla_breach", "escalation", "resolved", "approval", "test")
DEFAULT_LIMIT = 20
MAX_LIMIT = 200


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _incident_facts(incident: Incident, company: Company | None) -> dict[str, Any]:
    return {"id": incident.id, "title": incident.title, "symptom": incident.symptom, "severity": incident.severity,
            "priority": incident.priority, "status": incident.status, "root_asset_name": incident.root_asset_name,
            "company_id": incident.company_id, "company": company.name if company else ""}


async def _recipients(session: AsyncSession, user_ids: Sequence[str], company_id: str | None) -> list[User]:
    """Active users, in the order given, each once; for a company's notification only those who cover it."""
    ids = list(dict.fromkeys(u for u in user_ids if u))
    if not ids:
        return []
    stmt = select(User).where(User.id.in_(ids), User.is_active.is_(True))
    if company_id is not None:
        covers = select(Membership.user_id).where(Membership.company_id == company_id)
        stmt = stmt.where(or_(User.role == "msp_admin", User.id.in_(covers)))
    found = {u.id: u for u in (await session.execute(stmt)).scalars()}
    return [found[i] for i in ids if i in found]


async def unread_count(session: AsyncSession, *, user_id: str) -> int:
    return int((await session.execute(select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None)))).scalar_one())


async def notify(session: AsyncSession, *, clock: Clock, kind: str, user_ids: Sequence[str], title: str,
                 body: str = "", severity: str = "info", incident: Incident | None = None,
                 company_id: str | None = None, url: str | None = None,
                 context: dict[str, Any] | None = None) -> list[Notification]:
    """Tell these users, each by the channels their preferences choose for ``severity``, in the caller's
    transaction. Unknown or inactive users, and users who do not cover the company, are skipped."""
    now = clock.now()
    severity = severity if severity in preferences.SEVERITIES else "info"
    company_id = incident.company_id if incident is not None else company_id
    users = await _recipients(session, user_ids, company_id)
    if not users:
        return []
    prefs = await preferences.rows_for(session, [u.id for u in users])
    company = await session.get(Company, company_id) if company_id else None
    path = url or (f"/incidents/{incident.id}" if incident is not None else "")
    facts = _incident_facts(incident, company) if incident is not None else None
    extra = _json_safe(context or {})
    created: list[Notification] = []
    for user in users:
        choice = preferences.effective(prefs.get(user.id))
        channels = choice.channels_for(severity)
        note = Notification(id=new_id(), user_id=user.id, company_id=company_id,
                            incident_id=incident.id if incident is not None else None, kind=kind[:30],
                            severity=severity, title=title[:300], body=body, url=path[:500], created_at=now)
        session.add(note)
        created.append(note)
        message = {"kind": kind, "severity": severity, "title": title, "body": body, "incident": facts,
                   "url": path, "recipient_name": user.name, "extra": extra, "by_default": choice.is_default}
        targets: list[tuple[str, str, str | None]] = []  # (channel, shown target, apprise target id)
        if "email" in channels:
            targets.append(("email", user.email, None))
        if "apprise" in channels:
            targets += [("apprise", t.label, t.id) for t in choice.apprise_targets]
        quiet = choice.quiet_reason(now, severity)
        for channel, shown, target_id in targets:
            delivery = NotificationDelivery(
                id=new_id(), company_id=company_id, incident_id=note.incident_id, user_id=user.id, kind=kind[:30],
                channel=channel, target=shown[:300], subject=subject_for(severity=severity, title=title),
                status=SUPPRESSED if quiet else PENDING, error=quiet, attempts=0, created_at=now,
                context={**message, "target_id": target_id})
            session.add(delivery)
            if quiet is None:
                await jobs.enqueue(session, kind=SEND_JOB, now=now, payload={"delivery_id": delivery.id},
                                   company_id=company_id, max_attempts=SEND_ATTEMPTS)
        await session.flush()
        emit(session, Event("notification.created", company_id, {
            "id": note.id, "kind": note.kind, "severity": severity, "title": note.title, "body": body[:300],
            "url": note.url, "incident_id": note.incident_id, "browser": "browser" in channels,
            "unread": await unread_count(session, user_id=user.id), "created_at": now.isoformat()},
            user_id=user.id))
    return created


# --- the bell ------------------------------------------------------------------------------------------------------
async def list_for(session: AsyncSession, *, actor: Principal, unread_only: bool = False,
                   limit: int = DEFAULT_LIMIT, before: datetime | None = None) -> list[Notification]:
    """The caller's own notifications, newest first."""
    stmt = select(Notification).where(Notification.user_id == actor.user_id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    if before is not None:
        stmt = stmt.where(Notification.created_at < before)
    stmt = stmt.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(max(1, min(limit, MAX_LIMIT)))
    return list((await session.execute(stmt)).scalars())


def _read_event(session: AsyncSession, actor: Principal, unread: int, ids: list[str] | None) -> None:
    emit(session, Event("notification.read", None, {"ids": ids, "unread": unread}, user_id=actor.user_id))


async def mark_read(session: AsyncSession, *, actor: Principal, clock: Clock, notification_id: str) -> Notification:
    """Mark one of the caller's notifications read (someone else's is not found)."""
    note = await session.get(Notification, notification_id)
    if note is None or note.user_id != actor.user_id:
        raise NotFound("notification not found")
    if note.read_at is None:
        note.read_at = clock.now()
        await session.flush()
        _read_event(session, actor, await unread_count(session, user_id=actor.user_id), [note.id])
    return note


async def mark_all_read(session: AsyncSession, *, actor: Principal, clock: Clock) -> int:
    result = await session.execute(update(Notification).where(
        Notification.user_id == actor.user_id, Notification.read_at.is_(None)).values(read_at=clock.now()))
    marked = int(result.rowcount)  # type: ignore[attr-defined]
    _read_event(session, actor, 0, None)
    return marked


async def send_test(session: AsyncSession, *, actor: Principal, clock: Clock, severity: str = "critical"
                    ) -> list[Notification]:
    """A test notification to the caller over every channel their preferences choose for ``severity``."""
    return await notify(session, clock=clock, kind="test", user_ids=[actor.user_id], severity=severity,
                        title="Test notification from Alert Whisperer",
                        body="Your notification settings work for this channel.", url="/notifications")


# --- the delivery log ------------------------------------------------------------------------------------------------
async def deliveries_for(session: AsyncSession, *, actor: Principal, incident_id: str,
                         limit: int = 200) -> list[NotificationDelivery]:
    """Who was told what about an incident, by which channel, and how it went (newest first). Anyone who sees
    the incident's company may read it."""
    incident = await session.get(Incident, incident_id)
    if incident is None:
        raise NotFound("incident not found")
    actor.require_company(incident.company_id, "incident")
    rows = await session.execute(select(NotificationDelivery).where(NotificationDelivery.incident_id == incident_id)
                                 .order_by(NotificationDelivery.created_at.desc(), NotificationDelivery.id.desc())
                                 .limit(limit))
    return list(rows.scalars())
