"""Approval gates (issue #6 §3): who must approve a run, the binding an approval holds, and the checks made
again when the run starts.

Rules: low + ``auto_approve`` runs without an approval (status queued) unless the company policy turns auto-run
off; otherwise low and medium need a company admin *of that company* or an MSP admin, high needs an MSP admin.
Nobody approves their own request. An approval is bound to ``binding_hash`` (runbook version id + spec hash,
validated parameters, target reference) and expires ``policy.APPROVAL_TTL`` after the request — checked when the
run starts (``check_before_run``), no sweeper. Approving and rejecting live in ``remediation.approvals``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.audit import service as audit
from alertwhisperer.auth.models import User
from alertwhisperer.auth.principal import Principal
from alertwhisperer.clock import Clock
from alertwhisperer.config import Settings
from alertwhisperer.correlation.models import Incident
from alertwhisperer.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from alertwhisperer.incidents import timeline
from alertwhisperer.remediation import access, events, hooks, states
from alertwhisperer.remediation import runbooks as library
from alertwhisperer.remediation import spec as specs
from alertwhisperer.remediation.approvals import (
    APPROVER_LABELS,
    COMPANY_ADMIN,
    MSP_ADMIN,
    is_expired,
    notify_approvers,
    notify_requester,
    why_not_approver,
)
from alertwhisperer.remediation.executions import lock_execution
from alertwhisperer.remediation.models import GLOBAL_SCOPE, Approval, Execution, Runbook, RunbookVersion
from alertwhisperer.remediation.policy import APPROVAL_TTL, RemediationPolicy, policy_of
from alertwhisperer.tenants.models import Company


@dataclass(frozen=True)
class Refusal:
    """Why a run must not start: ``status`` is what the execution becomes (expired | cancelled)."""

    status: str
    reason: str


def binding_hash(*, runbook_version_id: str, spec_hash: str, params: dict[str, Any],
                 target_ref: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of what an approval is for: exact version, parameters and target."""
    canonical = json.dumps({"runbook_version_id": runbook_version_id, "spec_hash": spec_hash, "params": params,
                            "target": target_ref}, sort_keys=True, separators=(",", ":"), default=str,
                           ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def approval_rule(risk: str, auto_approve: bool, policy: RemediationPolicy) -> tuple[bool, str]:
    """(approval required?, approver role: "" | company_admin | msp_admin) for a runbook in a company."""
    if risk == "high":
        return True, MSP_ADMIN
    if risk == "low" and auto_approve and policy.auto_run:
        return False, ""
    return True, COMPANY_ADMIN


async def actor_name(session: AsyncSession, actor: Principal) -> str:
    user = await session.get(User, actor.user_id)
    return (user.name if user is not None and user.name else actor.email)[:200]


async def current_version(session: AsyncSession, *, company_id: str, slug: str) -> RunbookVersion | None:
    """The version a run of ``slug`` would use in this company now: the company's runbook with that slug wins over
    the library's (even disabled: a disabled override opts the company out), None when disabled or missing."""
    rows = (await session.execute(select(Runbook).where(
        Runbook.slug == slug, Runbook.scope.in_((GLOBAL_SCOPE, company_id))))).scalars()
    chosen = sorted(rows, key=lambda r: r.scope != company_id)
    if not chosen or not chosen[0].enabled:
        return None
    return (await session.execute(select(RunbookVersion).where(
        RunbookVersion.runbook_id == chosen[0].id,
        RunbookVersion.version == chosen[0].current_version))).scalar_one_or_none()


async def _incident(session: AsyncSession, incident_id: str | None, company_id: str) -> Incident | None:
    if incident_id is None:
        return None
    incident = await session.get(Incident, incident_id)
    if incident is None or incident.company_id != company_id:
        raise NotFound("incident not found")
    return incident


async def request(session: AsyncSession, *, clock: Clock, settings: Settings, company_id: str,
                  runbook_version_id: str, params: dict[str, Any], asset_id: str, incident_id: str | None = None,
                  actor: Principal | None, trigger: Literal["auto", "manual"],
                  decision_id: str | None = None) -> Execution:
    """Record a request to run one runbook version on one asset of ``company_id``; queued when no approval is
    needed (and the execute job enqueued), else pending_approval with its deadline and the approvers notified.

    ``actor``: who asked (manual runs); None for the decision engine. Raises ``NotFound`` (company, runbook,
    asset or incident outside the company / the actor's scope), ``Invalid`` (parameters), ``Conflict`` (the
    runbook changed since it was chosen, no steps for the target's OS, the target cannot be reached)."""
    now = clock.now()
    if actor is not None:
        actor.require_company(company_id)
    company = await session.get(Company, company_id)
    if company is None:
        raise NotFound("company not found")
    version, spec = await library.get_version(session, version_id=runbook_version_id)
    runbook = await session.get(Runbook, version.runbook_id)
    if runbook is None or runbook.scope not in (GLOBAL_SCOPE, company_id):
        raise NotFound("runbook not found")
    current = await current_version(session, company_id=company_id, slug=runbook.slug)
    if current is None:
        raise Conflict(f"runbook {runbook.slug} is disabled for this company")
    if current.id != version.id:
        raise Conflict(f"runbook {runbook.slug} changed since it was chosen (now version {current.version}); "
                       "choose it again", details={"current_version": current.version})
    incident = await _incident(session, incident_id, company_id)
    values = specs.validate_params(spec, params)
    target = await access.resolve_target(session, settings=settings, company_id=company_id, asset_id=asset_id)
    if target.os not in spec.steps:
        raise Conflict(f"runbook {runbook.slug} has no steps for {target.os} (asset {target.asset_name})")
    required, role = approval_rule(spec.risk, spec.auto_approve, policy_of(company))
    reference = dict(target.reference())
    manual = trigger == "manual" and actor is not None
    execution = Execution(
        company_id=company_id, incident_id=incident.id if incident else None, decision_id=decision_id,
        runbook_id=runbook.id, runbook_version_id=version.id, runbook_slug=runbook.slug,
        runbook_version=version.version, runbook_title=spec.title[:200], risk=spec.risk, params=values,
        asset_id=target.asset_id, asset_name=target.asset_name[:255], target=reference,
        binding_hash=binding_hash(runbook_version_id=version.id, spec_hash=specs.spec_hash(spec), params=values,
                                  target_ref=reference),
        trigger=trigger, requested_by_id=actor.user_id if manual and actor else None,
        requested_by_name=await actor_name(session, actor) if manual and actor else "system",
        approval_required=required, approver_role=role,
        status=states.PENDING_APPROVAL if required else states.QUEUED,
        status_reason=(f"waiting for {APPROVER_LABELS[role]} to approve" if required
                       else "low risk and auto-approved: runs without an approval"),
        expires_at=now + APPROVAL_TTL if required else None, created_at=now, updated_at=now)
    session.add(execution)
    await session.flush()
    if not required:
        await hooks.request_execution(session, company_id=company_id, execution_id=execution.id, now=now)
    await audit.record(session, clock=clock, action="execution.requested", actor=actor if manual else None,
                       company_id=company_id, target_type="execution", target_id=execution.id, details={
                           "runbook": runbook.slug, "version": version.version, "risk": spec.risk,
                           "asset": target.asset_name, "asset_id": target.asset_id, "executor": target.executor,
                           "params": values, "trigger": trigger, "incident_id": execution.incident_id,
                           "approval_required": required, "approver_role": role,
                           "binding_hash": execution.binding_hash})
    if incident is not None:
        when = f" by {execution.expires_at:%H:%M} UTC" if execution.expires_at else ""
        body = (f"Runbook “{spec.title}” v{version.version} requested on {target.asset_name}: {spec.risk} risk, "
                + (f"waiting for {APPROVER_LABELS[role]} to approve{when}." if required
                   else "auto-approved, queued to run."))
        await timeline.record(session, incident=incident, kind="runbook", now=now, actor=actor if manual else None,
                              actor_name=execution.requested_by_name if manual else "remediation",
                              body=body, data={"execution_id": execution.id, "event": "requested",
                                               "status": execution.status, "runbook": runbook.slug,
                                               "version": version.version, "risk": spec.risk})
    if required:
        await notify_approvers(session, clock=clock, execution=execution, incident=incident)
    events.execution_updated(session, execution)
    return execution


async def _approval(session: AsyncSession, execution_id: str) -> Approval | None:
    return (await session.execute(select(Approval).where(Approval.execution_id == execution_id))).scalar_one_or_none()


async def check_before_run(session: AsyncSession, *, settings: Settings, execution: Execution,
                           now: datetime) -> Refusal | None:
    """Everything that must still hold when the run starts; None means go. Changes nothing (the runner applies
    the refusal): approval missing/rejected → cancelled; past the deadline → expired; the binding recomputed
    from the current version, the stored parameters and the freshly resolved target differs → cancelled
    naming what changed; auto-run no longer allowed by the company policy → cancelled."""
    approval = await _approval(session, execution.id) if execution.approval_required else None
    if execution.approval_required:
        if approval is None or approval.decision != "approved":
            if approval is None and is_expired(execution, now):
                return Refusal(states.EXPIRED, "nobody approved the request within 1 hour")
            what = "was rejected" if approval is not None else "has not been approved"
            return Refusal(states.CANCELLED, f"the request {what}; it cannot run")
        if is_expired(execution, now):
            assert execution.expires_at is not None
            return Refusal(states.EXPIRED, f"the approval expired at {execution.expires_at:%Y-%m-%d %H:%M} UTC "
                                           "(approvals are valid for 1 hour after the request)")
    else:
        company = await session.get(Company, execution.company_id)
        policy = policy_of(company) if company is not None else RemediationPolicy(auto_run=False)
        if not policy.auto_run:
            return Refusal(states.CANCELLED, "the company's policy no longer allows runs without an approval")
    return await _binding_refusal(session, settings=settings, execution=execution, approval=approval)


async def _spec_hash_of(session: AsyncSession, version: RunbookVersion | None) -> str:
    """The hash of the version's spec as stored now (a row edited behind the service's back hashes differently)."""
    if version is None:
        return ""
    try:
        _, spec = await library.get_version(session, version_id=version.id)
    except DomainError:
        return ""
    return specs.spec_hash(spec)


async def _binding_refusal(session: AsyncSession, *, settings: Settings, execution: Execution,
                           approval: Approval | None) -> Refusal | None:
    current = await current_version(session, company_id=execution.company_id, slug=execution.runbook_slug)
    if current is None:
        return Refusal(states.CANCELLED, f"runbook {execution.runbook_slug} was disabled or removed")
    try:
        target = await access.resolve_target(session, settings=settings, company_id=execution.company_id,
                                             asset_id=execution.asset_id or "")
    except DomainError as exc:
        return Refusal(states.CANCELLED, f"the target can no longer be reached: {exc.message}")
    reference = dict(target.reference())
    fresh = binding_hash(runbook_version_id=current.id, spec_hash=await _spec_hash_of(session, current),
                         params=execution.params, target_ref=reference)
    approved = approval.binding_hash if approval is not None else execution.binding_hash
    if fresh == execution.binding_hash == approved:
        return None
    changed = ["version"] if current.id != execution.runbook_version_id else []
    stored = await session.get(RunbookVersion, execution.runbook_version_id)
    as_requested = binding_hash(runbook_version_id=execution.runbook_version_id,
                                spec_hash=await _spec_hash_of(session, stored), params=execution.params,
                                target_ref=execution.target)
    if not as_requested == execution.binding_hash == approved:
        # the stored version's content changed (its recorded hash still binds) or the parameters did
        recorded = binding_hash(runbook_version_id=execution.runbook_version_id,
                                spec_hash=stored.spec_hash if stored is not None else "", params=execution.params,
                                target_ref=execution.target)
        changed.append("version" if recorded == execution.binding_hash == approved else "parameters")
    if reference != execution.target:
        changed.append("target")
    subject = "approval" if execution.approval_required else "request"
    what = ", ".join(dict.fromkeys(changed)) or "request"
    return Refusal(states.CANCELLED, f"{subject} no longer matches: {what} changed")


async def _load(session: AsyncSession, *, actor: Principal, execution_id: str) -> Execution:
    execution = await lock_execution(session, execution_id)
    if execution is None or not actor.sees_company(execution.company_id) or not execution.approval_required:
        raise NotFound("approval request not found")
    return execution


class RequestExpired(Conflict):
    """Raised by ``approve``/``reject`` after marking the request expired: the caller commits, then answers 409."""


async def _record(session: AsyncSession, *, clock: Clock, actor: Principal | None, name: str,
                  execution: Execution, action: str, body: str, details: dict[str, Any]) -> None:
    """Audit ``execution.<action>``, the incident's timeline (kind runbook) and the live event."""
    now = clock.now()
    await audit.record(session, clock=clock, action=f"execution.{action}", actor=actor,
                       company_id=execution.company_id, target_type="execution", target_id=execution.id,
                       details={"runbook": execution.runbook_slug, "version": execution.runbook_version,
                                "risk": execution.risk, "asset": execution.asset_name, **details})
    if execution.incident_id is not None:
        incident = await session.get(Incident, execution.incident_id)
        if incident is not None:
            await timeline.record(session, incident=incident, kind="runbook", now=now, actor=actor, actor_name=name,
                                  body=body, data={"execution_id": execution.id, "event": action,
                                                   "status": execution.status, "runbook": execution.runbook_slug,
                                                   "version": execution.runbook_version, "risk": execution.risk})
    events.execution_updated(session, execution)


async def _answerable(session: AsyncSession, *, actor: Principal, clock: Clock, execution: Execution) -> None:
    """Refuse an answer the viewer may not give (403) or that comes too late (409, after writing it expired)."""
    if execution.status != states.PENDING_APPROVAL:
        approval = await _approval(session, execution.id)
        if approval is not None:
            raise Conflict(f"this request was already {approval.decision} by {approval.user_name}",
                           details={"status": execution.status, "decision": approval.decision})
        raise Conflict(f"this request is {execution.status.replace('_', ' ')}; it can no longer be answered",
                       details={"status": execution.status})
    reason = why_not_approver(actor, execution)
    if reason is not None:
        raise Forbidden(reason[:1].upper() + reason[1:])
    now = clock.now()
    if is_expired(execution, now):
        states.check_move(execution.status, states.EXPIRED)
        assert execution.expires_at is not None
        execution.status, execution.updated_at = states.EXPIRED, now
        execution.status_reason = f"nobody approved it before {execution.expires_at:%H:%M} UTC (1 hour)"
        await _record(session, clock=clock, actor=None, name="remediation", execution=execution, action="expired",
                      body=f"Request for “{execution.runbook_title}” expired: {execution.status_reason}.",
                      details={"expires_at": execution.expires_at.isoformat()})
        await session.flush()
        raise RequestExpired(f"this request expired at {execution.expires_at:%H:%M} UTC (requests are valid for "
                             "1 hour); request the run again", details={"status": states.EXPIRED})


async def _answer(session: AsyncSession, *, actor: Principal, clock: Clock, execution: Execution, approved: bool,
                  note: str) -> Execution:
    now = clock.now()
    name = await actor_name(session, actor)
    decision = "approved" if approved else "rejected"
    session.add(Approval(execution_id=execution.id, company_id=execution.company_id, decision=decision,
                         user_id=actor.user_id, user_name=name, role=actor.role.value, note=note,
                         binding_hash=execution.binding_hash, at=now))
    wanted = states.APPROVED if approved else states.CANCELLED
    states.check_move(execution.status, wanted)
    execution.status, execution.updated_at = wanted, now
    execution.status_reason = f"{decision} by {name}" + (f": {note}" if note else "")
    await session.flush()
    if approved:
        await hooks.request_execution(session, company_id=execution.company_id, execution_id=execution.id, now=now)
    said = f" — “{note}”" if note else ""
    await _record(session, clock=clock, actor=actor, name=name, execution=execution, action=decision,
                  body=f"{name} {decision} runbook “{execution.runbook_title}” v{execution.runbook_version} "
                       f"on {execution.asset_name}{said}.",
                  details={"note": note, "binding_hash": execution.binding_hash, "requested_by":
                           execution.requested_by_name})
    await notify_requester(session, clock=clock, execution=execution, approved=approved, by=name, note=note)
    return execution


async def approve(session: AsyncSession, *, actor: Principal, clock: Clock, execution_id: str,
                  note: str = "") -> Execution:
    """Approve a pending request: the one ``Approval`` row, status approved, the execute job enqueued.

    ``NotFound`` outside the actor's scope; ``Forbidden`` for their own request or the wrong role; ``Conflict``
    when already answered; ``RequestExpired`` (a ``Conflict``) after writing an overdue request expired."""
    execution = await _load(session, actor=actor, execution_id=execution_id)
    await _answerable(session, actor=actor, clock=clock, execution=execution)
    return await _answer(session, actor=actor, clock=clock, execution=execution, approved=True,
                         note=note.strip()[:2000])


async def reject(session: AsyncSession, *, actor: Principal, clock: Clock, execution_id: str,
                 note: str) -> Execution:
    """Reject a pending request with a note saying why (required); the execution is cancelled."""
    note = (note or "").strip()[:2000]
    execution = await _load(session, actor=actor, execution_id=execution_id)
    await _answerable(session, actor=actor, clock=clock, execution=execution)
    if not note:
        raise Invalid("say why you reject this run (the requester sees your note)", field="note")
    return await _answer(session, actor=actor, clock=clock, execution=execution, approved=False, note=note)
