"""The incident page's "Automation" card: what the decision engine chose and the incident's runs
(``GET /incidents/{id}/automation``), and the manual run form (``GET|POST /incidents/{id}/automation/run``).

A manual run goes through ``executions.request_manual_run`` — the same approval gates as an automatic run — and
lands on the execution's page, where its output streams. The form works without JavaScript (a full page with
the errors inline); with HTMX it swaps in place and a success redirects with ``HX-Redirect``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth.principal import Principal
from alertwhisperer.config import Settings
from alertwhisperer.correlation import queries
from alertwhisperer.correlation.models import Incident
from alertwhisperer.deps import ClockDep, CurrentUser, SessionDep, SettingsDep, commit
from alertwhisperer.errors import Conflict, Invalid, NotFound
from alertwhisperer.remediation import access, executions, gates, matching, runbooks
from alertwhisperer.remediation.access_schemas import AccessOut
from alertwhisperer.remediation.models import Decision, Execution, Runbook
from alertwhisperer.remediation.policy import policy_of
from alertwhisperer.remediation.spec import params_from_incident
from alertwhisperer.tenants import service as tenants
from alertwhisperer.tenants.models import Asset, Company
from alertwhisperer.web.forms import Form, FormErrors
from alertwhisperer.web.templating import page, redirect, templates

router = APIRouter()

MAX_DECISIONS = 5
ACTION_LABELS = {
    "execute": "ran automatically",
    "request_approval": "asked for approval",
    "escalate": "escalated to a technician",
}
APPROVER_SHORT = {"company_admin": "a company admin", "msp_admin": "an MSP admin"}
RULE_TEXT = {
    "": "Runs right away: low risk and marked auto-approve.",
    "company_admin": "Needs approval by a company admin of this company or an MSP admin.",
    "msp_admin": "Needs approval by an MSP admin (high risk).",
}


def advisor_text(advisor: dict[str, Any]) -> str:
    """One line about the optional AI advisor's part in a decision."""
    status = str(advisor.get("status") or "off")
    provider = str(advisor.get("provider") or "")
    if status in ("off", "disabled", ""):
        return "AI advisor off: the rules decided."
    who = f"AI advisor ({provider})" if provider else "AI advisor"
    suggestion = advisor.get("suggestion") or advisor.get("runbook") or advisor.get("slug")
    if status in ("ok", "answered", "agreed", "suggested"):
        return f"{who} suggested {suggestion}; the same gates applied." if suggestion else f"{who} answered."
    detail = advisor.get("error") or advisor.get("detail") or status
    return f"{who} did not help ({detail}): the rules decided alone."


@dataclass(frozen=True)
class DecisionView:
    row: Decision
    runbook_title: str
    advisor: str


async def _incident(db: AsyncSession, user: Principal, incident_id: str) -> Incident:
    incident, _ = await queries.get_incident(db, actor=user, incident_id=incident_id)  # 404 out of scope
    return incident


async def _decisions(db: AsyncSession, incident: Incident) -> list[DecisionView]:
    rows = (
        await db.execute(
            select(Decision, Runbook.title)
            .outerjoin(Runbook, Runbook.id == Decision.runbook_id)
            .where(Decision.incident_id == incident.id)
            .order_by(Decision.created_at.desc(), Decision.id)
            .limit(MAX_DECISIONS)
        )
    ).all()
    return [DecisionView(d, title or "", advisor_text(d.advisor or {})) for d, title in rows]


@router.get("/incidents/{incident_id}/automation")
async def automation_state(incident_id: str, request: Request, user: CurrentUser, db: SessionDep) -> Response:
    """The card's upper part (HTML fragment): decisions and runs of this incident."""
    incident = await _incident(db, user, incident_id)
    runs: list[Execution] = await executions.list_executions(
        db, actor=user, company_id=incident.company_id, incident_id=incident.id, limit=20
    )
    company = await tenants.get_company(db, actor=user, company_id=incident.company_id)
    response = templates.TemplateResponse(
        request,
        "executions/_automation.html",
        {
            "decisions": await _decisions(db, incident),
            "runs": runs,
            "action_labels": ACTION_LABELS,
            "approver_labels": APPROVER_SHORT,
            "policy_enabled": policy_of(company).enabled,
        },
    )
    response.headers["Cache-Control"] = "no-store"
    return response


# -- the manual run form ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunChoices:
    matching: list[runbooks.EffectiveRunbook]
    others: list[runbooks.EffectiveRunbook]
    reasons: dict[str, list[str]]  # runbook id -> why it fits the incident

    @property
    def all(self) -> list[runbooks.EffectiveRunbook]:
        return self.matching + self.others


