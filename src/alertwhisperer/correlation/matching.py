"""The grouping rules: which incidents a new alert relates to, and how (the engine picks among them).

Rules, most specific first:

1. ``key`` - an open incident with the alert's grouping key, within the window (or with an alert of that key
   still firing, within the horizon, or whose alerts of that key cleared less than the reopen window ago);
   ``reopen`` - the same, for an incident that resolved. The alert continues that problem: nothing else counts.
2. ``related_symptom`` - a member of an incident on the same asset that causes this symptom, is caused by it,
   or is another face of the same failure (``causality.same_asset``).
3. ``topology`` - a member on an asset linked by depends_on: an upstream cause that explains this effect, or
   downstream effects this cause explains (``causality.explains``).
4. ``storm`` - ``storm_min_assets`` assets failing with a storm-class symptom within the storm window.

Each match says how the incident relates to the alert (``role``): ``same`` (key, reopen), ``cause`` (one of
its members explains the alert), ``peer`` (same failure), ``effect`` (the alert explains one of its members:
a cause noticed after its effect) or ``storm``; ``gap`` is how far apart the two starts are and
``simultaneous`` whether they are equal. The justification is always one member of the incident - a symptom
on one asset, with the event times its alerts joined, whether it still fires - never the incident as a whole,
so what an incident absorbed elsewhere cannot pull in more. A cause must still be active when its effect
starts. A cause noticed late joins an effect's incident only when nothing before explains that effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from alertwhisperer.correlation.assets import AssetIndex, ResolvedAsset
from alertwhisperer.correlation.causality import (
    CAUSED_BY,
    CLEAR_GRACE,
    PEER,
    causal_gap,
    explains,
    is_cause,
    is_effect,
    is_short_lived_cause,
    is_usage,
    same_asset,
)
from alertwhisperer.correlation.context import Tenant
from alertwhisperer.correlation.policy import CorrelationPolicy
from alertwhisperer.correlation.state import IncidentState, TenantState, distance
from alertwhisperer.correlation.symptoms import in_storm_family

_ZERO = timedelta(0)


@dataclass(frozen=True, slots=True)
class Match:
    incident: IncidentState
    rule: str
    gap: timedelta
    path: tuple[str, ...] = ()
    note: str = ""
    role: str = "same"  # same | cause | peer | effect | storm
    simultaneous: bool = False
    weak: bool = False  # the explaining member is resource usage (cpu, memory, disk): common, weak evidence


def gap(incident: IncidentState, at: datetime) -> timedelta:
    """How far ``at`` lies outside the incident's [opened_at, last_seen] span (zero inside it)."""
    return max(at - incident.last_seen, incident.opened_at - at, _ZERO)


def _candidate(incident: IncidentState, at: datetime, reopen: timedelta) -> bool:
    """Open, resolving, or resolved less than the reopen window ago (a joining alert reopens it)."""
    if incident.firing or incident.resolve_at is None or at < incident.resolve_at:
        return True
    return at - incident.resolve_at <= reopen


def find_matches(*, state: TenantState, tenant: Tenant, asset: ResolvedAsset, symptom: str, key: str,
                 at: datetime) -> list[Match]:
    """Every incident member the alert relates to, by any rule (a live key match alone when there is one)."""
    policy = tenant.policy
    found: list[Match] = _by_key(state, key, at, tenant)
    if found and found[0].role == "same" and found[0].rule == "key":
        return found  # continues a problem of its key within the window: nothing else counts
    if policy.related_symptoms and policy.key == "asset+symptom" and asset.key:
        found += _related(state, asset.key, symptom, at, tenant)
    if policy.topology and asset.asset_id is not None:
        found += _topology(state, tenant.assets, asset.asset_id, symptom, at, tenant)
    if policy.storm and asset.key and in_storm_family(symptom, policy.storm_classes):
        found += _storm(state, asset.key, at, tenant)
    return found


