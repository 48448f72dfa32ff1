"""The decision engine: an incident opened (or reopened) → the runbooks that fit → EXECUTE, REQUEST_APPROVAL or
ESCALATE, with the reasons, on the incident's timeline and in the audit log.

Deterministic rules decide (``remediation.matching``); the optional AI advisor may only re-order the matched
candidates, and whatever is chosen goes through ``gates.request`` (risk, approvals, company policy): EXECUTE means
the gates queued the run, REQUEST_APPROVAL that they asked for an approval. Nothing is decided when the company
turned remediation off or the incident is no longer active, and at most once per opening of an incident.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.audit import service as audit
from alertwhisperer.auth.principal import Principal
from alertwhisperer.clock import Clock
from alertwhisperer.config import Settings
from alertwhisperer.correlation.models import Incident
from alertwhisperer.db import new_id
from alertwhisperer.errors import DomainError
from alertwhisperer.incidents import timeline
from alertwhisperer.jobs.models import Job
from alertwhisperer.jobs.worker import JobContext, PermanentError
from alertwhisperer.notify import service as notify
from alertwhisperer.remediation import gates, matching, states
from alertwhisperer.remediation.advisor.base import Advisor
from alertwhisperer.remediation.advisor.consult import Consultation, consult, not_asked
from alertwhisperer.remediation.advisor.factory import advisor_from
from alertwhisperer.remediation.assessment import Situation, advisor_facts, assess
from alertwhisperer.remediation.models import ESCALATE, EXECUTE, REQUEST_APPROVAL, Decision, Execution
from alertwhisperer.remediation.policy import RemediationPolicy

ACTOR_NAME = "remediation (decision engine)"
MAX_CANDIDATES = 20  # kept on the Decision row
APPROVERS = {"company_admin": "a company admin's", "msp_admin": "an MSP admin's"}


async def ask_advisor(advisor: Advisor | None, settings: Settings, situation: Situation) -> Consultation:
    """The advisor's view on the situation, when there is a choice to make (never raises)."""
    if situation.skip or not situation.result.candidates:
        return not_asked(advisor, "no runbook matched")
    if situation.target is None:
        return not_asked(advisor, "the incident's asset cannot be reached")
    candidates = [{**c.summary(), "description": c.runbook.spec.description} for c in situation.result.candidates[:10]]
    return await consult(
        advisor, seconds=settings.advisor_timeout, facts=advisor_facts(situation), candidates=candidates
    )


def _gate_reason(execution: Execution, candidate: matching.Candidate, policy: RemediationPolicy) -> str:
    spec = candidate.runbook.spec
    if execution.status == states.QUEUED:
        return f"risk {spec.risk} and marked auto-approve: runs without an approval"
    who = APPROVERS.get(execution.approver_role, "an")
    if spec.risk == "low" and spec.auto_approve and not policy.auto_run:
        return f"company policy forbids auto-run: needs {who} approval"
    if spec.risk == "low":
        return f"risk low but not marked auto-approve: needs {who} approval"
    return f"risk {spec.risk} needs {who} approval"


def _sentence(
    action: str, incident: Incident, chosen: matching.Candidate | None, asset: str, reasons: list[str]
) -> str:
    if chosen is None or action == ESCALATE:
        return f"No automatic fix: {reasons[0] if reasons else 'nothing applies'}. A technician should take it."
    what = f"runbook “{chosen.runbook.spec.title}” ({chosen.slug} v{chosen.runbook.version.version}) on {asset}"
    if action == EXECUTE:
        return f"Decided to run {what} automatically: low risk, auto-approved."
    return f"Decided to run {what}, pending approval: {reasons[-1] if reasons else 'approval required'}."


async def _request(
    session: AsyncSession,
    *,
    clock: Clock,
    settings: Settings,
    situation: Situation,
    chosen: matching.Candidate,
    decision_id: str,
) -> tuple[Execution | None, str]:
    """Ask the gates for the run (in a savepoint: a refusal leaves nothing half-written)."""
    assert situation.asset is not None
    try:
        async with session.begin_nested():
            execution = await gates.request(
                session,
                clock=clock,
                settings=settings,
                company_id=situation.incident.company_id,
                runbook_version_id=chosen.runbook.version.id,
                params=chosen.params,
                asset_id=situation.asset.id,
                incident_id=situation.incident.id,
                actor=None,
                trigger="auto",
                decision_id=decision_id,
            )
    except DomainError as exc:
        return None, f"the gates refused {chosen.slug}: {exc.message}"
    return execution, ""


