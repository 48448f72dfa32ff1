"""Replay a recorded stream of deliveries through the real adapters and engine (``alertwhisperer replay``).

Input: ``ALERTS.jsonl``, one delivery per line in arrival order::

    {"company": "<slug>", "source": "<adapter key>", "received_at": "<ISO-8601>", "headers": {...}, "body": ...}

Output: ``RESULT.jsonl``, one row per alert extracted from each line::

    {"line": 0, "index": 0, "alert_id": "...", "incident_id": "..." | null, "outcome": "...", "reason": "..."}

The clock is simulated (each line's ``received_at``); the hot loop is in memory (one ``TenantState`` per company,
``correlate()`` per alert) and the database (a throwaway SQLite file unless ``--db`` is given; it should be an
empty database) is written in bulk at the end, in one transaction: deliveries, alerts (with their place in the
state's log, ``correlation_seq``), incidents, their links, discovered assets and each company's state snapshot
(``replay_state``), so a server started on that database carries on where the replay stopped. Ids are derived
from line and index (alerts ``a<line><index>``, incidents ``i<line><index>`` of the alert that opened them), so
two runs give byte-identical results. Incident ids in the result are mapped through ``state.canonical`` (merged
incidents name the survivor). A retried delivery (same ``X-Delivery-ID`` header, or the tool's own delivery id,
within 24 h) creates no alerts: its rows are ``duplicate`` of the original delivery's alerts, as the webhook
would answer.

Where the time goes is kept small around the engine: tenants imported in bulk (``replay_tenants``), each line
read once with its body handed to the adapter as sent (``replay_io.parse_line``), rows bound and inserted with
the driver's ``executemany`` (``replay_io``), no journal on disk for the throwaway database, and on a machine
with two CPUs half of the companies correlated in a forked worker (``replay_split``; same bytes out).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import Dialect, event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.correlation import replay_db, replay_io, replay_split
from alertwhisperer.correlation.context import Tenant
from alertwhisperer.correlation.decision import Decision
from alertwhisperer.correlation.engine import correlate
from alertwhisperer.correlation.replay_tenants import import_for_replay
from alertwhisperer.correlation.state import IncidentState, TenantState
from alertwhisperer.correlation.store import build_tenant
from alertwhisperer.db import make_engine, make_sessionmaker
from alertwhisperer.errors import Invalid
from alertwhisperer.ingest import adapters
from alertwhisperer.ingest.adapters.base import AdapterError
from alertwhisperer.ingest.service import IDEMPOTENCY_TTL, idempotency_key, kept_headers
from alertwhisperer.tenants.models import Asset, Company

log = structlog.get_logger(__name__)

# A result row: (line, index, alert id, company id, incident id as decided, outcome, reason). The incident id is
# mapped through canonical() when written.
Row = tuple[int, int, str, str | None, str | None, str, str]


@dataclass
class Summary:
    lines: int = 0
    alerts: int = 0  # result rows
    rejected: int = 0
    suppressed: int = 0
    retried: int = 0  # rows of retried deliveries
    incidents: int = 0
    setup_seconds: float = 0.0  # tenant import and loading
    loop_seconds: float = 0.0  # reading, parsing and correlating
    engine_seconds: float = 0.0  # of which correlate() itself
    write_seconds: float = 0.0  # database and RESULT.jsonl
    snapshot: bool = False  # the correlation state was stored (see replay_state)
    processes: int = 1  # correlating processes (see replay_split)
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
        """Alerts per second of the replay proper (reading, correlating, writing; not the tenant import)."""
        total = self.loop_seconds + self.write_seconds
        return self.alerts / total if total > 0 else 0.0

    @property
    def engine_rate(self) -> float:
        return self.alerts / self.engine_seconds if self.engine_seconds > 0 else 0.0


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
    decisions: list[tuple[str, Decision]] = field(default_factory=list)  # (company id, decision), as alerts
    seen_keys: dict[tuple[str, str], tuple[datetime, list[Row]]] = field(default_factory=dict)
    summary: Summary = field(default_factory=Summary)


def _id_factory(holder: list[str]) -> Callable[[], str]:
    return lambda: holder[0]


async def _load_companies(session: AsyncSession) -> dict[str, _Company]:
    companies: dict[str, _Company] = {}
    for company in (await session.execute(select(Company).order_by(Company.slug))).scalars():
        holder = [""]
        ids = {r.name: r.id for r in (await session.execute(
            select(Asset.name, Asset.id).where(Asset.company_id == company.id, Asset.discovered.is_(False)))).all()}
        companies[company.slug] = _Company(company.id, await build_tenant(session, company, by_name=True),
                                           TenantState(company.id, id_factory=_id_factory(holder)), holder,
                                           asset_ids=ids)
    return companies


def _reject(run: _Run, line: int, reason: str) -> None:
    run.rows.append((line, 0, f"a{line:08d}0000", None, None, "rejected", reason))
    run.summary.rejected += 1


def _received_at(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("received_at must be an ISO-8601 string")
    at = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _process_line(run: _Run, line: int, text: str) -> None:
    try:
        item, body = replay_io.parse_line(text)
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
        run.rows.append((line, index, first[2], company.id, first[4], "duplicate",
                         f"retried delivery ({key}) of line {first[0]}: already received"))
        run.summary.retried += 1
    return True


def _correlate_line(run: _Run, company: _Company, line: int, at: datetime, source: str, body: bytes,
                    headers: dict[str, str], key: str | None, alerts: list[Any]) -> None:
    delivery_id = f"d{line:08d}"
    rows: list[Row] = []
    state, tenant, summary = company.state, company.tenant, run.summary
    clock = time.perf_counter
    for index, alert in enumerate(alerts):
        alert_id = f"a{line:08d}{index:04d}"
        company.next_id[0] = f"i{line:08d}{index:04d}"
        started = clock()
        decision = correlate(alert, state, tenant=tenant, now=at, alert_id=alert_id)
        summary.engine_seconds += clock() - started
        opened = None
        if decision.kind == "new_incident" and decision.incident_id:
            opened = decision.incident_id
            company.opened[opened] = (state.incidents[opened], decision)
        rows.append((line, index, alert_id, company.id, decision.incident_id, decision.outcome, decision.reason))
        run.decisions.append((company.id, decision))
        columns = dict(alert.__dict__)  # AlertIn's fields: the alert row's columns (but delivery_id)
        del columns["delivery_id"]
        columns.update(id=alert_id, company_id=company.id, delivery_id=delivery_id, position=index, received_at=at,
                       correlation_seq=state.calls, opened_incident_id=opened)
        run.alerts.append(columns)
    run.rows += rows
    if key is not None:
        run.seen_keys[(company.id, key)] = (at, rows)
    run.deliveries.append({"id": delivery_id, "company_id": company.id, "source": source, "received_at": at,
                           "idempotency_key": key, "content_type": headers.get("content-type"), "body": body,
                           "headers": kept_headers(headers), "alert_ids": [r[2] for r in rows], "control": None,
                           "status": "processed", "processed_at": at})


async def run(url: str, *, throwaway: bool, alerts_path: Path, tenants: Any, out_path: Path,
              progress: Callable[[int], None] | None = None) -> Summary:
    """``replay`` on its own engine (the database migrated already). ``throwaway``: nobody keeps the SQLite file,
    so it is written without a journal on disk or syncs (never for a database given with ``--db``)."""
    engine = make_engine(url)
    if throwaway and engine.dialect.name == "sqlite":
        @event.listens_for(engine.sync_engine, "connect")
        def _fast(dbapi_conn: Any, _record: Any) -> None:  # after make_engine's own set-up (WAL etc.)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=MEMORY")
            cur.execute("PRAGMA synchronous=OFF")
            cur.close()

    try:
        async with make_sessionmaker(engine)() as session:
            return await replay(session, alerts_path=alerts_path, tenants=tenants, out_path=out_path,
                                progress=progress)
    finally:
        await engine.dispose()


async def replay(session: AsyncSession, *, alerts_path: Path, tenants: Any, out_path: Path,
                 progress: Callable[[int], None] | None = None) -> Summary:
    """Import ``tenants``, replay ``alerts_path``, write ``out_path`` and the database (committed here)."""
    started = time.perf_counter()
    await import_for_replay(session, tenants)
    await session.commit()
    run = _Run(await _load_companies(session))
    summary = run.summary
    summary.setup_seconds = time.perf_counter() - started
    # The run keeps every decision until the bulk write: the cyclic GC would rescan them all, over and over
    # (about a third of the run time). Reference counting still frees everything short-lived.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        started = time.perf_counter()
        prepared = _correlate(run, alerts_path, progress, session.get_bind().dialect)
        summary.loop_seconds = time.perf_counter() - started
        started = time.perf_counter()
        try:
            await replay_db.insert(session, prepared)
            await session.commit()
        except IntegrityError as exc:
            await session.rollback()
            raise Invalid("the database already holds rows of a replay: give --db an empty database") from exc
        replay_io.write_result(out_path, prepared.rows)
        summary.write_seconds = time.perf_counter() - started
    finally:
        if gc_was_enabled:
            gc.enable()
    summary.lines, summary.rejected, summary.retried = prepared.lines, prepared.rejected, prepared.retried
    summary.engine_seconds, summary.snapshot = prepared.engine_seconds, prepared.snapshot
    summary.processes = prepared.processes
    summary.alerts = len(prepared.rows)
    for row in prepared.rows:
        summary.outcomes[row[4]] = summary.outcomes.get(row[4], 0) + 1
    summary.suppressed = summary.outcomes.get("suppressed", 0)
    summary.incidents = len({row[3] for row in prepared.rows if row[3] and row[4] not in ("rejected", "suppressed")})
    return summary


def _correlate(run: _Run, alerts_path: Path, progress: Callable[[int], None] | None, dialect: Dialect
               ) -> replay_db.Prepared:
    """Correlate every line (half of the companies in a worker process when that pays, ``replay_split``)."""
    lines = replay_io.lines(alerts_path, progress)
    worker_slugs = replay_split.plan(alerts_path, run.companies)
    if worker_slugs is None:
        for number, text in lines:
            _process_line(run, number, text)
            run.summary.lines += 1
        return replay_db.prepare(run, run.companies.values())

    def side(for_worker: bool) -> replay_db.Prepared:
        source = replay_io.lines(alerts_path, None) if for_worker else lines
        for number, text in replay_split.select_lines(source, worker_slugs, for_worker=for_worker):
            _process_line(run, number, text)
            run.summary.lines += 1
        return replay_db.prepare(run, [c for slug, c in run.companies.items() if (slug in worker_slugs) == for_worker])

    for key in adapters.all_keys():  # imported once here, not in each process
        adapters.get(key)

    def worker_side() -> replay_db.Prepared:
        prepared = side(True)
        prepared.bind(dialect)
        return prepared

    worker = replay_split.Worker(worker_side)
    try:
        mine = side(False)
    except BaseException:
        worker.kill()
        raise
    return mine.merge(worker.result())