def _by_key(state: TenantState, key: str, at: datetime, tenant: Tenant) -> list[Match]:
    incident_id = state.by_key.get(key)
    if incident_id is None:
        return []
    incident = state.incidents.get(state.canonical(incident_id))
    if incident is None or key not in incident.keys:
        return []
    policy = tenant.policy
    active = incident.key_active(key)
    cleared = incident.key_cleared.get(key)
    if incident.status_at(at) == "resolved":
        assert incident.resolve_at is not None
        # the same problem again shortly after *its* alerts cleared (not after others kept the incident open)
        ended = incident.resolve_at if cleared is None else min(cleared + policy.hold, incident.resolve_at)
        since = at - ended
        if since <= policy.reopen and at >= incident.opened_at - policy.window:
            return [Match(incident, "reopen", max(at - incident.resolve_at, _ZERO))]
        return []
    apart = distance(incident.keys[key], at)
    if active is None:  # a state saved before keys were counted
        active = _firing_with_key(state, incident, key)
    recent = not active and cleared is not None and at - cleared - policy.hold <= policy.reopen
    if apart <= policy.window:
        return [Match(incident, "key", apart)]
    if apart <= policy.horizon and (active or recent):
        # a long-running problem of this key, reported again: it joins unless something that started more
        # recently explains the alert better (it competes with the other explanations by its gap)
        return [Match(incident, "key", apart, role="peer")]
    return []


def _firing_with_key(state: TenantState, incident: IncidentState, key: str) -> bool:
    for identity in incident.firing:
        a = state.alerts.get(identity)
        if a is not None and a.key == key:
            return True
    return False


def _live(state: TenantState, ids: set[str]) -> list[str]:
    """The incidents of an asset that can still take alerts; drops ones long resolved from the asset index
    (resolved more than window + reopen window before the latest arrival)."""
    out: list[str] = []
    dead: list[str] = []
    horizon = (state.latest - state.settle) if state.latest is not None else None
    for incident_id in ids:
        incident = state.incidents.get(state.canonical(incident_id))
        stale = incident is None or (horizon is not None and not incident.firing
                                     and incident.resolve_at is not None and incident.resolve_at < horizon)
        if stale or incident is None:
            dead.append(incident_id)
        else:
            out.append(incident.id)
    for incident_id in dead:
        ids.discard(incident_id)
    return sorted(set(out))


def _explained(incident: IncidentState, asset: str, symptom: str) -> bool:
    return symptom in incident.explained.get(asset, ())


def _related(state: TenantState, asset_key: str, symptom: str, at: datetime, tenant: Tenant) -> list[Match]:
    """Members on the same asset: a cause of this symptom that is still active and came first (shortly before,
    or any time before for a sustained cause such as memory pressure before an OOM kill); a peer (another face
    of the same failure) that started within the cause window; an effect this symptom explains that was
    noticed shortly before it, when nothing else explains that effect."""
    policy = tenant.policy
    window = policy.cause_window
    out = []
    for incident_id in _live(state, state.by_asset.get(asset_key, set())):
        incident = state.incidents[incident_id]
        if incident.status_at(at) == "resolved":
            continue  # a resolved incident reopens only by its own key
        for s, span in incident.asset_symptoms.get(asset_key, {}).items():
            relation = same_asset(symptom, s)
            if relation is None:
                continue
            kind, sustained = relation
            limit = None if sustained else window
            if kind == PEER:
                apart = abs(at - span[0])
                if apart > window or not incident.member_active(asset_key, s, at, CLEAR_GRACE):
                    continue
                role = "peer"
            elif kind == CAUSED_BY:  # the member causes this alert
                found = causal_gap(s, symptom, span[0], at, limit)
                if found is None or not incident.member_active(asset_key, s, at, CLEAR_GRACE):
                    continue
                apart, role = found, "cause"
            else:  # CAUSES: this alert causes the member, noticed earlier or out of order
                found = causal_gap(symptom, s, at, span[0], limit)
                if found is None or not incident.member_active(asset_key, s, at, CLEAR_GRACE):
                    continue
                if span[0] != at and _explained(incident, asset_key, s):
                    continue
                apart, role = found, "effect"
            out.append(Match(incident, "related_symptom", apart, note=s, role=role, simultaneous=span[0] == at,
                             weak=role == "cause" and is_usage(s)))
    return out


