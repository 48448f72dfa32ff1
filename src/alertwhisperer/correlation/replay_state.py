"""The replay's correlation state, as the service keeps it: a snapshot in ``correlation_states`` (see ``store``).

The replay correlates with assets keyed by *name* (its database ids are random per run, names are not, and the
keys show in the decision reasons); the service keys them by database id. So the snapshot is the replay's state
with every asset key translated to its id: asset fields, grouping keys (``<asset>|<symptom>`` ...) and the
identities hashed over an asset key (``h:<source>:<sha256>``, recomputed from the alert). ``FIELDS`` says what
each state field holds; a field it does not know stops the translation (no snapshot: the service then rebuilds
the state from the alert log, ``Alert.correlation_seq``), so a new state field cannot slip through untranslated.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import fields, replace
from typing import Any

from alertwhisperer.correlation.decision import Decision
from alertwhisperer.correlation.identity import alert_identity
from alertwhisperer.correlation.state import AlertState, IncidentState, TenantState

# What each field holds: "asset" (an asset key), "assets" (a set of them), "asset_map" (dict keyed by them),
# the same for "identity" and "key" (a grouping key), "storm_events" ((at, asset, incident) tuples), or "-".
FIELDS: dict[type, dict[str, str]] = {
    TenantState: {"company_id": "-", "id_factory": "-", "incidents": "incidents", "alerts": "identity_map",
                  "by_key": "key_map", "by_asset": "asset_map", "storm_events": "storm_events",
                  "merged_into": "-", "calls": "-", "latest": "-", "settle": "-"},
    AlertState: {"identity": "identity", "alert_id": "-", "source": "-", "tool": "-", "asset_key": "asset",
                 "symptom": "-", "signature": "-", "severity": "-", "status": "-", "incident_id": "-",
                 "first_seen": "-", "last_seen": "-", "count": "-", "acknowledged": "-", "changes": "-",
                 "flapping": "-", "resolved_at": "-", "suppressed": "-", "message": "-", "value": "-",
                 "key": "key"},
    IncidentState: {"id": "-", "company_id": "-", "key": "key", "opened_at": "-", "last_seen": "-",
                    "severity": "-", "root": "asset", "keys": "key_map", "asset_symptoms": "asset_map",
                    "asset_first_seen": "asset_map", "tops": "assets", "symptoms": "-", "tools": "-",
                    "alerts": "identities", "firing": "identities", "notifications": "-", "critical": "-",
                    "storm": "-", "storm_assets": "assets", "cleared_at": "-", "resolve_at": "-",
                    "reopen_count": "-", "notify_after": "-", "flapping": "-", "member_firing": "asset_map",
                    "member_cleared": "asset_map", "key_firing": "key_map", "key_cleared": "key_map",
                    "explained": "asset_map"},
}


class Untranslatable(ValueError):
    """The state holds something the translation does not know how to map."""


def unknown_fields() -> list[str]:
    """State fields ``FIELDS`` does not describe (must be empty; a test checks it)."""
    return [f"{cls.__name__}.{f.name}" for cls, known in FIELDS.items() for f in fields(cls) if f.name not in known]


class Translator:
    """Maps one company's name-keyed state to the service's id-keyed one."""

    def __init__(self, ids: Mapping[str, str], identities: Mapping[str, str]) -> None:
        self.ids = ids  # asset name -> database id (known assets; discovered keys are the same on both sides)
        self.identities = identities  # hash identity with the name -> with the id
        self._keys: dict[str, str] = {}

    def asset(self, key: str) -> str:
        return self.ids.get(key, key)

    def identity(self, identity: str) -> str:
        if not identity.startswith("h:"):
            return identity  # the tool's own id: no asset in it
        mapped = self.identities.get(identity)
        if mapped is None:
            raise Untranslatable(f"no alert for the hashed identity {identity!r}")
        return mapped

    def key(self, key: str) -> str:
        """A grouping key starts with the asset key (``<asset>``, ``<asset>|...``), or names none (``-|...``,
        ``labels|...``); asset names may hold ``|``, so each prefix is tried."""
        done = self._keys.get(key)
        if done is not None:
            return done
        out = key
        if key in self.ids:
            out = self.ids[key]
        elif not key.startswith(("-|", "labels|")):
            at = key.find("|")
            while at != -1:
                if key[:at] in self.ids:
                    out = self.ids[key[:at]] + key[at:]
                    break
                at = key.find("|", at + 1)
        self._keys[key] = out
        return out

    def value(self, kind: str, value: Any) -> Any:
        if kind == "-" or value is None:
            return value
        if kind == "asset":
            return self.asset(value)
        if kind == "assets":
            return {self.asset(v) for v in value}
        if kind == "asset_map":
            return {self.asset(k): v for k, v in value.items()}
        if kind == "identity":
            return self.identity(value)
        if kind == "identities":
            return {self.identity(v) for v in value}
        if kind == "identity_map":
            return {self.identity(k): self.obj(v) for k, v in value.items()}
        if kind == "key":
            return self.key(value)
        if kind == "key_map":
            return {self.key(k): v for k, v in value.items()}
        if kind == "incidents":
            return {k: self.obj(v) for k, v in value.items()}
        if kind == "storm_events":
            return deque((at, self.asset(a), i) for at, a, i in value)
        raise Untranslatable(f"unknown field kind {kind!r}")

    def obj(self, value: Any) -> Any:
        known = FIELDS.get(type(value))
        if known is None:
            raise Untranslatable(f"cannot translate a {type(value).__name__}")
        changes: dict[str, Any] = {}
        for f in fields(value):
            kind = known.get(f.name)
            if kind is None:
                raise Untranslatable(f"{type(value).__name__}.{f.name} is not described in replay_state.FIELDS")
            if kind != "-":
                changes[f.name] = self.value(kind, getattr(value, f.name))
        return replace(value, **changes)

    def state(self, state: TenantState) -> TenantState:
        out = self.obj(state)
        assert isinstance(out, TenantState)
        return out


def hashed_identities(decisions: Iterable[tuple[Decision, Mapping[str, Any]]], ids: Mapping[str, str]
                      ) -> dict[str, str]:
    """For every hashed identity the run saw: the identity the service computes (the asset's id hashed).

    ``decisions``: each decision with its alert's columns. A hashed identity is one (source, asset, signature,
    labels), so the decision's asset key is the one that was hashed; recomputing the engine's identity with it
    first checks that assumption (``Untranslatable`` when the identity scheme no longer fits).
    """
    out: dict[str, str] = {}
    for decision, alert in decisions:
        identity = decision.identity
        if not identity.startswith("h:") or identity in out:
            continue
        key = decision.asset.key

        def ident(asset_key: str, alert: Mapping[str, Any] = alert) -> str:
            return alert_identity(source=alert["source"], external_id=alert["external_id"],
                                  signature=alert["signature"], asset_key=asset_key, labels=alert["labels"])

        if ident(key) != identity:
            raise Untranslatable(f"identity {identity!r} is not the hash of its alert")
        out[identity] = ident(ids.get(key, key))
    return out


def translate(state: TenantState, *, ids: Mapping[str, str], identities: Mapping[str, str]) -> TenantState:
    """A copy of ``state`` keyed as the service keys it (the copy shares the untranslated values)."""
    return Translator(ids, identities).state(state)
