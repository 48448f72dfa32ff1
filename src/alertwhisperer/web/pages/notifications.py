"""The notifications page (the list, mark read, preferences) and the bell's dropdown partial."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth.principal import Principal
from alertwhisperer.deps import CSRF_COOKIE, ClockDep, CurrentUser, SessionDep, SettingsDep, commit
from alertwhisperer.errors import Invalid
from alertwhisperer.notify import preferences, service
from alertwhisperer.notify.channels.apprise_channel import EXAMPLES
from alertwhisperer.notify.schemas import PreferencesIn, QuietHours
from alertwhisperer.tenants import service as tenants
from alertwhisperer.web.forms import Form, FormErrors, validation_errors
from alertwhisperer.web.pages.companies import timezones
from alertwhisperer.web.templating import page, redirect, templates

router = APIRouter()

SEVERITY_LABELS = [("critical", "Critical"), ("high", "High"), ("medium", "Medium"), ("low", "Low"),
                   ("info", "Info")]
CHANNEL_LABELS = [("inapp", "Bell", "Always on: the bell in the top bar"),
                  ("browser", "Browser", "A desktop notification while the console is open"),
                  ("email", "Email", "To your login address"),
                  ("apprise", "Chat & SMS", "Every Apprise URL below: Slack, Teams, Telegram, Discord, SMS…")]
BELL_ITEMS = 8


def _values(prefs: preferences.Preferences) -> dict[str, Any]:
    quiet = prefs.quiet_hours
    return {"channels": prefs.channels, "quiet_enabled": quiet is not None,
            "quiet_start": quiet.start if quiet else "22:00", "quiet_end": quiet.end if quiet else "07:00",
            "quiet_timezone": quiet.timezone if quiet else "UTC", "add_apprise_urls": ""}


def _form_values(form: Form) -> dict[str, Any]:
    return {"channels": {s: [*form.many(f"channels.{s}"), "inapp"] for s, _ in SEVERITY_LABELS},
            "quiet_enabled": form.checked("quiet_enabled"), "quiet_start": form.text("quiet_start"),
            "quiet_end": form.text("quiet_end"), "quiet_timezone": form.text("quiet_timezone"),
            "add_apprise_urls": form.raw("add_apprise_urls")}


def _data(form: Form) -> PreferencesIn:
    quiet = None
    if form.checked("quiet_enabled"):
        try:
            quiet = QuietHours(start=form.text("quiet_start"), end=form.text("quiet_end"),
                               timezone=form.text("quiet_timezone") or "UTC")
        except ValidationError as exc:
            errors = validation_errors(exc, aliases={"start": "quiet_start", "end": "quiet_end",
                                                     "timezone": "quiet_timezone", "__all__": "quiet_start"})
            field, message = next(iter(errors.items()))
            raise Invalid(message, field=field) from None
    channels = {s: [c for c in form.many(f"channels.{s}") if c in preferences.CHANNELS] for s, _ in SEVERITY_LABELS}
    urls = [u.strip() for u in form.raw("add_apprise_urls").splitlines() if u.strip()]
    return PreferencesIn.model_validate({"channels": channels, "quiet_hours": quiet, "add_apprise_urls": urls,
                                         "remove_apprise_ids": form.many("remove_apprise")})


async def _page(request: Request, db: AsyncSession, user: Principal, *, unread_only: bool = False,
                values: dict[str, Any] | None = None, errors: FormErrors | None = None,
                status_code: int = 200) -> Response:
    prefs = await preferences.get(db, actor=user)
    notes = await service.list_for(db, actor=user, unread_only=unread_only, limit=100)
    unread = await service.unread_count(db, user_id=user.user_id)
    return await page(request, db, user, "notifications/index.html", {
        "notes": notes, "unread": unread, "unread_only": unread_only, "prefs": prefs,
        "values": values or _values(prefs), "errors": errors or {}, "severities": SEVERITY_LABELS,
        "channel_labels": CHANNEL_LABELS, "examples": EXAMPLES, "timezones": timezones(),
    }, status_code=status_code, section="notifications")


@router.get("/notifications")
async def notifications_page(request: Request, user: CurrentUser, db: SessionDep, unread: bool = False) -> Response:
    return await _page(request, db, user, unread_only=unread)


@router.post("/notifications/preferences")
async def save_preferences(request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep,
                           settings: SettingsDep) -> Response:
    form = await Form.read(request)
    try:
        await preferences.update(db, actor=user, clock=clock, server_secret=settings.secret(), data=_data(form))
    except Invalid as exc:
        await db.rollback()
        field = {"apprise_urls": "add_apprise_urls"}.get(exc.field or "", exc.field or "__all__")
        return await _page(request, db, user, values=_form_values(form), errors={field: exc.message},
                           status_code=422)
    except ValidationError as exc:
        await db.rollback()
        return await _page(request, db, user, values=_form_values(form),
                           errors={"__all__": "; ".join(validation_errors(exc).values())}, status_code=422)
    await commit(request, db)
    return redirect("/notifications#preferences", "Notification preferences saved.")


@router.post("/notifications/test")
async def send_test(request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep) -> Response:
    await service.send_test(db, actor=user, clock=clock, severity="critical")
    await commit(request, db)
    return redirect("/notifications#preferences", "Test notification sent over every channel you chose for "
                                                  "critical. Email and chat arrive within a minute.", "info")


@router.post("/notifications/read-all")
async def read_all(request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep) -> Response:
    marked = await service.mark_all_read(db, actor=user, clock=clock)
    await commit(request, db)
    return redirect("/notifications", f"{marked} notification{'s' if marked != 1 else ''} marked read.")


@router.post("/notifications/{notification_id}/read")
async def read_one(notification_id: str, request: Request, user: CurrentUser, db: SessionDep,
                   clock: ClockDep) -> Response:
    await service.mark_read(db, actor=user, clock=clock, notification_id=notification_id)
    await commit(request, db)
    return redirect("/notifications")


@router.get("/notifications/list")
async def list_partial(request: Request, user: CurrentUser, db: SessionDep, unread: bool = False) -> Response:
    """The inbox card alone (refreshed live when a notification arrives or is read elsewhere)."""
    notes = await service.list_for(db, actor=user, unread_only=unread, limit=100)
    companies = await tenants.list_companies(db, actor=user)
    response = templates.TemplateResponse(request, "notifications/_list.html", {
        "notes": notes, "unread": await service.unread_count(db, user_id=user.user_id), "unread_only": unread,
        "company_names": {c.id: c.name for c in companies}, "csrf_token": request.cookies.get(CSRF_COOKIE, "")})
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/notifications/bell")
async def bell_menu(request: Request, user: CurrentUser, db: SessionDep) -> Response:
    """The bell's dropdown: the latest notifications and the unread count."""
    notes = await service.list_for(db, actor=user, limit=BELL_ITEMS)
    unread = await service.unread_count(db, user_id=user.user_id)
    response = templates.TemplateResponse(request, "notifications/_bell_menu.html",
                                          {"notes": notes, "unread": unread})
    response.headers["Cache-Control"] = "no-store"
    return response
