"""Replay a recorded stream of deliveries through the real adapters and engine (``alertwhisperer replay``).

Input: ``ALERTS.jsonl``, one delivery per line in arrival order::

    {"company": "<slug>", "source": "<adapter key>", "received_at": "<ISO-8601>", "headers": {...}, "body": ...}

Output: ``RESULT.jsonl``, one row per alert extracted from each line::

    {"line": 0, "index": 0, "alert_id": "...", "incident_id": "..." | null, "outcome": "...", "reason": "..."}

The clock is simulated (each line's ``received_at``); the hot loop is in memory (one ``TenantState`` per company,
``correlate()`` per alert) and the database (a throwaway SQLite file unless ``--db`` is given; it should be an
empty database) is written in bulk at the end. Ids are derived from line and index (alerts ``a<line><index>``,
incidents ``i<line><index>`` of the alert that opened them), so two runs give byte-identical results. Incident
ids in the result are mapped through ``state.canonical`` (merged incidents name the survivor). A retried
delivery (same ``X-Delivery-ID`` header, or the tool's own delivery id, within 24 h) creates no alerts: its rows
are ``duplicate`` of the original delivery's alerts, as the webhook would answer.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.clock import SystemClock
from alertwhisperer.correlation.context import Tenant
from alertwhisperer.correlation.decision import Decision
from alertwhisperer.correlation.engine import correlate
from alertwhisperer.correlation.models import Incident, IncidentAlert
from alertwhisperer.correlation.service import explanation_dict, incident_values, opening_values
from alertwhisperer.correlation.state import IncidentState, TenantState
from alertwhisperer.correlation.store import build_tenant
from alertwhisperer.db import new_id
from alertwhisperer.errors import Invalid
from alertwhisperer.ingest import adapters
from alertwhisperer.ingest.adapters.base import AdapterError
from alertwhisperer.ingest.models import Alert, Delivery
from alertwhisperer.ingest.schemas import AlertIn
from alertwhisperer.ingest.service import IDEMPOTENCY_TTL, idempotency_key, kept_headers
from alertwhisperer.tenants.importer import import_tenants
from alertwhisperer.tenants.models import Asset, Company

BATCH = 2000


@dataclass
class Row:
    line: int
    index: int
    alert_id: str
    company_id: str | None
    incident_id: str | None  # as decided (mapped through canonical() when written)
    outcome: str
    reason: str


@dataclass
class Summary:
    lines: int = 0
    alerts: int = 0  # result rows
    rejected: int = 0
    suppressed: int = 0
    retried: int = 0  # rows of retried deliveries
    incidents: int = 0
    loop_seconds: float = 0.0
    write_seconds: float = 0.0
    outcomes: dict[str, int] = field(default_factory=dict)

    @property
    def actionable(self) -> int:
        """Alerts that were neither rejected nor suppressed (the ones incidents are made of)."""
        return self.alerts - self.rejected - self.suppressed

    @property
    def noise_reduction(self) -> float:
        """1 - incidents / actionable alerts."""
        return 1 - self.incidents / self.actionable if self.actionable else 0.0

    @property
    def rate(self) -> float:
        total = self.loop_seconds + self.write_seconds
        return self.alerts / total if total > 0 else 0.0


@dataclass
class _Company:
    id: str
    tenant: Tenant
    state: TenantState
    next_id: list[str]
    opened: dict[str, tuple[IncidentState, Decision]] = field(default_factory=dict)
    asset_ids: dict[str, str] = field(default_factory=dict)  # asset name (the replay's asset key) -> database id


@dataclass
class _Run:
    companies: dict[str, _Company]  # by slug
    rows: list[Row] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[tuple[str, Decision, datetime]] = field(default_factory=list)  # (company id, decision, at)
    seen_keys: dict[tuple[str, str], tuple[datetime, list[Row]]] = field(default_factory=dict)
    summary: Summary = field(default_factory=Summary)


def _id_factory(holder: list[str]) -> Callable[[], str]:
    return lambda: holder[0]


async def _load_companies(session: AsyncSession) -> dict[str, _Company]:
    companies: dict[str, _Company] = {}
    for company in (await session.execute(select(Company).order_by(Company.slug))).scalars():
        holder = [""]
        ids = {r.name: r.id for r in (await session.execute(select(Asset.name, Asset.id)
                                                            .where(Asset.company_id == company.id))).all()}
        companies[company.slug] = _Company(company.id, await build_tenant(session, company, by_name=True),
                                           TenantState(company.id, id_factory=_id_factory(holder)), holder,
                                           asset_ids=ids)
    return companies


def _reject(run: _Run, line: int, reason: str) -> None:
    run.rows.append(Row(line, 0, f"a{line:08d}0000", None, None, "rejected", reason))
    run.summary.rejected += 1


def _received_at(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("received_at must be an ISO-8601 string")
    at = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _process_line(run: _Run, line: int, text: str) -> None:
    try:
        item = json.loads(text)
        if not isinstance(item, dict):
            raise ValueError("a line must be a JSON object")
        at = _received_at(item.get("received_at"))
    except ValueError as exc:
        _reject(run, line, f"invalid line: {exc}")
        return
    slug, source = str(item.get("company", "")), str(item.get("source", ""))
    company = run.companies.get(slug)
    adapter = adapters.get(source)
    if company is None:
        _reject(run, line, f"unknown company {slug!r}")
        return
    if adapter is None:
        _reject(run, line, f"unknown source {source!r}")
        return
    raw_headers = item.get("headers") or {}
    headers = {str(k).lower(): str(v) for k, v in raw_headers.items()} if isinstance(raw_headers, dict) else {}
    headers.setdefault("content-type", "application/json")
    body_value = item.get("body")
    body = body_value.encode() if isinstance(body_value, str) else json.dumps(body_value).encode()
    try:
        result = adapter.parse(body, headers)
    except AdapterError as exc:
        _reject(run, line, f"{source} payload rejected: {exc}")
        return
    except Exception as exc:  # an adapter bug is a rejected delivery, as on the webhook
        _reject(run, line, f"{source} payload could not be read ({type(exc).__name__})")
        return
    key = idempotency_key(headers, result)
    if key is not None and _retried(run, company, key, line, at, len(result.alerts)):
        return
    _correlate_line(run, company, line, at, source, body, headers, key, result.alerts)


def _retried(run: _Run, company: _Company, key: str, line: int, at: datetime, count: int) -> bool:
    known = run.seen_keys.get((company.id, key))
    if known is None or at - known[0] > IDEMPOTENCY_TTL or not known[1]:
        return False
    original = known[1]
    for index in range(count):
        first = original[min(index, len(original) - 1)]
        run.rows.append(Row(line, index, first.alert_id, company.id, first.incident_id, "duplicate",
                            f"retried delivery ({key}) of line {first.line}: already received"))
        run.summary.retried += 1
    return True


_ALERT_COLUMNS = tuple(name for name in AlertIn.model_fields if name != "delivery_id")


def _columns(alert: AlertIn) -> dict[str, Any]:
    """The alert's column values (``model_dump`` without its cost: the values are plain already)."""
    return {name: getattr(alert, name) for name in _ALERT_COLUMNS}