async def _facts(db: AsyncSession, incident: Incident) -> matching.IncidentFacts:
    asset = await db.get(Asset, incident.root_asset_key) if incident.root_asset_key else None
    if asset is not None and asset.company_id != incident.company_id:
        asset = None
    return matching.IncidentFacts(
        symptom=incident.symptom,
        symptoms=tuple(incident.symptoms or ()),
        severity=incident.severity,
        asset_name=incident.root_asset_name,
        asset_type=asset.type if asset is not None else None,
        asset_tags=dict(asset.tags or {}) if asset is not None else {},
    )


async def run_choices(db: AsyncSession, incident: Incident, os: str | None = None) -> RunChoices:
    """The company's effective runbooks: those whose trigger fits the incident first (with steps for ``os``, the
    target's OS, before those without; then best score, lower risk), then the rest by title."""
    facts = await _facts(db, incident)
    fits: list[tuple[bool, int, runbooks.EffectiveRunbook]] = []
    others: list[runbooks.EffectiveRunbook] = []
    reasons: dict[str, list[str]] = {}
    for item in await runbooks.effective_for_company(db, company_id=incident.company_id):
        fit = matching.trigger_fit(item.spec, facts)
        if fit is None:
            others.append(item)
        else:
            fits.append((os is None or os in item.spec.steps, fit[0], item))
            reasons[item.runbook.id] = list(fit[1])
    fits.sort(key=lambda f: (not f[0], -f[1], matching.RISK_ORDER.get(f[2].spec.risk, 9), f[2].spec.title.lower()))
    others.sort(key=lambda r: (os is not None and os not in r.spec.steps, r.spec.title.lower()))
    return RunChoices([f[2] for f in fits], others, reasons)


def _defaults(item: runbooks.EffectiveRunbook, incident: Incident) -> dict[str, str]:
    values: dict[str, str] = {}
    filled = params_from_incident(item.spec, symptom=incident.symptom, asset_name=incident.root_asset_name)
    for p in item.spec.parameters:
        value = filled.get(p.name, p.default)
        if p.type == "boolean":
            values[f"param.{p.name}"] = "true" if value in (True, "true") else "false"
        else:
            values[f"param.{p.name}"] = "" if value is None else str(value)
    return values


async def _form_context(
    db: AsyncSession,
    user: Principal,
    incident: Incident,
    company: Company,
    *,
    runbook_id: str,
    values: dict[str, str],
    errors: FormErrors,
) -> dict[str, Any]:
    assets: list[AccessOut] = [
        a for a in await access.list_access(db, actor=user, company_id=company.id) if a.configured
    ]
    root = next((a for a in assets if a.asset_id == incident.root_asset_key), None)
    choices = await run_choices(db, incident, (root or assets[0]).os if assets else None)
    selected = next((c for c in choices.all if c.runbook.id == runbook_id), None) or (
        choices.all[0] if choices.all else None
    )
    if selected is not None and selected.runbook.id != runbook_id:
        values = {**values, **_defaults(selected, incident)}  # nothing (valid) chosen yet: the best fit's defaults
    if not values.get("asset_id") and assets:
        values["asset_id"] = (root or assets[0]).asset_id
    needed, role = (
        gates.approval_rule(selected.spec.risk, selected.spec.auto_approve, policy_of(company))
        if selected is not None
        else (False, "")
    )
    return {
        "inc": incident,
        "company": company,
        "matching": choices.matching,
        "others": choices.others,
        "choices": choices.all,
        "selected": selected,
        "assets": assets,
        "values": values,
        "errors": errors,
        "match_reasons": choices.reasons.get(selected.runbook.id, []) if selected is not None else [],
        "approval_needed": needed,
        "approval_rule_text": RULE_TEXT.get(role, RULE_TEXT["company_admin"]) if needed else RULE_TEXT[""],
        "is_admin": user.role.value in ("msp_admin", "company_admin"),
        "target_os": (root or assets[0]).os if assets else "",
    }


async def _render_form(
    request: Request,
    db: AsyncSession,
    user: Principal,
    incident: Incident,
    *,
    runbook_id: str,
    values: dict[str, str],
    errors: FormErrors,
    status_code: int = 200,
) -> Response:
    company = await tenants.get_company(db, actor=user, company_id=incident.company_id)
    ctx = await _form_context(db, user, incident, company, runbook_id=runbook_id, values=values, errors=errors)
    if request.headers.get("hx-request") == "true":
        ctx["csrf_token"] = request.cookies.get("aw_csrf", "")
        response = templates.TemplateResponse(request, "executions/_run_form.html", ctx)
        response.headers["Cache-Control"] = "no-store"
        return response
    return await page(request, db, user, "executions/run.html", ctx, status_code=status_code, section="incidents")


