"""Where the service keeps each company's ``TenantState``: an in-process cache, a periodic snapshot, and a log.

* Every alert the service correlates gets ``Alert.correlation_seq`` = the state's call count after it (and,
  when it opened an incident, ``Alert.opened_incident_id``): the alerts table is the log of the state.
* ``correlation_states`` holds a JSON snapshot (see ``snapshot``) taken after ``calls`` correlate calls,
  rewritten every ``SNAPSHOT_EVERY`` calls (not on every delivery: it is the whole state).
* ``checkout()`` compares the cached state's call count with the highest committed ``correlation_seq``:
  equal -> the cache is current; lower -> another process correlated since: replay the missing alerts from the
  log; higher -> our own transaction rolled back: reload the snapshot and replay the log after it. Replaying is
  exact because ``correlate()`` is deterministic and the id factory hands back the recorded incident ids.
* On PostgreSQL the company's ``correlation_states`` row is locked ``FOR UPDATE`` for the transaction, so several
  processes/workers correlate one company's alerts one at a time; on SQLite the single writer does the same; in
  one process a per-company ``asyncio.Lock`` serialises the cache. Caveat: a tenant whose assets or policy
  changed between the original decision and a replay can replay slightly differently (the log is replayed with
  the current tenant).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.correlation import snapshot
from alertwhisperer.correlation.assets import AssetInfo
from alertwhisperer.correlation.context import Tenant
from alertwhisperer.correlation.decision import Decision
from alertwhisperer.correlation.engine import correlate
from alertwhisperer.correlation.models import CorrelationState
from alertwhisperer.correlation.policy import CorrelationPolicy
from alertwhisperer.correlation.state import TenantState
from alertwhisperer.db import new_id
from alertwhisperer.ingest.models import Alert
from alertwhisperer.ingest.schemas import AlertIn
from alertwhisperer.tenants.models import Asset, AssetDependency, Company

log = structlog.get_logger(__name__)

SNAPSHOT_EVERY = 500  # correlate calls between snapshots (the log after the last one is replayed on a reload)
# ... and at most one snapshot per company every SNAPSHOT_MIN_SECONDS unless SNAPSHOT_MAX_BEHIND calls passed: in a
# storm a snapshot every 500 alerts (a JSON document of the whole state, written under the write lock) stalled
# webhook commits for hundreds of milliseconds several times a second; replaying 20,000 logged calls takes ~1 s.
SNAPSHOT_MIN_SECONDS = 30.0
SNAPSHOT_MAX_BEHIND = 20_000
ALERT_FIELDS = ("source", "status", "severity", "original_severity", "asset_ref", "signature", "message", "labels",
                "external_id", "occurred_at", "url", "value")


# --- tenants ---------------------------------------------------------------------------------------------------
def policy_of(company: Company) -> CorrelationPolicy:
    """The company's grouping policy (``settings["correlation"]``); the defaults when unset or invalid."""
    raw = (company.settings or {}).get("correlation")
    if not raw:
        return CorrelationPolicy()
    try:
        return CorrelationPolicy.model_validate(raw)
    except ValidationError as exc:
        log.warning("correlation.policy_invalid", company_id=company.id, error=str(exc))
        return CorrelationPolicy()


async def load_assets(session: AsyncSession, company_id: str, *, by_name: bool = False) -> list[AssetInfo]:
    """The company's assets for ``Tenant.build``. Discovered assets keep their ``discovered:<host>`` key.

    ``by_name``: key assets by name instead of database id (the replay's ids are random per run; names are not).
    """
    deps: dict[str, list[str]] = {}
    for row in (await session.execute(select(AssetDependency.asset_id, AssetDependency.depends_on_id)
                                      .where(AssetDependency.company_id == company_id))).all():
        deps.setdefault(row.asset_id, []).append(row.depends_on_id)
    assets = (await session.execute(select(Asset).where(Asset.company_id == company_id).order_by(Asset.name))
              ).scalars().all()
    names = {a.id: a.name for a in assets}

    def key(a: Asset) -> str:
        return f"discovered:{a.name}" if a.discovered else a.name if by_name else a.id

    return [AssetInfo(id=key(a), name=a.name, type=a.type, ip=a.ip, fqdn=a.fqdn, instance_id=a.instance_id,
                      tags=dict(a.tags or {}), critical=a.critical, discovered=a.discovered,
                      depends_on=tuple(sorted(names[d] if by_name else d for d in deps.get(a.id, []) if d in names)))
            for a in assets]


