"""Manual merge of two incidents and split of chosen alerts into a new incident, keeping the record.

Merge (source into target, same company, neither merged): the source's alerts move (``Alert.incident_id`` and
their ``IncidentAlert`` rows, which keep why each alert joined); the source becomes ``merged`` with
``merged_into``; the target's counts, times, tools and symptoms take in the source's; both timelines say so.

Split: chosen alerts of an incident move to a new incident (``split_from`` = the original); its title is given or
derived from the first alert; each moved ``IncidentAlert`` row notes ``split_from`` in its explanation. The new
incident goes through the same lifecycle job as one correlation opened (category, SLA, auto-assignment).

Caveat: correlation's in-memory state (``correlation.store``, rebuilt from the alert log) does not learn of a
manual merge or split. For a merge, ``correlation.service`` follows ``merged_into`` when it stores decisions:
what correlation still groups into the merged source is linked to the survivor (end of the chain), which takes
the new alerts' counts, times, severity and tools and reopens when resolved; the source stays merged. The
survivor's alert facts are still rewritten from its own correlation state when its own alerts arrive, and it
auto-resolves with its own alerts only. For a split, a later notification of a moved alert's identity still
joins the original incident.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth.principal import Principal
from alertwhisperer.clock import Clock
from alertwhisperer.correlation.identity import alert_identity
from alertwhisperer.correlation.models import Incident, IncidentAlert
from alertwhisperer.db import new_id
from alertwhisperer.errors import Conflict, Invalid
from alertwhisperer.incidents import changes, hooks
from alertwhisperer.incidents.models import ACTIVE_STATUSES, MERGED, NEW
from alertwhisperer.ingest.models import Alert

SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")
MAX_SPLIT = 500


def _worst(severities: Sequence[str]) -> str:
    ranked = [s for s in SEVERITY_ORDER if s in severities]
    return ranked[0] if ranked else "info"


async def _linked(session: AsyncSession, incident_id: str) -> list[tuple[IncidentAlert, Alert]]:
    rows = await session.execute(select(IncidentAlert, Alert).join(Alert, Alert.id == IncidentAlert.alert_id)
                                 .where(IncidentAlert.incident_id == incident_id)
                                 .order_by(IncidentAlert.joined_at, Alert.position, Alert.id))
    return [(link, alert) for link, alert in rows.all()]


def _count(alerts: Sequence[Alert]) -> tuple[int, int]:
    """(distinct alerts, repeat notifications) of these alert rows."""
    identities = {alert_identity(source=a.source, external_id=a.external_id, signature=a.signature,
                                 asset_key=a.asset_ref or "", labels=a.labels or {}) for a in alerts}
    return len(identities), max(len(alerts) - len(identities), 0)


async def merge(session: AsyncSession, *, actor: Principal, clock: Clock, incident_id: str, into: str) -> Incident:
    """Merge incident ``incident_id`` into ``into``; returns the target (the survivor)."""
    if incident_id == into:
        await changes.load(session, actor=actor, incident_id=incident_id)  # out of scope: 404 first
        raise Invalid("an incident cannot be merged into itself", field="into")
    # lock both rows in id order, so two opposite merges at once wait for each other instead of deadlocking
    first, second = sorted((incident_id, into))
    locked = {first: await changes.load(session, actor=actor, incident_id=first),
              second: await changes.load(session, actor=actor, incident_id=second)}
    source, target = locked[incident_id], locked[into]
    if source.company_id != target.company_id:
        raise Invalid("only incidents of the same company can be merged", field="into")
    if source.status in ACTIVE_STATUSES and target.status not in ACTIVE_STATUSES:
        raise Conflict(f"the target incident is {target.status}; reopen it first or merge it into this one",
                       details={"status": target.status})
    now = clock.now()
    moved = [alert.id for _, alert in await _linked(session, source.id)]
    taken = select(IncidentAlert.alert_id).where(IncidentAlert.incident_id == target.id)
    await session.execute(delete(IncidentAlert).where(IncidentAlert.incident_id == source.id,
                                                      IncidentAlert.alert_id.in_(taken))
                          .execution_options(synchronize_session=False))
    await session.execute(update(IncidentAlert).where(IncidentAlert.incident_id == source.id)
                          .values(incident_id=target.id).execution_options(synchronize_session=False))
    await session.execute(update(Alert).where(Alert.company_id == source.company_id, Alert.incident_id == source.id)
                          .values(incident_id=target.id).execution_options(synchronize_session=False))
    target.alert_count += source.alert_count
    target.duplicate_count += source.duplicate_count
    target.first_seen, target.last_seen = min(target.first_seen, source.first_seen), max(target.last_seen,
                                                                                       source.last_seen)
    target.severity = _worst([target.severity, source.severity])
    target.priority = max(target.priority, source.priority)
    target.tools = sorted({*target.tools, *source.tools})
    target.symptoms = sorted({*target.symptoms, *source.symptoms})
    target.asset_keys = sorted({*target.asset_keys, *source.asset_keys})
    before = source.status
    source.status, source.merged_into = MERGED, target.id
    facts: dict[str, Any] = {"source": source.id, "target": target.id, "source_title": source.title,
                             "target_title": target.title, "alert_ids": moved, "source_status": before}
    await changes.record(session, actor=actor, clock=clock, incident=source, action="merged", kind="merge",
                         body=f"Merged into “{target.title}”", data=facts)
    await changes.record(session, actor=actor, clock=clock, incident=target, action="merge_received", kind="merge",
                         body=f"“{source.title}” merged into this incident ({len(moved)} alert notification"
                              f"{'' if len(moved) == 1 else 's'})", data=facts)
    await changes.sla_hook("stop", session, source, now)
    await session.flush()
    return target


async def split(session: AsyncSession, *, actor: Principal, clock: Clock, incident_id: str,
                alert_ids: Sequence[str], title: str | None = None) -> Incident:
    """Move ``alert_ids`` (alerts of this incident) into a new incident; returns the new one."""
    original = await changes.load(session, actor=actor, incident_id=incident_id)
    wanted = list(dict.fromkeys(a.strip() for a in alert_ids if a and a.strip()))
    if not wanted:
        raise Invalid("choose the alerts to split off", field="alert_ids")
    if len(wanted) > MAX_SPLIT:
        raise Invalid(f"at most {MAX_SPLIT} alerts at a time", field="alert_ids")
    name = (title or "").strip()
    if len(name) > 500:
        raise Invalid("a title has at most 500 characters", field="title")
    linked = await _linked(session, original.id)
    chosen = [(link, alert) for link, alert in linked if alert.id in set(wanted)]
    unknown = sorted(set(wanted) - {alert.id for _, alert in chosen})
    if unknown:
        raise Invalid(f"{len(unknown)} of the chosen alerts are not in this incident", field="alert_ids",
                      details={"unknown": unknown})
    if len(chosen) == len(linked):
        raise Invalid("leave at least one alert in the incident (to move all of them, merge instead)",
                      field="alert_ids")
    now = clock.now()
    alerts = [alert for _, alert in chosen]
    first = alerts[0]
    derived = f"{first.signature} on {first.asset_ref}" if first.asset_ref else first.signature
    count, repeats = _count(alerts)
    new = Incident(id=new_id(), company_id=original.company_id, status=NEW, title=(name or derived)[:500],
                   symptom=original.symptom, symptoms=[original.symptom], severity=_worst([a.severity for a in alerts]),
                   key=f"split:{original.id}:{now.isoformat()}"[:600], root_asset_key="",
                   root_asset_name=first.asset_ref or "", asset_keys=[], tools=sorted({a.source for a in alerts}),
                   first_seen=min(link.joined_at for link, _ in chosen),
                   last_seen=max(link.joined_at for link, _ in chosen), alert_count=count, duplicate_count=repeats,
                   priority=original.priority, category=original.category, split_from=original.id,
                   explanation={"rule": "split", "notes": [f"split by hand from incident {original.id}"]},
                   created_at=now, updated_at=now)
    session.add(new)
    await session.flush()
    for link, alert in chosen:
        link.incident_id = new.id
        link.explanation = {**(link.explanation or {}), "split_from": original.id}
        alert.incident_id = new.id
    remaining = [alert for _, alert in linked if alert.id not in set(wanted)]
    original.alert_count, original.duplicate_count = _count(remaining)
    facts: dict[str, Any] = {"original": original.id, "new": new.id, "alert_ids": [a.id for a in alerts],
                             "title": new.title}
    await changes.record(session, actor=actor, clock=clock, incident=original, action="split", kind="split",
                         body=f"{len(alerts)} alert notification{'' if len(alerts) == 1 else 's'} split off into "
                              f"“{new.title}”", data=facts)
    await changes.record(session, actor=actor, clock=clock, incident=new, action="split_created", kind="split",
                         body=f"Split off from “{original.title}”", data=facts)
    await hooks.notify(session, company_id=new.company_id, incident_id=new.id, event=hooks.OPENED, now=now)
    await session.flush()
    return new
