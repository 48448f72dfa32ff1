"""The grouping rules: which open incidents a new alert belongs to.

Rules, most specific first (an alert that matches several incidents merges them into the oldest one):

1. ``key`` - an open incident with the alert's grouping key, within the window (or with an alert of that key
   still firing, within the horizon); ``reopen`` - the key's incident resolved less than the reopen window ago.
2. ``related_symptom`` - an incident holding a related symptom on the same asset that started close to this
   one (see ``_related``); a resolved incident is reopened only by its own key.
3. ``topology`` - an incident on an asset linked by depends_on: an effect here joins an upstream cause that can
   explain it, a cause here joins downstream effects it explains (causal, symptom-aware; see ``_topology``).
4. ``storm`` - ``storm_min_assets`` assets failing with a storm-class symptom within the storm window (or an
   incident already flagged as a storm within it).

Each rule compares the alert with individual incident members (asset, symptom), so the resulting partition
does not depend on the order in which simultaneous alerts arrive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from alertwhisperer.correlation.assets import AssetIndex, ResolvedAsset
from alertwhisperer.correlation.context import Tenant
from alertwhisperer.correlation.policy import CorrelationPolicy
from alertwhisperer.correlation.state import IncidentState, TenantState, distance
from alertwhisperer.correlation.symptoms import (
    any_usage,
    base_class,
    explains,
    in_storm_family,
    is_cause,
    is_effect,
    is_short_lived_cause,
    related,
    resource_cause,
)


@dataclass(frozen=True, slots=True)
class Match:
    incident: IncidentState
    rule: str
    gap: timedelta
    path: tuple[str, ...] = ()
    note: str = ""


def gap(incident: IncidentState, at: datetime) -> timedelta:
    """How far ``at`` lies outside the incident's [opened_at, last_seen] span (zero inside it)."""
    return max(at - incident.last_seen, incident.opened_at - at, timedelta(0))


def _candidate(incident: IncidentState, at: datetime, reopen: timedelta) -> bool:
    """Open, resolving, or resolved less than the reopen window ago (a joining alert reopens it)."""
    if incident.firing or incident.resolve_at is None or at < incident.resolve_at:
        return True
    return at - incident.resolve_at <= reopen


def find_matches(*, state: TenantState, tenant: Tenant, asset: ResolvedAsset, symptom: str, key: str,
                 at: datetime) -> list[Match]:
    """Every incident the alert relates to, by any rule; per incident the match of the most specific rule.

    Rules compare the alert with the incident's members (alerts of one asset and symptom, or one key, with
    the event times they joined), and all incidents matched are merged into one, so the grouping is the
    transitive closure of pairwise relations and does not depend on the order of simultaneous alerts.
    """
    policy = tenant.policy
    found: list[Match] = list(_by_key(state, key, at, tenant))
    # when the alert continues a member by key (same asset and symptom), it started when that member did
    start = min([at, *(m.incident.asset_symptoms.get(asset.key, {}).get(symptom, (at, at))[0] for m in found)])
    if policy.related_symptoms and policy.key == "asset+symptom" and asset.key:
        found += _related(state, asset.key, symptom, at, start, tenant)
    if policy.topology and asset.asset_id is not None:
        found += _topology(state, tenant.assets, asset.asset_id, symptom, at, start, tenant)
    if policy.storm and asset.key and in_storm_family(symptom, policy.storm_classes):
        found += _storm(state, asset.key, at, tenant)
    best: dict[str, Match] = {}
    for match in found:  # rules in order: the first match per incident is the most specific
        best.setdefault(match.incident.id, match)
    return list(best.values())


def _by_key(state: TenantState, key: str, at: datetime, tenant: Tenant) -> list[Match]:
    incident_id = state.by_key.get(key)
    if incident_id is None:
        return []
    incident = state.incidents.get(state.canonical(incident_id))
    if incident is None or key not in incident.keys:
        return []
    policy = tenant.policy
    if incident.status_at(at) == "resolved":
        assert incident.resolve_at is not None
        since = at - incident.resolve_at
        if since <= policy.reopen and at >= incident.opened_at - policy.window:
            return [Match(incident, "reopen", max(since, timedelta(0)))]
        return []
    apart = distance(incident.keys[key], at)
    if apart <= policy.window or (apart <= policy.horizon and _firing_with_key(state, incident, key)):
        return [Match(incident, "key", apart)]
    return []


def _firing_with_key(state: TenantState, incident: IncidentState, key: str) -> bool:
    """Whether an alert with this very key still fires in the incident (the problem is still going on), as
    opposed to the incident being kept open by other alerts."""
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


def _related(state: TenantState, asset_key: str, symptom: str, at: datetime, start: datetime, tenant: Tenant
             ) -> list[Match]:
    """Related symptoms on one asset that *started* close together (a chronic or flapping problem is not
    related to something new on the host just because it keeps firing); a usage symptom (cpu, memory, disk)
    and a service effect only when the usage came first, within the cause window; a usage symptom and anything
    else only within the cause window of each other."""
    policy = tenant.policy
    window = policy.window
    out = []
    for incident_id in _live(state, state.by_asset.get(asset_key, set())):
        incident = state.incidents[incident_id]
        if gap(incident, at) > window or incident.status_at(at) == "resolved":
            continue  # a resolved incident reopens only by its own key
        theirs = incident.asset_symptoms.get(asset_key, {})
        hits = sorted((abs(start - span[0]), s) for s, span in theirs.items()
                      if related(symptom, s) and _close(symptom, s, span[0], start, policy))
        if hits:
            out.append(Match(incident, "related_symptom", hits[0][0], note=hits[0][1]))
    return out