def _topology(state: TenantState, index: AssetIndex, asset_id: str, symptom: str, at: datetime, tenant: Tenant
              ) -> list[Match]:
    """Causal topology: an effect here joins an upstream member that explains it (still active, started before
    it within the window - the short cause window for short-lived causes - or after it by a detection lead); a
    cause here joins downstream effects it explains that nothing else explains."""
    policy = tenant.policy
    effect, cause = is_effect(symptom), is_cause(symptom)
    if not (effect or cause):
        return []
    near = index.neighbourhood(asset_id, policy.topology_depth)
    if not near:
        return []
    by_asset = state.by_asset
    if len(near) <= len(by_asset):
        pairs = [(other, by_asset[other]) for other in near if other in by_asset]
    else:
        pairs = [(other, ids) for other, ids in by_asset.items() if other in near]
    out: list[Match] = []
    for other, ids in pairs:
        relation, path = near[other]
        hops = (len(path) - 1) // 2
        upstream = relation == "upstream"
        if (upstream and not effect) or (not upstream and not cause):
            continue
        for incident_id in _live(state, ids):
            incident = state.incidents[incident_id]
            for s, span in incident.asset_symptoms.get(other, {}).items():
                if upstream:
                    if not explains(s, symptom, hops):
                        continue
                    limit = policy.cause_window if is_short_lived_cause(s) else policy.window
                    found = causal_gap(s, symptom, span[0], at, limit)
                    role = "cause"
                else:
                    if not explains(symptom, s, hops):
                        continue
                    limit = policy.cause_window if is_short_lived_cause(symptom) else policy.window
                    found = causal_gap(symptom, s, at, span[0], limit)
                    role = "effect"
                if found is None or not incident.member_active(other, s, at, CLEAR_GRACE):
                    continue
                simultaneous = span[0] == at
                if role == "effect" and not simultaneous and _explained(incident, other, s):
                    continue
                out.append(Match(incident, "topology", found, path, relation, role, simultaneous,
                                 role == "cause" and is_usage(s)))
    return out


def _storm(state: TenantState, asset_key: str, at: datetime, tenant: Tenant) -> list[Match]:
    policy = tenant.policy
    horizon = policy.storm_window
    others: set[str] = set()
    incident_ids: set[str] = set()
    for when, other, incident_id in state.storm_events:
        if abs(when - at) <= horizon and other != asset_key:
            canonical = state.canonical(incident_id)
            incident = state.incidents.get(canonical)
            if incident is None or not _fresh(incident, other, at, horizon, policy.storm_classes):
                continue  # that host's failure began long before: an old problem back, not part of this storm
            others.add(other)
            incident_ids.add(canonical)
    if not others:
        return []
    incidents = [i for i in (state.incidents.get(x) for x in sorted(incident_ids))
                 if i is not None and _candidate(i, at, policy.reopen)]
    if len(others) + 1 < policy.storm_min_assets:
        incidents = [i for i in incidents if i.storm]
    return [Match(i, "storm", gap(i, at), note=str(len(others) + 1), role="storm") for i in incidents]


def _fresh(incident: IncidentState, asset: str, at: datetime, horizon: timedelta, classes: tuple[str, ...]
           ) -> bool:
    """Whether the asset's storm-class failure in the incident started within twice the storm window of ``at``."""
    return any(abs(span[0] - at) <= 2 * horizon for s, span in incident.asset_symptoms.get(asset, {}).items()
               if in_storm_family(s, classes))