@router.get("/incidents/{incident_id}/automation/run")
async def run_form(incident_id: str, request: Request, user: CurrentUser, db: SessionDep) -> Response:
    """The form (fragment for HTMX, else a page); ``runbook_id`` and ``asset_id`` preselect."""
    incident = await _incident(db, user, incident_id)
    q = request.query_params
    runbook_id = q.get("runbook_id", "")
    values: dict[str, str] = {"asset_id": q.get("asset_id", "")}
    choices = await run_choices(db, incident)
    chosen = next((c for c in choices.all if c.runbook.id == runbook_id), None)
    if chosen is not None:
        values.update(_defaults(chosen, incident))
    return await _render_form(request, db, user, incident, runbook_id=runbook_id, values=values, errors={})


def _params(form: Form, item: runbooks.EffectiveRunbook | None) -> dict[str, Any]:
    if item is None:
        return {}
    params: dict[str, Any] = {}
    for p in item.spec.parameters:
        key = f"param.{p.name}"
        if p.type == "boolean":
            params[p.name] = "true" in form.many(key)
        elif form.text(key) != "":
            params[p.name] = form.text(key)
    return params


def _errors(exc: Invalid | Conflict) -> FormErrors:
    field = exc.field if isinstance(exc, Invalid) and exc.field else ""
    message = exc.message[:1].upper() + exc.message[1:]
    if field.startswith("params."):
        return {f"param.{field.removeprefix('params.')}": message}
    if field in ("runbook_id", "asset_id"):
        return {field: message}
    return {"__all__": message}


@router.post("/incidents/{incident_id}/automation/run")
async def run_submit(
    incident_id: str, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep, settings: SettingsDep
) -> Response:
    incident = await _incident(db, user, incident_id)
    form = await Form.read(request)
    runbook_id, asset_id = form.text("runbook_id"), form.text("asset_id")
    choices = await run_choices(db, incident)
    item = next((c for c in choices.all if c.runbook.id == runbook_id), None)
    values = {k: v for k, v in form.values().items() if k != "csrf_token"}
    for p in item.spec.parameters if item is not None else []:
        if p.type == "boolean":
            values[f"param.{p.name}"] = "true" if "true" in form.many(f"param.{p.name}") else "false"
    errors: FormErrors = {}
    if item is None:
        errors["runbook_id"] = "Choose one of the runbooks offered for this company."
    elif not asset_id:
        errors["asset_id"] = "Choose the asset to run it on."
    else:
        execution = await _request(db, user, clock, settings, incident, item, asset_id, _params(form, item), errors)
        if execution is not None:
            await commit(request, db)
            return _ran(request, execution)
    await db.rollback()
    incident = await _incident(db, user, incident_id)
    return await _render_form(
        request, db, user, incident, runbook_id=runbook_id, values=values, errors=errors, status_code=422
    )


async def _request(
    db: AsyncSession,
    user: Principal,
    clock: Any,
    settings: Settings,
    incident: Incident,
    item: runbooks.EffectiveRunbook,
    asset_id: str,
    params: dict[str, Any],
    errors: FormErrors,
) -> Execution | None:
    """Ask for the run; the gates' refusals become ``errors`` (another company's asset stays a 404)."""
    try:
        return await executions.request_manual_run(
            db,
            actor=user,
            clock=clock,
            settings=settings,
            incident_id=incident.id,
            runbook_id=item.runbook.id,
            asset_id=asset_id,
            params=params,
        )
    except NotFound:
        raise
    except (Invalid, Conflict) as exc:
        errors.update(_errors(exc))
        return None


def _ran(request: Request, execution: Execution) -> Response:
    url = f"/executions/{execution.id}"
    if execution.status == "pending_approval":
        who = APPROVER_SHORT.get(execution.approver_role, "an approver")
        message = f"Requested: waiting for approval by {who}. You are notified of the answer."
    else:
        message = "Run queued: it starts in a moment. Its output appears below as it runs."
    response = redirect(url, message)
    if request.headers.get("hx-request") == "true":
        response.status_code = 200
        response.headers["HX-Redirect"] = url
        del response.headers["location"]
    return response
