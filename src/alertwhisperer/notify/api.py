"""Routes (thin: validate, call the service, map errors): the bell, preferences, the per-incident delivery log.

Every user sees and marks only their own notifications (another user's id is 404). Apprise URLs are write-only.
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request

from alertwhisperer.deps import ClockDep, CurrentUser, SessionDep, SettingsDep, commit
from alertwhisperer.notify import preferences, service
from alertwhisperer.notify.schemas import (
    DeliveryOut,
    MarkedRead,
    NotificationOut,
    PreferencesIn,
    PreferencesOut,
    TestRequest,
    UnreadCount,
)

router = APIRouter(prefix="/api", tags=["notifications"])


@router.get("/notifications", response_model=list[NotificationOut])
async def list_notifications(user: CurrentUser, db: SessionDep, unread: bool = False,
                             limit: int = Query(default=service.DEFAULT_LIMIT, ge=1, le=service.MAX_LIMIT)
                             ) -> list[NotificationOut]:
    """Your notifications, newest first (``unread=1``: only the unread ones)."""
    rows = await service.list_for(db, actor=user, unread_only=unread, limit=limit)
    return [NotificationOut.model_validate(r) for r in rows]


@router.get("/notifications/unread-count", response_model=UnreadCount)
async def unread_count(user: CurrentUser, db: SessionDep) -> UnreadCount:
    return UnreadCount(unread=await service.unread_count(db, user_id=user.user_id))


@router.post("/notifications/read-all", response_model=MarkedRead)
async def read_all(request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep) -> MarkedRead:
    marked = await service.mark_all_read(db, actor=user, clock=clock)
    await commit(request, db)
    return MarkedRead(marked=marked, unread=0)


@router.post("/notifications/{notification_id}/read", response_model=NotificationOut)
async def read_one(notification_id: str, request: Request, user: CurrentUser, db: SessionDep,
                   clock: ClockDep) -> NotificationOut:
    note = await service.mark_read(db, actor=user, clock=clock, notification_id=notification_id)
    out = NotificationOut.model_validate(note)
    await commit(request, db)
    return out


@router.get("/notifications/preferences", response_model=PreferencesOut)
async def get_preferences(user: CurrentUser, db: SessionDep) -> PreferencesOut:
    """Your channels per severity, quiet hours and Apprise targets (redacted: the URLs are never shown)."""
    return (await preferences.get(db, actor=user)).out()


@router.put("/notifications/preferences", response_model=PreferencesOut)
async def put_preferences(body: PreferencesIn, request: Request, user: CurrentUser, db: SessionDep,
                          clock: ClockDep, settings: SettingsDep) -> PreferencesOut:
    prefs = await preferences.update(db, actor=user, clock=clock, server_secret=settings.secret(), data=body)
    await commit(request, db)
    return prefs.out()


@router.post("/notifications/test", response_model=list[NotificationOut], status_code=202)
async def send_test(request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep,
                    body: TestRequest | None = None) -> list[NotificationOut]:
    """Send yourself a test notification over the channels you chose for ``severity`` (default critical)."""
    notes = await service.send_test(db, actor=user, clock=clock, severity=(body or TestRequest()).severity)
    out = [NotificationOut.model_validate(n) for n in notes]
    await commit(request, db)
    return out


@router.get("/incidents/{incident_id}/notifications", response_model=list[DeliveryOut])
async def incident_deliveries(incident_id: str, user: CurrentUser, db: SessionDep) -> list[DeliveryOut]:
    """The incident's delivery log: who was notified, by which channel, and whether it went out."""
    rows = await service.deliveries_for(db, actor=user, incident_id=incident_id)
    return [DeliveryOut.model_validate(r) for r in rows]
