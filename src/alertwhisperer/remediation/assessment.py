"""What the decision engine looks at for an incident, gathered in one read: the company's policy, the incident's
asset and whether it can be reached, its alerts' signatures and labels, and the runbooks that fit (``matching``)
minus those the loop guard or their cooldown would stop right now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.config import Settings
from alertwhisperer.correlation.models import Incident, IncidentAlert
from alertwhisperer.errors import Conflict, NotFound
from alertwhisperer.incidents.models import ACTIVE_STATUSES
from alertwhisperer.ingest.models import Alert
from alertwhisperer.remediation import access, guard, matching, runbooks
from alertwhisperer.remediation.executors.base import Target
from alertwhisperer.remediation.models import Decision
from alertwhisperer.remediation.policy import RemediationPolicy, policy_of
from alertwhisperer.tenants.models import Asset, Company

MAX_ALERTS = 50  # the most recent alerts of the incident whose signatures and labels matching looks at


@dataclass
class Situation:
    """Everything the rules look at, gathered in one read (``skip``: why no decision is made at all)."""

    incident: Incident
    policy: RemediationPolicy = field(default_factory=RemediationPolicy)
    skip: str = ""
    facts: matching.IncidentFacts | None = None
    result: matching.MatchResult = field(default_factory=lambda: matching.MatchResult([], []))
    asset: Asset | None = None
    target: Target | None = None
    blocked: str = ""  # why nothing can run on the incident's asset ("" when its target resolved)


async def _signals(session: AsyncSession, incident_id: str) -> tuple[tuple[str, ...], dict[str, str]]:
    """The signatures of the incident's recent alerts (newest first) and their labels merged (newest wins)."""
    rows = (
        await session.execute(
            select(Alert.signature, Alert.labels)
            .join(IncidentAlert, IncidentAlert.alert_id == Alert.id)
            .where(IncidentAlert.incident_id == incident_id)
            .order_by(IncidentAlert.joined_at.desc())
            .limit(MAX_ALERTS)
        )
    ).all()
    signatures = tuple(dict.fromkeys(sig for sig, _ in rows if sig))
    labels: dict[str, str] = {}
    for _, row_labels in reversed(rows):
        labels.update({str(k): str(v) for k, v in (row_labels or {}).items()})
    return signatures, labels


async def _already_decided(session: AsyncSession, incident: Incident) -> bool:
    """A decision exists for this opening of the incident (made since it opened or last reopened)."""
    since = incident.sla_started_at or incident.first_seen
    found = await session.execute(
        select(Decision.id).where(Decision.incident_id == incident.id, Decision.created_at >= since).limit(1)
    )
    return found.first() is not None


async def _asset_of(session: AsyncSession, incident: Incident) -> Asset | None:
    key = incident.root_asset_key
    if not key or key.startswith("discovered:"):
        return None
    asset = await session.get(Asset, key)
    return asset if asset is not None and asset.company_id == incident.company_id else None


async def _stopped(
    session: AsyncSession, candidate: matching.Candidate, *, asset_id: str, limit: int, now: datetime
) -> str:
    """Why the loop guard or the runbook's cooldown would stop this run right now ("" when neither would)."""
    ran = await guard.runs_in_window(session, runbook_slug=candidate.slug, asset_id=asset_id, now=now)
    if ran >= limit:
        times = "once" if ran == 1 else f"{ran} times"
        return f"loop guard: ran {times} on this asset in the last hour (the limit is {limit})"
    cooldown = candidate.runbook.spec.cooldown_minutes
    finished = await guard.last_finished(session, runbook_slug=candidate.slug, asset_id=asset_id)
    if cooldown and finished is not None and now - finished < timedelta(minutes=cooldown):
        return (
            f"cooldown: its last run here finished {int((now - finished).total_seconds() // 60)} min ago "
            f"(cooldown {cooldown} min)"
        )
    return ""


async def _guarded(
    session: AsyncSession, result: matching.MatchResult, *, asset_id: str, limit: int, now: datetime
) -> matching.MatchResult:
    """Candidates the loop guard or their cooldown would stop become rejections (with why)."""
    kept, rejected = [], list(result.rejected)
    for candidate in result.candidates:
        why = await _stopped(session, candidate, asset_id=asset_id, limit=limit, now=now)
        if why:
            rejected.append(matching.Rejection(candidate.runbook, why))
        else:
            kept.append(candidate)
    return matching.MatchResult(kept, rejected)


async def assess(session: AsyncSession, *, settings: Settings, incident: Incident, now: datetime) -> Situation:
    """Read what the decision needs (syncs the built-in runbooks on first use; no other writes)."""
    situation = Situation(incident)
    company = await session.get(Company, incident.company_id)
    if company is None:
        situation.skip = "the company is gone"
        return situation
    situation.policy = policy_of(company)
    if not situation.policy.enabled:
        situation.skip = "remediation is turned off for this company"
    elif incident.status not in ACTIVE_STATUSES:
        situation.skip = f"the incident is {incident.status}"
    elif await _already_decided(session, incident):
        situation.skip = "already decided for this opening of the incident"
    if situation.skip:
        return situation
    asset = situation.asset = await _asset_of(session, incident)
    if asset is None:
        name = incident.root_asset_name or incident.root_asset_key.removeprefix("discovered:") or "unknown"
        situation.blocked = (
            f"the incident's host {name} is not a known asset of the company: add it as an asset "
            "and configure its remote access to let runbooks run there"
        )
    else:
        try:
            situation.target = await access.resolve_target(
                session, settings=settings, company_id=incident.company_id, asset_id=asset.id
            )
        except (NotFound, Conflict) as exc:
            situation.blocked = exc.message
    signatures, labels = await _signals(session, incident.id)
    situation.facts = matching.IncidentFacts(
        symptom=incident.symptom,
        symptoms=tuple(incident.symptoms or ()),
        signatures=signatures,
        severity=incident.severity,
        asset_name=asset.name if asset else incident.root_asset_name,
        asset_type=asset.type if asset else None,
        asset_tags=dict(asset.tags or {}) if asset else {},
        labels=labels,
        os=situation.target.os if situation.target else None,
    )
    effective = await runbooks.effective_for_company(session, company_id=incident.company_id)
    situation.result = matching.match(situation.facts, effective)
    if asset is not None:
        situation.result = await _guarded(
            session, situation.result, asset_id=asset.id, limit=situation.policy.max_runs_per_hour, now=now
        )
    return situation


def advisor_facts(situation: Situation) -> dict[str, Any]:
    """What the advisor is told about the incident: small and factual (no labels, no secrets)."""
    facts, incident = situation.facts, situation.incident
    assert facts is not None
    return {
        "title": incident.title,
        "symptom": facts.symptom,
        "symptoms": list(facts.all_symptoms),
        "severity": facts.severity,
        "signatures": list(facts.signatures[:5]),
        "asset": {"name": facts.asset_name, "type": facts.asset_type, "os": facts.os, "tags": dict(facts.asset_tags)},
    }