async def build_tenant(session: AsyncSession, company: Company, *, by_name: bool = False) -> Tenant:
    return Tenant.build(company.id, assets=await load_assets(session, company.id, by_name=by_name),
                        policy=policy_of(company))


async def _tenant_fingerprint(session: AsyncSession, company: Company) -> tuple[Any, ...]:
    assets = (await session.execute(select(func.count(Asset.id), func.max(Asset.updated_at))
                                    .where(Asset.company_id == company.id))).one()
    deps = await session.scalar(select(func.count()).select_from(AssetDependency)
                                .where(AssetDependency.company_id == company.id))
    return (company.updated_at, repr(company.settings), assets[0], assets[1], deps)


# --- the cache -------------------------------------------------------------------------------------------------
@dataclass
class Entry:
    fingerprint: tuple[Any, ...]
    tenant: Tenant
    state: TenantState
    snapshot_calls: int  # the call count of the snapshot in the database
    next_id: list[str | None] = field(default_factory=lambda: [None])  # replay: the recorded incident id
    last_alert: str | None = None  # the id of the alert of the state's last call (checked against the log)
    snapshot_at: float = 0.0  # time.monotonic() when this process last wrote the snapshot

    def correlate(self, row: Alert) -> Decision:
        """Correlate one stored alert and record its place in the log on the row."""
        decision = correlate(alert_in(row), self.state, tenant=self.tenant, now=row.received_at, alert_id=row.id)
        row.correlation_seq, self.last_alert = self.state.calls, row.id
        if decision.kind == "new_incident":
            row.opened_incident_id = decision.incident_id
        return decision


_cache: dict[str, Entry] = {}
_locks: dict[str, asyncio.Lock] = {}


def clear_cache() -> None:
    """Forget every cached state (tests; after a restore)."""
    _cache.clear()


def lock(company_id: str) -> asyncio.Lock:
    return _locks.setdefault(company_id, asyncio.Lock())


def alert_in(row: Any) -> AlertIn:
    return AlertIn.model_validate({name: getattr(row, name) for name in ALERT_FIELDS})


def _new_state(company_id: str, holder: list[str | None]) -> TenantState:
    def next_id() -> str:
        recorded, holder[0] = holder[0], None
        return recorded or new_id()

    return TenantState(company_id, id_factory=next_id)


async def _load(session: AsyncSession, company: Company, fingerprint: tuple[Any, ...]) -> Entry:
    holder: list[str | None] = [None]
    row = await session.get(CorrelationState, company.id)
    state, calls = _new_state(company.id, holder), 0
    if row is not None and row.data:
        try:
            state = snapshot.load(row.data, id_factory=state.id_factory)
            calls = row.calls
        except (ValueError, TypeError, KeyError) as exc:  # never block ingest on a bad snapshot: replay the log
            log.error("correlation.snapshot_unreadable", company_id=company.id, error=str(exc))
    return Entry(fingerprint, await build_tenant(session, company), state, calls, holder)


async def _catch_up(session: AsyncSession, entry: Entry) -> bool:
    """Replay the logged alerts the state has not seen. False when the log does not fit (then start afresh)."""
    rows = (await session.execute(
        select(Alert).where(Alert.company_id == entry.state.company_id,
                            Alert.correlation_seq > entry.state.calls).order_by(Alert.correlation_seq))).scalars()
    for row in rows:
        expected = row.correlation_seq
        entry.next_id[0] = row.opened_incident_id
        correlate(alert_in(row), entry.state, tenant=entry.tenant, now=row.received_at, alert_id=row.id)
        entry.next_id[0], entry.last_alert = None, row.id
        if entry.state.calls != expected:
            log.error("correlation.log_gap", company_id=entry.state.company_id, expected=expected,
                      calls=entry.state.calls)
            return False
    return True