def update_root(incident: IncidentState, index: AssetIndex) -> None:
    """Recompute the incident's maximal assets (no upstream inside it) and its probable root cause."""
    candidates = (set(incident.tops) or set(incident.asset_symptoms)) - {""}
    tops = {t for t in candidates if not (index.ancestors(t) & candidates)}
    incident.tops = tops
    incident.root = choose_root(incident, index)


def add_asset(incident: IncidentState, asset_key: str, at: datetime, index: AssetIndex) -> None:
    if asset_key in incident.asset_first_seen:
        if at < incident.asset_first_seen[asset_key]:
            incident.asset_first_seen[asset_key] = at
            incident.root = choose_root(incident, index)
        return
    incident.asset_first_seen[asset_key] = at
    incident.asset_symptoms.setdefault(asset_key, {})
    ancestors = index.ancestors(asset_key) if asset_key in index.assets else frozenset()
    if any(t in ancestors for t in incident.tops):
        return
    before = len(incident.tops)
    incident.tops = {t for t in incident.tops if asset_key not in index.ancestors(t)}
    incident.tops.add(asset_key)
    if len(incident.tops) == before + 1 and incident.root in incident.tops:  # nothing displaced: compare two
        incident.root = min(incident.root, asset_key, key=lambda k: _root_order(incident, index, k))
    else:
        incident.root = choose_root(incident, index)


def _root_order(incident: IncidentState, index: AssetIndex, key: str) -> tuple[bool, datetime, str]:
    return key not in index.assets, incident.asset_first_seen.get(key, incident.opened_at), key


def choose_root(incident: IncidentState, index: AssetIndex) -> str:
    if not incident.tops:
        return incident.root
    return min(incident.tops, key=lambda k: _root_order(incident, index, k))


_PREFERENCE = {"same": 0, "cause": 1, "peer": 1, "storm": 2, "effect": 3}


def choose(matches: list[Match], at: datetime, policy: CorrelationPolicy) -> list[Match]:
    """The matches the alert joins (all their incidents merge), the one named in the reason first.

    Explaining away: of the members that explain the alert (causes, peers), only the best counts (ties all
    count): a failure before resource usage (usage alerts are common and weak evidence), then the closest in
    time; a member that started at the very same time always counts too, so the grouping of
    simultaneous alerts does not depend on their order. Effects the alert explains and storms always count.
    An alert that continues a problem by its key joins that incident alone (beyond the window only when
    nothing that started more recently explains it). A resolved incident is reopened
    only by its key, and only when nothing going on now relates to the alert."""
    live = [m for m in matches if m.incident.status_at(at) != "resolved"]
    if not live:
        return [m for m in matches if m.role == "same"][:1]
    same = [m for m in live if m.role == "same"]
    if same:
        return same[:1]
    chosen = [m for m in live if m.role == "storm"]
    effects = [m for m in live if m.role == "effect"]
    if not policy.topology_siblings:  # a late cause joins just the first of its dependents' incidents
        downstream = sorted((m for m in effects if m.rule == "topology"),
                            key=lambda m: (m.incident.opened_at, m.incident.id))
        effects = [m for m in effects if m.rule != "topology"] + downstream[:1]
    explanations = [m for m in live if m.role in ("cause", "peer")]
    past = [m for m in explanations if not m.simultaneous]
    if past:
        best = min((m.weak, m.gap) for m in past)
        winners = [m for m in past if (m.weak, m.gap) == best]
        continued = [m for m in winners if m.rule == "key"]
        if continued:  # nothing fresher explains it: it continues its long-running problem, alone
            return continued[:1]
        chosen += winners
    chosen += effects
    chosen += [m for m in explanations if m.simultaneous]
    chosen.sort(key=lambda m: (_PREFERENCE[m.role], m.gap, m.incident.opened_at, m.incident.id, m.path, m.note))
    out: list[Match] = []
    seen: set[str] = set()
    for m in chosen:
        if m.incident.id not in seen:
            seen.add(m.incident.id)
            out.append(m)
    return out