def _correlate_line(run: _Run, company: _Company, line: int, at: datetime, source: str, body: bytes,
                    headers: dict[str, str], key: str | None, alerts: list[AlertIn]) -> None:
    delivery_id = f"d{line:08d}"
    rows: list[Row] = []
    for index, alert in enumerate(alerts):
        alert_id = f"a{line:08d}{index:04d}"
        company.next_id[0] = f"i{line:08d}{index:04d}"
        decision = correlate(alert, company.state, tenant=company.tenant, now=at, alert_id=alert_id)
        if decision.kind == "new_incident" and decision.incident_id:
            company.opened[decision.incident_id] = (company.state.incidents[decision.incident_id], decision)
        row = Row(line, index, alert_id, company.id, decision.incident_id, decision.outcome, decision.reason)
        rows.append(row)
        run.decisions.append((company.id, decision, at))
        run.alerts.append({**_columns(alert), "id": alert_id, "company_id": company.id,
                           "delivery_id": delivery_id, "position": index, "received_at": at})
    run.rows += rows
    if key is not None:
        run.seen_keys[(company.id, key)] = (at, rows)
    run.deliveries.append({"id": delivery_id, "company_id": company.id, "source": source, "received_at": at,
                           "idempotency_key": key, "content_type": headers.get("content-type"), "body": body,
                           "headers": kept_headers(headers), "alert_ids": [r.alert_id for r in rows],
                           "status": "processed", "processed_at": at})


def _lines(path: Path, progress: Callable[[int], None] | None) -> Iterator[tuple[int, str]]:
    with path.open("rb") as fh:
        pending = 0
        for number, raw in enumerate(fh):
            pending += len(raw)
            if progress is not None and pending >= 1 << 18:  # report every 256 KiB: cheap even for big files
                progress(pending)
                pending = 0
            text = raw.decode("utf-8", errors="replace").strip()
            if text:  # a blank line has no delivery (and no row) but keeps the numbering physical
                yield number, text
        if progress is not None and pending:
            progress(pending)


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), BATCH):
        yield rows[start:start + BATCH]


async def _bulk(session: AsyncSession, model: Any, rows: list[dict[str, Any]]) -> None:
    """Core executemany (one DBAPI call per chunk; column defaults are applied by SQLAlchemy)."""
    for chunk in _chunks(rows):
        await session.execute(insert(model.__table__), chunk)