async def decide(
    session: AsyncSession,
    *,
    clock: Clock,
    settings: Settings,
    incident: Incident,
    consultation: Consultation | None = None,
    advisor: Advisor | None = None,
) -> Decision | None:
    """Decide for ``incident`` in the caller's transaction; None when no decision is made (see module doc).

    ``consultation``: the advisor's answer when the caller asked it outside the transaction (``decide_job``);
    otherwise ``advisor`` (default: the one the settings configure, if any) is asked here."""
    now = clock.now()
    situation = await assess(session, settings=settings, incident=incident, now=now)
    if situation.skip:
        return None
    if consultation is None:
        consultation = await ask_advisor(advisor or advisor_from(settings), settings, situation)
    result = situation.result
    if consultation.pick:
        result = matching.prefer(result, consultation.pick)
    decision = Decision(id=new_id(), company_id=incident.company_id, incident_id=incident.id, created_at=now)
    chosen, execution, reasons = result.best, None, []
    if chosen is None:
        reasons.append(f"no runbook matches {incident.symptom}")
        reasons += [f"{r.runbook.spec.name} fits but {r.reason}" for r in result.rejected]
    elif situation.target is None:
        fits = ", ".join(c.slug for c in result.candidates[:3])
        reasons += [situation.blocked, f"runbooks that would fit once it can be reached: {fits}"]
    else:
        reasons.append(f"best match: {chosen.slug} (score {chosen.score})")
        reasons += list(chosen.reasons)
        if consultation.pick and consultation.pick != (situation.result.best.slug if situation.result.best else ""):
            reasons.append(f"the AI advisor preferred it: {consultation.block.get('rationale', '')}"[:300])
        execution, refused = await _request(
            session, clock=clock, settings=settings, situation=situation, chosen=chosen, decision_id=decision.id
        )
        if execution is None:
            reasons.append(refused)
        else:
            reasons.append(_gate_reason(execution, chosen, situation.policy))
    if execution is not None and execution.status == states.QUEUED:
        action = EXECUTE
    elif execution is not None and execution.status == states.PENDING_APPROVAL:
        action = REQUEST_APPROVAL
    else:
        action = ESCALATE
        if execution is not None:
            reasons.append(f"the run is {execution.status}: {execution.status_reason}")
    decision.action, decision.reasons, decision.advisor = action, reasons, consultation.block
    decision.execution_id = execution.id if execution is not None else None
    if chosen is not None and situation.target is not None:
        decision.runbook_id, decision.runbook_version = chosen.runbook.runbook.id, chosen.runbook.version.version
    decision.candidates = (
        [{**c.summary(), "chosen": c is chosen and action != ESCALATE} for c in result.candidates]
        + [r.summary() for r in result.rejected]
    )[:MAX_CANDIDATES]
    session.add(decision)
    await session.flush()
    await _record(session, clock=clock, incident=incident, decision=decision, chosen=chosen, situation=situation)
    return decision


async def _record(
    session: AsyncSession,
    *,
    clock: Clock,
    incident: Incident,
    decision: Decision,
    chosen: matching.Candidate | None,
    situation: Situation,
) -> None:
    """The decision on the incident's timeline, in the audit log, and (escalation) to the assignee."""
    now = clock.now()
    asset = situation.asset.name if situation.asset else incident.root_asset_name
    slug = chosen.slug if chosen is not None and decision.action != ESCALATE else None
    body = _sentence(decision.action, incident, chosen, asset, decision.reasons)
    data = {
        "event": "decided",
        "action": decision.action,
        "runbook": slug,
        "version": decision.runbook_version if slug else None,
        "reasons": decision.reasons,
        "decision_id": decision.id,
        "execution_id": decision.execution_id,
        "advisor": decision.advisor.get("status", "off"),
    }
    await timeline.record(
        session, incident=incident, kind="runbook", now=now, actor_name=ACTOR_NAME, body=body, data=data
    )
    await audit.record(
        session,
        clock=clock,
        action="remediation.decided",
        actor=None,
        actor_email="system",
        company_id=incident.company_id,
        target_type="incident",
        target_id=incident.id,
        details={
            "decision_id": decision.id,
            "action": decision.action,
            "runbook": slug,
            "version": data["version"],
            "execution_id": decision.execution_id,
            "reasons": decision.reasons,
            "advisor": data["advisor"],
        },
    )
    # Told only when automation was in reach and did not happen (refused, guarded, unfit): "no runbook matches"
    # and "cannot reach the host" are on the timeline, and the assignment already told the assignee about it.
    tried = chosen is not None or bool(situation.result.rejected)
    if decision.action == ESCALATE and incident.assignee_id is not None and tried and situation.target is not None:
        await notify.notify(
            session,
            clock=clock,
            kind="escalation",
            user_ids=[incident.assignee_id],
            title=f"No automatic fix: {incident.title}",
            body=body,
            severity=incident.severity,
            incident=incident,
            company_id=incident.company_id,
            context={"decision_id": decision.id, "reasons": decision.reasons},
        )


async def decide_job(ctx: JobContext, job: Job) -> None:
    """``remediation.decide`` (payload ``incident_id``, ``opening``). When an advisor is configured it is asked
    between two transactions (a first short one reads the situation), so no transaction waits on a provider."""
    incident_id = job.payload.get("incident_id")
    if not isinstance(incident_id, str):
        raise PermanentError(f"decide job without an incident id: {job.payload!r}")
    if ctx.settings is None:
        raise PermanentError("the worker runs without settings: cannot resolve targets")
    settings = ctx.settings
    consultation: Consultation | None = None
    advisor = advisor_from(settings)
    if advisor is not None and ctx.sessionmaker is not None:
        async with ctx.sessionmaker() as read:
            found = await read.get(Incident, incident_id)
            if found is None:
                return
            situation = await assess(read, settings=settings, incident=found, now=ctx.clock.now())
            await read.commit()  # the built-in runbooks, if this was their first use
        if situation.skip:
            return
        consultation = await ask_advisor(advisor, settings, situation)
    incident = await ctx.session.get(Incident, incident_id)
    if incident is None:
        return  # deleted with its company
    await decide(ctx.session, clock=ctx.clock, settings=settings, incident=incident, consultation=consultation)


async def recent(
    session: AsyncSession, *, actor: Principal, company_id: str, limit: int = 10
) -> list[tuple[Decision, str]]:
    """The company's latest decisions with their incident's title, newest first (scope-checked)."""
    actor.require_company(company_id)
    rows = await session.execute(
        select(Decision, Incident.title)
        .join(Incident, Incident.id == Decision.incident_id)
        .where(Decision.company_id == company_id)
        .order_by(Decision.created_at.desc(), Decision.id)
        .limit(limit)
    )
    return [(decision, title) for decision, title in rows.all()]
