"""Incidents: the live, filterable list of what correlation grouped alerts into, and one incident's detail
(why it opened, why each alert joined, its priority breakdown)."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth.principal import Principal
from alertwhisperer.correlation import queries
from alertwhisperer.correlation.models import Incident, IncidentAlert
from alertwhisperer.deps import ClockDep, CurrentUser, SessionDep
from alertwhisperer.errors import DomainError
from alertwhisperer.incidents import service, sla
from alertwhisperer.incidents import timeline as incident_timeline
from alertwhisperer.incidents.history import merged_history
from alertwhisperer.ingest.models import Alert
from alertwhisperer.notify import service as notify_service
from alertwhisperer.tenants import service as tenants
from alertwhisperer.web.listing import PAGE_SIZE, list_partial, page_limit
from alertwhisperer.web.pages import chat as chat_page
from alertwhisperer.web.pages import incident_actions
from alertwhisperer.web.pages.alerts import tool_names
from alertwhisperer.web.templating import page, selected_company, templates

router = APIRouter()
router.include_router(incident_actions.router)  # the page's actions and the list's bulk bar
PUSHING = ("incident-filters", "load-more")  # elements whose requests change the page's URL
SORT_LABELS = {"priority": "Priority", "last_seen": "Last activity", "first_seen": "Newest", "severity": "Severity"}
RULE_LABELS = {
    "new": "New incident", "identity": "Same alert", "key": "Same grouping key", "reopen": "Reopened",
    "refire": "Fired again", "related_symptom": "Related symptom", "topology": "Topology (depends on)",
    "storm": "Alert storm", "flapping": "Flapping", "maintenance": "Maintenance", "orphan_resolve": "Orphan resolve",
}
KIND_LABELS = {"new_incident": "opened", "correlated": "joined", "duplicate": "repeat", "resolved": "cleared",
               "flapping": "flapping", "suppressed": "suppressed"}
COMPONENT_LABELS = {"severity": "Severity", "critical_asset": "Critical asset", "duplicates": "Duplicates",
                    "multi_tool": "Multi-tool", "age": "Age"}


def duration(seconds: float | None) -> str:
    """A short human duration: 45 s, 12 min, 3 h 5 min, 2 d 4 h."""
    if seconds is None:
        return "—"
    s = int(abs(seconds))
    if s < 90:
        return f"{s} s"
    if s < 3600:
        return f"{round(s / 60)} min"
    if s < 86400:
        return f"{s // 3600} h" + (f" {s % 3600 // 60} min" if s % 3600 // 60 else "")
    return f"{s // 86400} d" + (f" {s % 86400 // 3600} h" if s % 86400 // 3600 else "")


class Readable:
    """Makes stored correlation wording readable: asset ids (in keys) become asset names, and the incident's own
    id becomes "this incident"."""

    def __init__(self, incident_id: str, names: dict[str, str]) -> None:
        self.incident_id = incident_id
        self.names = {k: v for k, v in names.items() if len(k) >= 8 and k != v}  # ids only, never short words

    def __call__(self, text: str) -> str:
        text = text.replace(f"New incident {self.incident_id}", "New incident")
        text = text.replace(f"incident {self.incident_id}", "this incident")
        for key, name in self.names.items():
            if key in text:
                text = text.replace(key, name)
        return text


def facts(explanation: dict[str, Any], readable: Readable | None = None) -> list[tuple[str, str]]:
    """The parts of a correlation explanation worth showing, as (label, text), in a stable order."""
    out = _facts(explanation or {})
    return [(label, readable(text)) for label, text in out] if readable else out


def _facts(e: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if e.get("rule"):
        out.append(("Rule", RULE_LABELS.get(str(e["rule"]), str(e["rule"]))))
    if e.get("key"):
        out.append(("Key", str(e["key"])))
    if e.get("incident_key") and e.get("incident_key") != e.get("key"):
        out.append(("Incident key", str(e["incident_key"])))
    if e.get("time_gap_seconds") is not None:
        out.append(("Time gap", duration(float(e["time_gap_seconds"]))))
    if e.get("window_seconds") is not None:
        out.append(("Window", duration(float(e["window_seconds"]))))
    path = e.get("topology_path_text") or " → ".join(str(p) for p in e.get("topology_path") or [])
    if path:
        out.append(("Topology path", str(path)))
    if e.get("storm_assets"):
        out.append(("Storm", f"{e['storm_assets']} assets"))
    if e.get("asset"):
        matched = f" (matched by {e['asset_matched_by']})" if e.get("asset_matched_by") else ""
        out.append(("Asset", f"{e['asset']}{matched}"))
    if e.get("symptom"):
        rule = f" (rule {e['symptom_rule']})" if e.get("symptom_rule") not in (None, "", e["symptom"]) else ""
        out.append(("Symptom", f"{e['symptom']}{rule}"))
    if e.get("root_cause"):
        out.append(("Root cause", str(e["root_cause"])))
    if e.get("merged"):
        out.append(("Merged", ", ".join(str(m) for m in e["merged"])))
    if e.get("maintenance_window"):
        out.append(("Maintenance", str(e["maintenance_window"])))
    if e.get("notes"):
        out.append(("Notes", "; ".join(str(n) for n in e["notes"])))
    return out


@dataclass(frozen=True)
class TimelineRow:
    link: IncidentAlert
    alert: Alert
    kind_label: str
    rule: str
    reason: str
    facts: list[tuple[str, str]]
    gap_from_first: float  # seconds since the incident's first alert joined


def timeline_rows(timeline: list[tuple[IncidentAlert, Alert]], readable: Readable) -> list[TimelineRow]:
    first = timeline[0][0].joined_at if timeline else None
    rows = []
    for link, alert in timeline:
        rule = str((link.explanation or {}).get("rule", ""))
        gap = (link.joined_at - first).total_seconds() if first else 0.0
        label = KIND_LABELS.get(link.kind, link.kind)
        if link.kind == "new_incident" and alert.opened_incident_id not in (None, readable.incident_id):
            label = "opened, merged in"  # it opened an incident that was folded into this one later
        rows.append(TimelineRow(link, alert, label, rule, readable(link.reason),
                                facts(link.explanation, readable), gap))
    return rows


def _url(params: dict[str, object]) -> str:
    return "/incidents" + ("?" + urlencode(params) if params else "")


ASSIGNEE_LABELS = {"": "Anyone", "me": "Me", queries.UNASSIGNED: "Nobody (unassigned)"}


def sla_cell(incident: Incident, now: datetime) -> dict[str, Any] | None:
    """The SLA target that matters now (response while new, then resolution) as ``incidents.sla.sla_status``
    describes it; None without deadlines."""
    data: dict[str, Any] = sla.sla_status(incident, now)
    if not data.get("enabled"):
        return None
    for name in ("response", "resolution"):
        target = data.get(name)
        if target and target.get("state") == "breached":
            return dict(target)
    key = "response" if incident.status == "new" and data.get("response") else "resolution"
    target = data.get(key) or data.get("response")
    return dict(target) if target else None


@router.get("/incidents")
async def incident_list(request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep) -> Response:
    q = request.query_params
    companies = await tenants.list_companies(db, actor=user)
    if "company_id" in q:
        company_id = q.get("company_id", "")
        if company_id:
            user.require_company(company_id)  # a company outside the caller's scope: 404, as on the alerts page
    else:
        current = selected_company(request, user, companies)
        company_id = current.id if current else ""
    mine = q.get("mine", "") in ("1", "true", "on") or q.get("assignee") == "me"
    assignee = "me" if mine else q.get("assignee", "").strip()[:64]
    flt = queries.IncidentFilter(company_id=company_id, status=q.get("status", ""), severity=q.get("severity", ""),
                                 q=q.get("q", ""), sort=q.get("sort", "priority"),
                                 assignee=user.user_id if mine else assignee).cleaned()
    limit = page_limit(q.get("limit", str(PAGE_SIZE)), queries.MAX_LIMIT)
    rows = await queries.search_incidents(db, actor=user, flt=flt, limit=limit)
    total = await queries.count_incidents(db, actor=user, flt=flt)
    params = {"company_id": flt.company_id, "status": flt.status, "severity": flt.severity, "q": flt.q,
              "sort": flt.sort, "assignee": assignee}
    active = {k: v for k, v in params.items() if v and k != "company_id" and not (k == "sort" and v == "priority")}
    if "company_id" in q:  # chosen on this page (may be "" = all), over the switcher's default
        active = {"company_id": flt.company_id, **active}
    ctx: dict[str, Any] = {
        "rows": rows, "total": total, "limit": limit, "filters": params, "flt": flt, "now": clock.now(),
        "tools": tool_names(), "severities": queries.SEVERITY_ORDER, "statuses": queries.STATUSES,
        "sorts": SORT_LABELS, "filter_companies": companies, "company_names": {c.id: c.name for c in companies},
        "company": next((c for c in companies if c.id == flt.company_id), None),
        "self_url": _url({**active, **({"limit": limit} if limit != PAGE_SIZE else {})}),
        "more_url": _url({**active, "limit": limit + PAGE_SIZE}),
        "live_filter": json.dumps({"company_id": flt.company_id}),
        "first_company": companies[0] if companies else None, "duration": duration,
        "mine": mine, "assignee_labels": ASSIGNEE_LABELS, "sla_cell": sla_cell,
        "assignees": await queries.user_names(db, (r.assignee_id for r in rows)),
        "bulk_people": await _bulk_people(db, user, flt.company_id),
    }
    if list_partial(request, "incidents-list"):
        response = templates.TemplateResponse(request, "incidents/_list.html", ctx)
        response.headers["Cache-Control"] = "no-store"
        response.headers["Vary"] = "HX-Request, HX-Target"
        if request.headers.get("hx-trigger") in PUSHING:  # the address bar shows the clean filter URL
            response.headers["HX-Push-Url"] = ctx["self_url"]
        return response
    return await page(request, db, user, "incidents/list.html", ctx, section="my-incidents" if mine else "incidents")


async def _bulk_people(db: AsyncSession, user: Principal, company_id: str) -> list[Any]:
    """Whom the bulk bar can assign to: the people covering the chosen company (everyone covering one of the
    caller's companies would let a bulk assign fail for the others, so without a company: only the caller)."""
    if company_id:
        return list(await service.eligible_assignees(db, actor=user, company_id=company_id))
    return []


EVENT_ICONS = {"status": "i-check", "assignment": "i-user", "note": "i-book", "escalation": "i-alert",
               "sla_warning": "i-alert", "sla_breach": "i-alert", "notification": "i-bell", "merge": "i-activity",
               "split": "i-activity", "chat": "i-send", "runbook": "i-pulse", "reopened": "i-activity"}
EVENT_LABELS = {"status": "status", "assignment": "assignment", "note": "note", "escalation": "escalation",
                "sla_warning": "SLA warning", "sla_breach": "SLA breach", "notification": "notification",
                "merge": "merge", "split": "split", "chat": "chat", "runbook": "runbook", "reopened": "reopened"}


def actions_for(status: str) -> list[str]:
    """The lifecycle buttons that make sense for an incident of this status, in the order shown."""
    return {"new": ["acknowledge", "start", "resolve"], "acknowledged": ["start", "resolve"],
            "in_progress": ["resolve"], "resolved": ["close", "reopen"], "closed": ["reopen"]}.get(status, [])


async def _optional_context(db: AsyncSession, user: Principal, request: Request, incident: Incident,
                            now: datetime) -> dict[str, Any]:
    """The partials of other domains: the SLA countdown, the notification deliveries, the incident's chat room."""
    ctx: dict[str, Any] = {"sla": await sla.status_for(db, incident=incident, now=now),
                           "deliveries": await notify_service.deliveries_for(db, actor=user, incident_id=incident.id),
                           "chat": None}
    with contextlib.suppress(DomainError):  # the chat room of an incident the user may not chat in: no panel
        ctx["chat"] = await chat_page.room_panel_context(db, user, f"incident:{incident.id}", request=request)
    return ctx


@router.get("/incidents/{incident_id}")
async def incident_detail(incident_id: str, request: Request, user: CurrentUser, db: SessionDep,
                          clock: ClockDep) -> Response:
    return await render_detail(request, db, user, clock.now(), incident_id)


async def render_detail(request: Request, db: AsyncSession, user: Principal, now: datetime, incident_id: str,
                        *, headers: dict[str, str] | None = None) -> Response:
    """The incident page (also the answer to an HTMX action, which swaps in its ``#incident-main``)."""
    incident, timeline = await queries.get_incident(db, actor=user, incident_id=incident_id)  # 404 out of scope
    if incident.id != incident_id:  # merged into another incident: show the survivor
        return RedirectResponse(f"/incidents/{incident.id}", status_code=303)
    company = await tenants.get_company(db, actor=user, company_id=incident.company_id)
    assets = await queries.involved_assets(db, incident=incident)
    readable = Readable(incident.id, {a.key: a.name for a in assets})
    rows = timeline_rows(timeline, readable)
    opening = next((r for r in rows if r.alert.opened_incident_id == incident.id),  # its own first alert
                   next((r for r in rows if r.link.kind == "new_incident"), rows[0] if rows else None))
    breakdown = [{"label": COMPONENT_LABELS.get(str(c.get("name")), str(c.get("name"))), **c}
                 for c in incident.priority_breakdown or []]
    by_alert = {r.alert.id: r for r in rows}
    events = await incident_timeline.entries(db, incident_id=incident.id, limit=2000)
    story = [(item, by_alert.get(item.alert.id) if item.alert is not None else None)
             for item in merged_history(timeline, events)]
    people = await service.eligible_assignees(db, actor=user, company_id=incident.company_id)
    names = await queries.user_names(db, [incident.assignee_id])
    response = await page(request, db, user, "incidents/detail.html", {
        "i": incident, "company": company, "timeline": rows, "opening": opening,
        "opening_facts": facts(incident.explanation, readable), "breakdown": breakdown,
        "key": readable(incident.key), "assets": assets, "tools": tool_names(),
        "duration": duration, "now": now, "story": story, "event_icons": EVENT_ICONS, "event_labels": EVENT_LABELS,
        "actions": actions_for(incident.status), "people": people,
        "assignee_name": names.get(incident.assignee_id or "", ("", ""))[0],
        "me_eligible": any(p.id == user.user_id for p in people),
        "merge_candidates": await merge_candidates(db, user, incident, ""),
        "live_filter": json.dumps({"company_id": incident.company_id, "id": incident.id}),
        **await _optional_context(db, user, request, incident, now),
    }, section="incidents")
    response.headers.update(headers or {})
    return response


async def merge_candidates(db: AsyncSession, user: Principal, incident: Incident, q: str) -> list[Incident]:
    """Other incidents of the same company to merge this one into (open ones first), by id or title search."""
    text = q.strip()
    if len(text) >= 16 and all(c in "0123456789abcdef" for c in text.lower()):
        found = await db.get(Incident, text.lower())
        ok = found is not None and found.company_id == incident.company_id and found.id != incident.id
        return [found] if ok and found is not None and found.status != "merged" else []
    flt = queries.IncidentFilter(company_id=incident.company_id, q=text, sort="last_seen")
    rows = await queries.search_incidents(db, actor=user, flt=flt, limit=21)
    rows = [r for r in rows if r.id != incident.id]
    return sorted(rows, key=lambda r: r.status not in ("new", "acknowledged", "in_progress"))[:20]