def _incident_rows(run: _Run) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for company in run.companies.values():
        state, now = company.state, company.state.latest or datetime.now(UTC)
        for incident_id, (incident, opening) in company.opened.items():
            values = incident_values(incident, tenant=company.tenant, now=now) | opening_values(opening)
            values["root_asset_key"] = company.asset_ids.get(incident.root, incident.root)
            values["asset_keys"] = sorted(company.asset_ids.get(k, k) for k in values["asset_keys"])
            canonical = state.canonical(incident_id)
            values["merged_into"] = None  # every row has every key: one executemany statement
            if canonical != incident_id:
                values |= {"status": "merged", "merged_into": canonical}
            out.append({"id": incident_id, "company_id": company.id, "created_at": opening.at, "updated_at": now,
                        **values})
    return out


async def _write(session: AsyncSession, run: _Run) -> None:
    states = {c.id: c.state for c in run.companies.values()}
    for alert in run.alerts:
        alert["outcome"] = alert["incident_id"] = alert["decision_reason"] = None
    by_alert = {a["id"]: a for a in run.alerts}
    links: list[dict[str, Any]] = []
    discovered: dict[tuple[str, str], None] = {}
    for company_id, decision, at in run.decisions:
        incident_id = states[company_id].canonical(decision.incident_id) if decision.incident_id else None
        alert = by_alert[decision.alert_id]
        alert.update(outcome=decision.outcome, incident_id=incident_id, decision_reason=decision.reason)
        if incident_id is not None:
            links.append({"incident_id": incident_id, "alert_id": decision.alert_id, "company_id": company_id,
                          "kind": decision.kind, "reason": decision.reason,
                          "explanation": explanation_dict(decision.explanation), "joined_at": at})
        if decision.asset.discovered and decision.asset.key.startswith("discovered:"):
            discovered[(company_id, decision.asset.key.removeprefix("discovered:")[:255])] = None
    taken = {(r.company_id, r.name) for r in (await session.execute(select(Asset.company_id, Asset.name))).all()}
    await _bulk(session, Asset, [{"id": new_id(), "company_id": c, "name": n, "discovered": True}
                                 for c, n in discovered if (c, n) not in taken])
    await _bulk(session, Delivery, run.deliveries)
    await _bulk(session, Alert, run.alerts)
    await _bulk(session, Incident, _incident_rows(run))
    await _bulk(session, IncidentAlert, links)


def result_lines(run: _Run) -> Iterator[str]:
    states = {c.id: c.state for c in run.companies.values()}
    for r in run.rows:
        incident_id = states[r.company_id].canonical(r.incident_id) if r.incident_id and r.company_id else None
        yield json.dumps({"line": r.line, "index": r.index, "alert_id": r.alert_id, "incident_id": incident_id,
                          "outcome": r.outcome, "reason": r.reason}, ensure_ascii=False)


async def replay(session: AsyncSession, *, alerts_path: Path, tenants: Any, out_path: Path,
                 progress: Callable[[int], None] | None = None) -> Summary:
    """Import ``tenants``, replay ``alerts_path``, write ``out_path`` and the database (committed here)."""
    await import_tenants(session, clock=SystemClock(), data=tenants)
    await session.commit()
    run = _Run(await _load_companies(session))
    # The run keeps every decision until the bulk write: the cyclic GC would rescan them all, over and over
    # (about a third of the run time). Reference counting still frees everything short-lived.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        started = time.perf_counter()
        for number, text in _lines(alerts_path, progress):
            _process_line(run, number, text)
            run.summary.lines += 1
        run.summary.loop_seconds = time.perf_counter() - started
        started = time.perf_counter()
        try:
            await _write(session, run)
            await session.commit()
        except IntegrityError as exc:
            await session.rollback()
            raise Invalid("the database already holds rows of a replay: give --db an empty database") from exc
    finally:
        if gc_was_enabled:
            gc.enable()
    with out_path.open("w", encoding="utf-8") as fh:
        for text in result_lines(run):
            fh.write(text + "\n")
    summary = run.summary
    summary.write_seconds = time.perf_counter() - started
    summary.alerts = len(run.rows)
    summary.suppressed = sum(1 for r in run.rows if r.outcome == "suppressed")
    for r in run.rows:
        summary.outcomes[r.outcome] = summary.outcomes.get(r.outcome, 0) + 1
    states = {c.id: c.state for c in run.companies.values()}
    summary.incidents = len({states[r.company_id].canonical(r.incident_id) for r in run.rows
                             if r.incident_id and r.company_id and r.outcome not in ("rejected", "suppressed")})
    return summary