def _close(symptom: str, s: str, theirs: datetime, mine: datetime, policy: CorrelationPolicy) -> bool:
    direction = resource_cause(symptom, s)
    if direction == 0:
        if base_class(symptom) == "host_down" or base_class(s) == "host_down":
            # a host going down: what follows on it within the window, what it shows a detection delay earlier
            cause, effect = (mine, theirs) if base_class(symptom) == "host_down" else (theirs, mine)
            return -policy.cause_window <= effect - cause <= policy.window
        limit = policy.cause_window if any_usage(symptom, s) else policy.window
        return abs(mine - theirs) <= limit
    cause, effect = (mine, theirs) if direction > 0 else (theirs, mine)
    return timedelta(0) <= effect - cause <= policy.cause_window


def _active(incident: IncidentState, at: datetime) -> bool:
    """Still has a firing alert, or ``at`` falls inside its span (a late delivery)."""
    return bool(incident.firing) or gap(incident, at) == timedelta(0)


def _topology(state: TenantState, index: AssetIndex, asset_id: str, symptom: str, at: datetime, start: datetime,
              tenant: Tenant) -> list[Match]:
    """Causal topology: an effect here joins the incident of an upstream cause that explains it; a cause here
    joins incidents of downstream effects it explains (``symptoms.EXPLAINS``).

    The justification is always one member of the incident - a symptom on one asset, with the event times its
    alerts joined - never the incident as a whole, so what an incident absorbed elsewhere cannot pull in more.
    The effect must start at most the window after the cause starts (the short cause window for usage and
    degradation causes) or at most the cause window before it (a detection delay; not at all for usage
    causes), and the incident must still be active. Every condition compares the alert with one member, so
    the grouping stays order-independent."""
    policy = tenant.policy
    effect, cause = is_effect(symptom), is_cause(symptom)
    if not (effect or cause):
        return []
    near = index.neighbourhood(asset_id, policy.topology_depth)
    if not near:
        return []
    if len(near) <= len(state.by_asset):
        pairs = [(other, state.by_asset[other]) for other in near if other in state.by_asset]
    else:
        pairs = [(other, ids) for other, ids in state.by_asset.items() if other in near]
    best: dict[str, Match] = {}
    for other, ids in pairs:
        relation, path = near[other]
        hops = (len(path) - 1) // 2
        upstream = relation == "upstream"
        if (upstream and not effect) or (not upstream and not cause):
            continue
        for incident_id in _live(state, ids):
            incident = state.incidents[incident_id]
            if not _active(incident, at):
                continue
            closest: timedelta | None = None
            for s, span in incident.asset_symptoms.get(other, {}).items():
                the_cause = s if upstream else symptom
                if not (explains(s, symptom, hops) if upstream else explains(symptom, s, hops)):
                    continue
                cause_start, effect_start = (span[0], start) if upstream else (start, span[0])
                # effects start after their cause within the window (the short one for short-lived causes); a
                # tool may notice an effect before the cause, but only by a detection delay (the short window).
                # Starts, not latest activity: a chronic or flapping problem is no effect of a new cause.
                limit = policy.cause_window if is_short_lived_cause(the_cause) else policy.window
                after = effect_start - cause_start  # > 0: the effect started after the cause
                before = -after  # > 0: the effect was seen before the cause
                # usage causes (disk, memory, cpu, errors, latency) are measured, not detected late: they must
                # come first; an unreachable host or a failing database may be noticed after its effects
                lead = timedelta(0) if is_short_lived_cause(the_cause) else policy.cause_window
                if after > limit or before > lead:
                    continue
                apart = max(after, before, timedelta(0))
                if closest is None or apart < closest:
                    closest = apart
            if closest is None:
                continue
            prior = best.get(incident.id)
            if prior is None or (len(path), path) < (len(prior.path), prior.path):
                best[incident.id] = Match(incident, "topology", closest, path, relation)
    found = [best[k] for k in sorted(best)]
    if not policy.topology_siblings:  # a late cause joins just the first of its dependents' incidents
        downstream = sorted((m for m in found if m.note == "downstream"),
                            key=lambda m: (m.incident.opened_at, m.incident.id))
        found = [m for m in found if m.note != "downstream"] + downstream[:1]
    return found


def _storm(state: TenantState, asset_key: str, at: datetime, tenant: Tenant) -> list[Match]:
    policy = tenant.policy
    horizon = policy.storm_window
    others: set[str] = set()
    incident_ids: set[str] = set()
    for when, other, incident_id in state.storm_events:
        if abs(when - at) <= horizon and other != asset_key:
            others.add(other)
            incident_ids.add(state.canonical(incident_id))
    if not others:
        return []
    incidents = [i for i in (state.incidents.get(x) for x in sorted(incident_ids))
                 if i is not None and _candidate(i, at, policy.reopen)]
    if len(others) + 1 < policy.storm_min_assets:
        incidents = [i for i in incidents if i.storm]
    return [Match(i, "storm", gap(i, at), note=str(len(others) + 1)) for i in incidents]


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