async def claim(session: AsyncSession, company_id: str) -> int:
    """Lock the company's correlation row (others wait), creating it on first use; the committed log length."""
    locked = (await session.execute(select(CorrelationState.company_id)
                                    .where(CorrelationState.company_id == company_id).with_for_update())).first()
    if locked is None:  # first use: the row others lock on (a concurrent first insert fails and is retried)
        session.add(CorrelationState(company_id=company_id, calls=0, data={}))
        await session.flush()
    return await committed_calls(session, company_id)


async def committed_calls(session: AsyncSession, company_id: str) -> int:
    """How many correlate calls of this company are committed (the highest ``correlation_seq``)."""
    last = await session.scalar(select(Alert.correlation_seq).where(
        Alert.company_id == company_id, Alert.correlation_seq.is_not(None))
        .order_by(Alert.correlation_seq.desc()).limit(1))
    return int(last or 0)


async def checkout(session: AsyncSession, company: Company, *, read_only: bool = False) -> Entry:
    """The company's tenant and current state (the caller holds ``lock(company.id)``).

    ``read_only``: from a read session, without locking the company's row; whoever then writes what it
    decided must first ``claim`` the row and check that the committed log has not moved meanwhile."""
    committed = (await committed_calls(session, company.id) if read_only
                 else await claim(session, company.id))
    fingerprint = await _tenant_fingerprint(session, company)
    entry = _cache.get(company.id)
    if entry is not None and entry.state.calls <= committed and await _same_history(session, entry):
        if entry.fingerprint != fingerprint:
            entry.tenant, entry.fingerprint = await build_tenant(session, company), fingerprint
        if entry.state.calls == committed or await _catch_up(session, entry):
            return entry
    _cache.pop(company.id, None)
    entry = await _load(session, company, fingerprint)
    if not await _catch_up(session, entry):
        entry = Entry(fingerprint, entry.tenant, _new_state(company.id, entry.next_id), 0, entry.next_id)
        entry.state.calls = committed  # a fresh state that continues the log's numbering
    _cache[company.id] = entry
    return entry


async def _same_history(session: AsyncSession, entry: Entry) -> bool:
    """The cached state's last call is the committed log's (not work of a transaction that rolled back)."""
    if entry.state.calls == 0:
        return True
    logged = await session.scalar(select(Alert.id).where(Alert.company_id == entry.state.company_id,
                                                         Alert.correlation_seq == entry.state.calls))
    return logged is not None and logged == entry.last_alert


def forget(company_id: str) -> None:
    """Drop a company's cached state (after a failure: the next checkout rebuilds it from the database)."""
    _cache.pop(company_id, None)


def snapshot_due(entry: Entry) -> bool:
    """``SNAPSHOT_EVERY`` calls have passed since the last snapshot (or there is none yet)."""
    behind = entry.state.calls - entry.snapshot_calls
    if not entry.snapshot_calls or behind >= SNAPSHOT_MAX_BEHIND:
        return True
    return behind >= SNAPSHOT_EVERY and time.monotonic() - entry.snapshot_at >= SNAPSHOT_MIN_SECONDS


async def save(session: AsyncSession, entry: Entry, now: datetime, *, force: bool = False,
               data: dict[str, Any] | None = None) -> None:
    """Write the snapshot when it is due (or ``force``). ``data``: the state's dump, made beforehand by a
    caller that keeps the (large) serialisation out of its write transaction."""
    if not force and not snapshot_due(entry):
        return
    row = await session.get(CorrelationState, entry.state.company_id)
    if data is None:
        data = snapshot.dump(entry.state)
    if row is None:
        session.add(CorrelationState(company_id=entry.state.company_id, calls=entry.state.calls, data=data,
                                     updated_at=now))
    else:
        row.calls, row.data, row.updated_at = entry.state.calls, data, now
    await session.flush()
    entry.snapshot_calls, entry.snapshot_at = entry.state.calls, time.monotonic()
