"""Correlation: a pure, deterministic core that turns alert notifications into incidents.

No database, no I/O, no wall clock: the caller passes the arrival time, windows are measured in event time
(``AlertIn.occurred_at`` when the tool gives it, never later than arrival; else the arrival time), and incident
ids come from the state's ``id_factory``. Replaying the same notifications gives the same decisions.

Using it (service layer, replay CLI)::

    tenant = Tenant.build(company_id, assets=[AssetInfo(...), ...], policy=CorrelationPolicy(...))
    state = TenantState(company_id, id_factory=lambda: str(uuid4()))   # default: inc-000001, inc-000002 ...
    for alert in parse_result.alerts:
        decision = correlate(alert, state, tenant=tenant, now=received_at, alert_id=row.id)
        # decision.kind        new_incident | correlated | duplicate | resolved | suppressed | flapping
        # decision.outcome     the replay vocabulary (flapping -> duplicate / resolved)
        # decision.incident_id the incident (None only when suppressed)
        # decision.reason / .explanation (rule, key, time gap, topology path, root cause) / .priority
        # decision.merged      incidents folded into incident_id: re-point their alerts
        #                      (state.canonical(old_id) gives the survivor at any time)
        # decision.resolves_at the incident resolves then (hold) unless something fires: schedule a job
        # decision.notify_after auto-pause: notify only if the incident is still open then
        # decision.touched     incident ids whose state changed: persist those

* ``correlate`` mutates ``state`` in place (one tenant's working copy; the replay CLI keeps one per company in
  memory, the service layer loads/saves it). It raises ``ValueError`` if the state, the tenant context and the
  optional ``company_id`` disagree: nothing ever crosses companies. Per alert it costs a few dict lookups:
  a repeat or resolve of a known alert keeps the symptom it was first classified with, classification results
  are cached per (signature, message, labels, host), and the grouping rules look only at incidents indexed
  by the alert's key, asset and topological neighbours, so it sustains tens of thousands of alerts per second
  (``bench/correlation/engine_speed.py``).
* Grouping is causal and explains away: an alert joins the incident of the *best* explanation (a failure
  before resource usage, then the closest start), not every incident it touches; a cause must be active and
  come first (an effect may be noticed before it only by a detection delay); a cause noticed late takes only
  effects nothing else explains; a recurrence reopens by its key, measured from when *its* alerts cleared.
* ``state.close_incident(id, at)``: a technician resolved it by hand. ``state.prune(now, keep=...)`` drops
  incidents resolved long ago (``correlate`` also does it every ``PRUNE_EVERY`` calls).
* ``IncidentState.status_at(t)`` is open / resolving (hold running) / resolved; ``.priority(now)`` the
  seeds' score with breakdown (recompute when ``now`` moves, for age decay).
* Building blocks usable alone: ``classify`` / ``SymptomClassifier`` (symptoms), ``AssetIndex.resolve``
  (assets), ``alert_identity``, ``priority_score``, ``is_in_maintenance``.

Modules: symptoms (+ symptom_rules, the data), causality (which symptom can explain which, and when), assets,
identity, policy, maintenance, priority, state, decision, context, matching (the grouping rules and the
choice among them), engine.
"""

from alertwhisperer.correlation.assets import AssetIndex, AssetInfo, ResolvedAsset, format_path
from alertwhisperer.correlation.context import Tenant
from alertwhisperer.correlation.decision import Decision, DecisionKind, Explanation
from alertwhisperer.correlation.engine import PRUNE_EVERY, correlate, grouping_key
from alertwhisperer.correlation.identity import alert_identity
from alertwhisperer.correlation.maintenance import MaintenanceWindow, WeeklyRule, is_in_maintenance
from alertwhisperer.correlation.policy import DEFAULT_POLICY, CorrelationPolicy
from alertwhisperer.correlation.priority import PriorityComponent, PriorityScore, priority_score
from alertwhisperer.correlation.state import AlertState, IncidentState, TenantState
from alertwhisperer.correlation.symptoms import Symptom, SymptomClassifier, SymptomRule, classify

__all__ = [
    "DEFAULT_POLICY", "PRUNE_EVERY", "AlertState", "AssetIndex", "AssetInfo", "CorrelationPolicy", "Decision",
    "DecisionKind", "Explanation", "IncidentState", "MaintenanceWindow", "PriorityComponent", "PriorityScore",
    "ResolvedAsset", "Symptom", "SymptomClassifier", "SymptomRule", "Tenant", "TenantState", "WeeklyRule",
    "alert_identity", "classify", "correlate", "format_path", "grouping_key", "is_in_maintenance", "priority_score",
]
