"""``correlate()``: one alert notification + the tenant's open state -> a Decision (and the state updated).

Pure and deterministic: no I/O, no wall clock (``now`` is the arrival time the caller passes), no randomness
(incident ids come from the state's ``id_factory``). Windows are measured in event time: the alert's
``occurred_at`` when the tool gives one (never later than its arrival), else ``now``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from alertwhisperer.correlation.assets import ResolvedAsset
from alertwhisperer.correlation.context import Tenant
from alertwhisperer.correlation.decision import Decision, DecisionKind, Explanation, Rule
from alertwhisperer.correlation.identity import alert_identity, normalise_signature
from alertwhisperer.correlation.maintenance import is_in_maintenance
from alertwhisperer.correlation.matching import add_asset, choose, find_matches, update_root
from alertwhisperer.correlation.policy import CorrelationPolicy
from alertwhisperer.correlation.priority import max_severity
from alertwhisperer.correlation.state import AlertState, IncidentState, TenantState, widen
from alertwhisperer.correlation.symptoms import Symptom, base_class, in_storm_family
from alertwhisperer.correlation.wording import human, join_reason
from alertwhisperer.ingest.schemas import AlertIn

PRUNE_EVERY = 4096  # calls between automatic prunes of long-resolved incidents
_STORED: dict[str, Symptom] = {}  # the symptom a known alert keeps, one object per class


@dataclass(slots=True)  # not frozen: built for every notification, and a frozen __init__ costs more
class _Seen:
    """One notification, prepared: everything the rules need, computed once."""

    alert: AlertIn
    alert_id: str
    at: datetime
    now: datetime
    asset: ResolvedAsset
    symptom: Symptom
    identity: str
    key: str
    tool: str


def grouping_key(policy: CorrelationPolicy, *, asset_key: str, symptom: str, signature: str,
                 labels: dict[str, str]) -> str:
    sig = normalise_signature(signature)
    if not asset_key:  # nothing names an asset: the signature has to stand in for it
        return f"-|{symptom}|{sig}"
    if policy.key == "asset":
        return asset_key
    if policy.key == "asset+signature":
        return f"{asset_key}|sig:{sig}"
    if policy.key == "labels":
        values = [(k, labels.get(k, "")) for k in policy.key_labels]
        if any(v for _, v in values):
            return "labels|" + "|".join(f"{k}={v}" for k, v in values)
    if base_class(symptom) == "other":
        return f"{asset_key}|other|{sig}"
    return f"{asset_key}|{symptom}"


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _prepare(alert: AlertIn, alert_id: str | None, now: datetime, state: TenantState, tenant: Tenant) -> _Seen:
    at = min(_aware(alert.occurred_at), now) if alert.occurred_at else now
    asset = tenant.assets.resolve(alert.asset_ref, alert.labels)
    identity = alert_identity(source=alert.source, external_id=alert.external_id, signature=alert.signature,
                              asset_key=asset.key, labels=alert.labels)
    known = state.alerts.get(identity)
    if known is not None:  # a later notification of a known alert keeps the symptom it was first seen with
        symptom = _STORED.get(known.symptom) or _STORED.setdefault(known.symptom,
                                                                   Symptom(known.symptom, "identity", ""))
    else:
        symptom = tenant.classifier.classify(alert.signature, alert.message, alert.labels, alert.asset_ref,
                                             asset.host)
    key = grouping_key(tenant.policy, asset_key=asset.key, symptom=symptom.name, signature=alert.signature,
                       labels=alert.labels)
    tool = (alert.labels.get("tool_source") or alert.source).strip().lower() if alert.source == "generic" \
        else alert.source.strip().lower()
    return _Seen(alert, alert_id or f"{identity}@{state.calls}", at, now, asset, symptom, identity, key, tool)


def correlate(alert: AlertIn, state: TenantState, *, tenant: Tenant, now: datetime, alert_id: str | None = None,
              company_id: str | None = None) -> Decision:
    """Decide what one notification means and apply it to ``state`` (see the package docstring)."""
    if state.company_id != tenant.company_id or (company_id is not None and company_id != state.company_id):
        raise ValueError(f"state of company {state.company_id!r} used for {company_id or tenant.company_id!r}: "
                         "correlation never crosses companies")
    now = _aware(now)
    state.calls += 1
    state.latest = now if state.latest is None else max(state.latest, now)
    policy = tenant.policy
    state.settle = policy.window + policy.reopen
    if state.calls % PRUNE_EVERY == 0:
        state.prune(state.latest, keep=policy.reopen + policy.flap_window + policy.window + policy.hold)
    seen = _prepare(alert, alert_id, now, state, tenant)
    existing = state.alerts.get(seen.identity)
    if existing is not None and existing.asset_key != seen.asset.key:
        seen = _as_stored(seen, existing, tenant)
    if alert.status == "resolved":
        return _resolve(seen, existing, state, tenant)
    if existing is not None:
        if existing.incident_id is not None and existing.status == "firing":
            return _repeat(seen, existing, state, tenant)
        if existing.incident_id is not None:
            decision = _refire(seen, existing, state, tenant)
            if decision is not None:
                return decision
        elif existing.status == "firing" and existing.suppressed and _maintenance(seen, tenant):
            existing.count += 1
            existing.last_seen = max(existing.last_seen, seen.at)
            return _suppressed(seen, existing.suppressed, "repeat of an alert suppressed by maintenance", tenant)
    return _new_occurrence(seen, existing, state, tenant)


def _as_stored(seen: _Seen, a: AlertState, tenant: Tenant) -> _Seen:
    """A later notification of a known alert is about the asset and symptom the alert was first seen with."""
    index = tenant.assets
    known = a.asset_key in index.assets
    asset = ResolvedAsset(key=a.asset_key, name=index.display_name(a.asset_key), asset_id=a.asset_key if known
                          else None, matched_by="identity", critical=index.is_critical(a.asset_key),
                          tags=index.assets[a.asset_key].tags if known else {}, host=seen.asset.host)
    return replace(seen, asset=asset, symptom=Symptom(a.symptom, "identity", ""))


# --- repeats and resolves --------------------------------------------------------------------------------------
def _explain(seen: _Seen, rule: Rule, tenant: Tenant, incident: IncidentState | None = None, **extra: object
             ) -> Explanation:
    root = tenant.assets.display_name(incident.root) if incident is not None else None
    return Explanation(rule=rule, identity=seen.identity, key=seen.key, asset=seen.asset.name,
                       asset_key=seen.asset.key, asset_matched_by=seen.asset.matched_by, symptom=seen.symptom.name,
                       symptom_rule=seen.symptom.rule, incident_key=incident.key if incident else None,
                       root_cause=root, window_seconds=tenant.policy.window.total_seconds(),
                       **extra)  # type: ignore[arg-type]


def _decision(seen: _Seen, kind: DecisionKind, incident: IncidentState | None, reason: str, why: Explanation,
              **extra: object) -> Decision:
    return Decision(kind=kind, incident_id=incident.id if incident else None, alert_id=seen.alert_id,
                    identity=seen.identity, at=seen.at, asset=seen.asset, symptom=seen.symptom.name, reason=reason,
                    explanation=why, priority=incident.priority(seen.now) if incident else None,
                    touched=(incident.id,) if incident else (), **extra)  # type: ignore[arg-type]


def _repeat(seen: _Seen, a: AlertState, state: TenantState, tenant: Tenant) -> Decision:
    incident = state.incident_of(a)
    a.count += 1
    a.last_seen = max(a.last_seen, seen.at)
    a.severity = seen.alert.severity
    a.message, a.value = seen.alert.message, seen.alert.value
    ack = seen.alert.status == "acknowledged"
    a.acknowledged = a.acknowledged or ack
    if incident is None:  # pruned under a firing alert: should not happen, but never lose the alert
        return _new_occurrence(seen, None, state, tenant)
    incident.notifications += 1  # a repeat is not new activity: windows run from when alerts joined
    incident.severity = max_severity(incident.severity, a.severity)
    what = "acknowledgement" if ack else f"repeat #{a.count}"
    reason = f"{what.capitalize()} of alert {a.alert_id} ({a.signature}) on {seen.asset.name}: updates incident " \
             f"{incident.id}, never opens one"
    why = _explain(seen, "identity", tenant, incident, notes=(what,))
    return _decision(seen, "duplicate", incident, reason, why, status="firing")


def _note_change(a: AlertState, at: datetime, policy: CorrelationPolicy) -> None:
    a.changes.append(at)
    limit = at - policy.flap_window
    while a.changes and a.changes[0] < limit:
        a.changes.popleft()
    a.flapping = len(a.changes) > policy.flap_changes


def _resolve(seen: _Seen, a: AlertState | None, state: TenantState, tenant: Tenant) -> Decision:
    if a is None:
        why = _explain(seen, "orphan_resolve", tenant)
        return _decision(seen, "suppressed", None, "Resolve for an alert never seen firing: nothing to resolve",
                         why, status="resolved", suppressed_by="orphan_resolve")
    if a.incident_id is None:
        a.status = "resolved"
        a.last_seen = max(a.last_seen, seen.at)
        return _suppressed(seen, a.suppressed or "suppressed", "resolve of a suppressed alert", tenant,
                           status="resolved")
    incident = state.incident_of(a)
    policy = tenant.policy
    if a.status == "resolved" or incident is None:
        reason = f"Repeated resolve of alert {a.alert_id}: nothing changes"
        why = _explain(seen, "identity", tenant, incident, notes=("repeated resolve",))
        decision = _decision(seen, "duplicate", incident, reason, why, status="resolved")
        if incident is None:  # long forgotten: still name the incident it belonged to
            return replace(decision, incident_id=state.canonical(a.incident_id))
        return decision
    occurred = seen.alert.occurred_at
    at = _aware(occurred) if occurred is not None and _aware(occurred) > a.first_seen else seen.now
    at = max(min(at, seen.now), a.last_seen)
    a.status, a.resolved_at = "resolved", at
    a.last_seen = max(a.last_seen, at)
    _note_change(a, at, policy)
    incident.clear(a.identity, a.asset_key, a.symptom, a.key, at)
    incident.flapping = incident.flapping or a.flapping
    kind: DecisionKind = "flapping" if a.flapping else "resolved"
    if incident.firing:
        reason = f"Alert {a.alert_id} cleared; incident {incident.id} stays open ({len(incident.firing)} of " \
                 f"{len(incident.alerts)} alerts still firing)"
        why = _explain(seen, "flapping" if a.flapping else "identity", tenant, incident)
        return _decision(seen, kind, incident, reason, why, status="resolved", flapping=a.flapping)
    hold = policy.hold
    if incident.flapping:
        hold = max(hold, policy.flap_window)
    incident.cleared_at = at
    incident.resolve_at = at + hold
    transient = incident.notify_after is not None and at <= incident.notify_after
    ttr = (incident.resolve_at - incident.opened_at).total_seconds()
    minutes = int(hold.total_seconds() // 60)
    reason = (f"All alerts of incident {incident.id} cleared: it resolves at {incident.resolve_at.isoformat()} unless "
              f"something fires again (hold {minutes} min)")
    if transient:
        reason += "; resolved inside the auto-pause, so nobody is notified"
    notes = ("flapping: hold extended to the flap window",) if incident.flapping and hold > policy.hold else ()
    why = _explain(seen, "flapping" if a.flapping else "identity", tenant, incident, notes=notes)
    return _decision(seen, kind, incident, reason, why, status="resolved", flapping=a.flapping,
                     resolves_at=incident.resolve_at, incident_resolved=hold == timedelta(0),
                     time_to_resolve_seconds=ttr, transient=transient)


def _refire(seen: _Seen, a: AlertState, state: TenantState, tenant: Tenant) -> Decision | None:
    """A resolved alert fires again: back into its incident if that is still around, else None."""
    incident = state.incident_of(a)
    policy = tenant.policy
    if incident is None:
        return None
    status = incident.status_at(seen.at)
    since = seen.at - incident.resolve_at if incident.resolve_at is not None else timedelta(0)
    flapping_now = len([t for t in a.changes if t >= seen.at - policy.flap_window]) + 1 > policy.flap_changes
    # back into its incident when flapping, when the incident resolved less than the reopen window ago, or when
    # the incident is still open and this alert cleared less than the reopen window ago; a re-fire long after
    # it cleared is a new occurrence, even if other alerts keep the old incident open
    # (measured from when the incident would have resolved for this alert alone - its clear plus the hold -
    # not from when others kept it open until)
    ended = None if a.resolved_at is None else a.resolved_at + policy.hold
    if ended is not None and incident.resolve_at is not None:
        ended = min(ended, incident.resolve_at)  # closed by hand: no hold
    recent = ended is None or seen.at - ended <= policy.reopen
    if not (flapping_now or recent):
        return None
    if status == "resolved" and not flapping_now and _maintenance(seen, tenant):
        return None
    if not flapping_now and _live_elsewhere(seen, incident, state, tenant):
        return None  # part of something going on now (a storm, an upstream cause): not a return of the old one
    _note_change(a, seen.at, policy)
    a.status, a.resolved_at = "firing", None
    a.count += 1
    a.last_seen = max(a.last_seen, seen.at)
    a.severity = seen.alert.severity
    reopened = status == "resolved"
    _attach(seen, incident, state, tenant, new_alert=False)
    incident.flapping = incident.flapping or a.flapping
    if reopened:
        incident.reopen_count += 1
    if a.flapping:
        rule: Rule = "flapping"
        reason = f"Alert {a.alert_id} is flapping ({len(a.changes)} changes in {policy.flap_minutes} min): " \
                 f"kept in incident {incident.id}"
    elif reopened:
        rule = "reopen"
        reason = f"Alert {a.alert_id} fired again {human(since)} after incident {incident.id} resolved " \
                 f"(reopen window {policy.reopen_minutes} min): incident reopened"
    else:
        rule = "refire"
        reason = f"Alert {a.alert_id} fired again before incident {incident.id} finished resolving: resolution " \
                 "cancelled"
    why = _explain(seen, rule, tenant, incident, time_gap_seconds=since.total_seconds() if reopened else 0.0)
    kind: DecisionKind = "flapping" if a.flapping else "correlated"
    return _decision(seen, kind, incident, reason, why, reopened=reopened, flapping=a.flapping)


def _live_elsewhere(seen: _Seen, incident: IncidentState, state: TenantState, tenant: Tenant) -> bool:
    """Whether a storm or an upstream cause going on now, in another incident, explains the re-fire."""
    matches = find_matches(state=state, tenant=tenant, asset=seen.asset, symptom=seen.symptom.name, key="",
                           at=seen.at)
    return any(m.incident.id != incident.id and m.incident.status_at(seen.at) != "resolved"
               and (m.role == "storm" or (m.role == "cause" and m.rule == "topology")) for m in matches)


# --- new occurrences ---------------------------------------------------------------------------------------
def _maintenance(seen: _Seen, tenant: Tenant) -> str | None:
    windows = tenant.policy.maintenance_windows
    if not windows:
        return None
    window = is_in_maintenance(windows, asset_id=seen.asset.asset_id, name=seen.asset.name, tags=seen.asset.tags,
                               at=seen.at)
    return None if window is None else f"maintenance:{window.id}"


def _suppressed(seen: _Seen, by: str, what: str, tenant: Tenant, status: str = "firing") -> Decision:
    window_id = by.removeprefix("maintenance:") if by.startswith("maintenance:") else None
    names = {w.id: w.name or w.id for w in tenant.policy.maintenance_windows}
    label = names.get(window_id or "", window_id)
    reason = f"Suppressed ({what}): {seen.asset.name} is in maintenance window {label}" if window_id \
        else f"Suppressed: {what}"
    why = _explain(seen, "maintenance" if window_id else "orphan_resolve", tenant, maintenance_window=window_id)
    return _decision(seen, "suppressed", None, reason, why, status=status, suppressed_by=by)


def _new_occurrence(seen: _Seen, previous: AlertState | None, state: TenantState, tenant: Tenant) -> Decision:
    policy = tenant.policy
    blocked = _maintenance(seen, tenant)
    if blocked is not None:
        state.alerts[seen.identity] = _alert_state(seen, None, suppressed=blocked, previous=previous)
        return _suppressed(seen, blocked, "inside a maintenance window", tenant)
    matches = choose(find_matches(state=state, tenant=tenant, asset=seen.asset, symptom=seen.symptom.name,
                                  key=seen.key, at=seen.at), seen.at, policy)
    if not matches:
        incident = state.new_incident(key=seen.key, at=seen.at, severity=seen.alert.severity, asset_key=seen.asset.key)
        if policy.transient_pause is not None:
            incident.notify_after = seen.at + policy.transient_pause
        state.alerts[seen.identity] = _alert_state(seen, incident.id, previous=previous)
        _attach(seen, incident, state, tenant, new_alert=True)
        reason = f"New incident {incident.id}: {seen.symptom.name} on {seen.asset.name} (no open incident with key " \
                 f"{seen.key} and nothing related within {policy.window_minutes} min)"
        if incident.notify_after is not None:
            reason += f"; paused until {incident.notify_after.isoformat()} (auto-pause)"
        why = _explain(seen, "new", tenant, incident)
        return _decision(seen, "new_incident", incident, reason, why, notify_after=incident.notify_after)
    ordered = sorted(matches, key=lambda m: (m.incident.opened_at, m.incident.id))
    survivor = ordered[0].incident
    merged = tuple(m.incident.id for m in ordered[1:] if m.incident.id != survivor.id)
    for m in ordered[1:]:
        if m.incident.id != survivor.id and m.incident.id in state.incidents:
            state.merge(survivor, m.incident)
    if merged:
        update_root(survivor, tenant.assets)
    was_resolved = survivor.status_at(seen.at) == "resolved"
    member_is_new = seen.symptom.name not in survivor.asset_symptoms.get(seen.asset.key, {})
    state.alerts[seen.identity] = _alert_state(seen, survivor.id, previous=previous)
    _attach(seen, survivor, state, tenant, new_alert=True)
    if member_is_new and any(m.role in ("cause", "peer", "storm") for m in matches):
        survivor.explained.setdefault(seen.asset.key, set()).add(seen.symptom.name)
    if was_resolved:
        survivor.reopen_count += 1
    best = matches[0]
    rule = best.rule
    reason = join_reason(rule, best, survivor, tenant, key=seen.key, symptom=seen.symptom.name,
                         asset=seen.asset.name)
    if merged:
        reason += f"; merged incident{'s' if len(merged) > 1 else ''} {', '.join(merged)} into it"
    others = tuple(f"also {m.rule} with {m.incident.id}" for m in matches[1:])
    why = _explain(seen, rule, tenant, survivor,  # type: ignore[arg-type]
                   time_gap_seconds=best.gap.total_seconds(), topology_path=best.path, merged=merged,
                   storm_assets=len(survivor.storm_assets) if rule == "storm" else None,
                   notes=((best.note,) if best.note else ()) + others)
    decision = _decision(seen, "correlated", survivor, reason, why, reopened=was_resolved, merged=merged)
    if merged:
        return replace(decision, touched=(survivor.id, *merged))
    return decision


def _alert_state(seen: _Seen, incident_id: str | None, *, suppressed: str | None = None,
                 previous: AlertState | None = None) -> AlertState:
    a = AlertState(identity=seen.identity, alert_id=seen.alert_id, source=seen.alert.source, tool=seen.tool,
                   asset_key=seen.asset.key, symptom=seen.symptom.name, signature=seen.alert.signature,
                   severity=seen.alert.severity, status="firing", incident_id=incident_id, first_seen=seen.at,
                   last_seen=seen.at, acknowledged=seen.alert.status == "acknowledged", suppressed=suppressed,
                   message=seen.alert.message, value=seen.alert.value, key=seen.key)
    if previous is not None:
        a.changes = previous.changes
    a.changes.append(seen.at)
    return a


def _attach(seen: _Seen, incident: IncidentState, state: TenantState, tenant: Tenant, *, new_alert: bool) -> None:
    assert incident.company_id == state.company_id, "an incident never spans two companies"
    asset_key = seen.asset.key
    stored = state.alerts[seen.identity]
    incident.alerts.add(seen.identity)
    incident.fire(seen.identity, stored.asset_key, stored.symptom, stored.key)
    incident.notifications += 1
    incident.last_seen = max(incident.last_seen, seen.at)
    incident.opened_at = min(incident.opened_at, seen.at)
    incident.severity = max_severity(incident.severity, seen.alert.severity)
    incident.tools.add(seen.tool)
    incident.symptoms.add(seen.symptom.name)
    incident.cleared_at = incident.resolve_at = None
    if asset_key:
        add_asset(incident, asset_key, seen.at, tenant.assets)
        symptoms = incident.asset_symptoms[asset_key]
        symptoms[seen.symptom.name] = widen(symptoms.get(seen.symptom.name), seen.at)
        incident.critical = incident.critical or seen.asset.critical
    state.index(incident, key=seen.key, asset_key=asset_key, at=seen.at)
    policy = tenant.policy
    if new_alert and asset_key and policy.storm and in_storm_family(seen.symptom.name, policy.storm_classes):
        state.storm_events.append((seen.at, asset_key, incident.id))
        cutoff = (state.latest or seen.now) - 2 * policy.storm_window - timedelta(minutes=1)
        while state.storm_events and state.storm_events[0][0] < cutoff:
            state.storm_events.popleft()
        incident.storm_assets.add(asset_key)
        if len(incident.storm_assets) >= policy.storm_min_assets:
            incident.storm = True
