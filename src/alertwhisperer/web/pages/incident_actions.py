"""The incident page's actions (acknowledge, start, resolve, close, reopen, note, assign, auto-assign, merge,
split) and the list's bulk bar, as console forms.

Without JavaScript a form posts and is redirected back with a flash message. With HTMX (``HX-Request``) the answer
is the incident page itself, whose ``#incident-main`` the form swaps in, and an ``aw-flash`` trigger the page's
script shows as a toast. A refused action (wrong status, bad input) comes back as an error flash (or an error
toast); an incident outside the caller's companies is 404 either way.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth.principal import Principal
from alertwhisperer.clock import Clock
from alertwhisperer.correlation.models import Incident
from alertwhisperer.deps import ClockDep, CurrentUser, SessionDep, commit
from alertwhisperer.errors import Conflict, Invalid
from alertwhisperer.incidents import service
from alertwhisperer.web.forms import Form
from alertwhisperer.web.templating import redirect, templates

router = APIRouter()
Action = Callable[[Form], Awaitable[tuple[str, str]]]  # -> (the incident to show, the message)


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true" and not request.headers.get("hx-boosted")


async def _run(request: Request, db: AsyncSession, user: Principal, clock: Clock, incident_id: str,
               action: Action) -> Response:
    from alertwhisperer.web.pages.incidents import render_detail

    form = await Form.read(request)
    try:
        shown, message = await action(form)
    except (Conflict, Invalid) as exc:
        await db.rollback()
        if _is_htmx(request):
            raise
        return redirect(f"/incidents/{incident_id}", exc.message[:1].upper() + exc.message[1:], "error")
    await commit(request, db)
    if _is_htmx(request):
        trigger = json.dumps({"aw-flash": {"message": message, "kind": "success"}})
        response = await render_detail(request, db, user, clock.now(), shown, headers={"HX-Trigger": trigger})
        if shown != incident_id:
            response.headers["HX-Push-Url"] = f"/incidents/{shown}"
        return response
    return redirect(f"/incidents/{shown}", message)


def _simple(verb: str, done: str) -> Callable[..., Awaitable[Response]]:
    async def route(incident_id: str, request: Request, user: CurrentUser, db: SessionDep,
                    clock: ClockDep) -> Response:
        async def act(form: Form) -> tuple[str, str]:
            fn = getattr(service, verb)
            kwargs = {"note": form.text("note")} if verb in ("resolve", "reopen") else {}
            before = await db.get(Incident, incident_id)
            status = before.status if before is not None else ""
            incident: Incident = await fn(db, actor=user, clock=clock, incident_id=incident_id, **kwargs)
            same = incident.status == status and verb != "add_note"
            return incident.id, f"Nothing to do: the incident is already {incident.status.replace('_', ' ')}." \
                if same else done
        return await _run(request, db, user, clock, incident_id, act)
    route.__name__ = f"incident_{verb}_form"
    return route


for _path, _verb, _done in (("acknowledge", "acknowledge", "Acknowledged. The response time is recorded."),
                            ("start", "start_work", "Work started."),
                            ("resolve", "resolve", "Resolved."),
                            ("close", "close", "Closed."),
                            ("reopen", "reopen", "Reopened: the SLA starts again.")):
    router.add_api_route(f"/incidents/{{incident_id}}/{_path}", _simple(_verb, _done), methods=["POST"])


@router.post("/incidents/{incident_id}/notes")
async def note_form(incident_id: str, request: Request, user: CurrentUser, db: SessionDep,
                    clock: ClockDep) -> Response:
    async def act(form: Form) -> tuple[str, str]:
        await service.add_note(db, actor=user, clock=clock, incident_id=incident_id, body=form.raw("body"))
        return incident_id, "Note added."
    return await _run(request, db, user, clock, incident_id, act)


@router.post("/incidents/{incident_id}/assign")
async def assign_form(incident_id: str, request: Request, user: CurrentUser, db: SessionDep,
                      clock: ClockDep) -> Response:
    async def act(form: Form) -> tuple[str, str]:
        choice = form.text("user_id")
        user_id = user.user_id if choice == "me" else (choice or None)
        incident = await service.assign(db, actor=user, clock=clock, incident_id=incident_id, user_id=user_id)
        if incident.assignee_id is None:
            return incident.id, "Unassigned."
        return incident.id, "Assigned to you." if incident.assignee_id == user.user_id else "Assigned."
    return await _run(request, db, user, clock, incident_id, act)


@router.post("/incidents/{incident_id}/auto-assign")
async def auto_assign_form(incident_id: str, request: Request, user: CurrentUser, db: SessionDep,
                           clock: ClockDep) -> Response:
    async def act(form: Form) -> tuple[str, str]:
        result = await service.auto_assign(db, actor=user, clock=clock, incident_id=incident_id)
        if result.assigned:
            return incident_id, f"Auto-assigned: {result.reason}" if result.reason else "Auto-assigned."
        if result.user_id is not None:
            return incident_id, "Automatic assignment chose the current assignee again."
        raise Conflict(f"Nobody was assigned: {result.reason}")
    return await _run(request, db, user, clock, incident_id, act)


@router.post("/incidents/{incident_id}/merge")
async def merge_form(incident_id: str, request: Request, user: CurrentUser, db: SessionDep,
                     clock: ClockDep) -> Response:
    async def act(form: Form) -> tuple[str, str]:
        typed = form.text("q").lower()
        into = form.text("into") or (typed if len(typed) >= 16 and all(c in "0123456789abcdef" for c in typed) else "")
        if not into:
            raise Invalid("choose the incident to merge this one into", field="into")
        target = await service.merge(db, actor=user, clock=clock, incident_id=incident_id, into=into)
        return target.id, "Merged: this is the incident both are now part of."
    return await _run(request, db, user, clock, incident_id, act)


@router.post("/incidents/{incident_id}/split")
async def split_form(incident_id: str, request: Request, user: CurrentUser, db: SessionDep,
                     clock: ClockDep) -> Response:
    async def act(form: Form) -> tuple[str, str]:
        new = await service.split(db, actor=user, clock=clock, incident_id=incident_id,
                                  alert_ids=form.many("alert_ids"), title=form.text("title"))
        return new.id, "Split off into this new incident."
    return await _run(request, db, user, clock, incident_id, act)


@router.get("/incidents/{incident_id}/merge-targets")
async def merge_targets(incident_id: str, request: Request, user: CurrentUser, db: SessionDep,
                        q: str = "") -> Response:
    """The merge picker's options (an HTMX fragment): incidents of the same company matching ``q``."""
    from alertwhisperer.correlation import queries
    from alertwhisperer.web.pages.incidents import merge_candidates

    incident, _ = await queries.get_incident(db, actor=user, incident_id=incident_id)
    rows = await merge_candidates(db, user, incident, q[:200])
    return templates.TemplateResponse(request, "incidents/_merge_targets.html",
                                      {"candidates": rows, "i": incident, "q": q[:200]})


@router.post("/incidents/bulk")
async def bulk_form(request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep) -> Response:
    """The list's bulk bar: acknowledge, resolve or assign the ticked incidents; back to the list with a summary."""
    form = await Form.read(request)
    back = form.text("next")
    back = back if back.startswith("/incidents") and not back.startswith("//") else "/incidents"
    action = form.text("action")
    choice = form.text("user_id")
    try:
        results = await service.bulk(db, actor=user, clock=clock, action=action, incident_ids=form.many("incident_ids"),
                                     user_id=user.user_id if choice == "me" else (choice or None))
    except Invalid as exc:
        return redirect(back, exc.message[:1].upper() + exc.message[1:], "error")
    await commit(request, db)
    ok = [r for r in results if r.ok]
    failed = [r for r in results if not r.ok]
    verb = {"acknowledge": "acknowledged", "resolve": "resolved", "assign": "assigned"}[action]
    message = f"{len(ok)} incident{'' if len(ok) == 1 else 's'} {verb}."
    if failed:
        reasons = sorted({r.error for r in failed})
        message += f" {len(failed)} could not be: " + "; ".join(reasons[:3]) + ("…" if len(reasons) > 3 else "")
    return redirect(back, message, "error" if failed and not ok else ("info" if failed else "success"))
