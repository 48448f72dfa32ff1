"""Group commit for webhook deliveries: one writer task, many requests, one transaction per batch.

Each request hands a prepared ``Submission`` to the writer and waits on its future. The writer takes
whatever has queued up while the previous transaction ran (no artificial delay), and in ONE transaction:
refuses replayed signatures, answers repeats of a known idempotency key from the stored delivery,
inserts the new deliveries, their alerts, idempotency keys, seen signatures and one inbox job per
company (bulk inserts), commits, and only then resolves the futures. So a 2xx still means committed;
a failed transaction resolves every waiting request with ``WriterUnavailable`` (answered 503 +
Retry-After, which every sender retries) and has stored nothing.

This is the natural shape for SQLite (a single writer anyway), and stays correct on PostgreSQL with
several processes: uniqueness is enforced by the primary keys of ``idempotency_keys`` and
``seen_signatures``; a batch that loses a race to another process fails with an IntegrityError and is
retried one submission per transaction, where the winner's committed row now answers the repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import delete, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from alertwhisperer.db import make_sync_sqlite_engine, new_id
from alertwhisperer.errors import Conflict, DomainError, Unauthenticated
from alertwhisperer.ingest.bulk import insert_rows
from alertwhisperer.ingest.cache import RecentDeliveries, Remembered
from alertwhisperer.ingest.models import Alert, Delivery, IdempotencyKey, SeenSignature
from alertwhisperer.ingest.service import IDEMPOTENCY_TTL, PROCESS_JOB, Accepted
from alertwhisperer.ingest.signing import REPLAY_MESSAGE, CheckedSignature
from alertwhisperer.jobs.models import PENDING, Job
from alertwhisperer.tenants.models import Company

log = structlog.get_logger(__name__)

MAX_BATCH = 512  # submissions per transaction
MAX_ALERTS = 20_000  # alert rows per transaction (keeps one commit short)
WAKE_INTERVAL = 0.1  # seconds: the inbox worker is woken at most this often (it then takes many jobs at once)


class WriterUnavailable(Exception):
    """The batch could not be committed (database busy/down, shutting down): nothing was stored."""


@dataclass
class Submission:
    company_id: str
    source: str
    received_at: datetime
    key: str | None  # idempotency key (company-scoped)
    body: bytes
    headers: dict[str, str]  # the kept headers
    control: dict[str, Any] | None
    control_kind: str | None
    alerts: list[dict[str, Any]]  # AlertIn fields, without delivery_id
    signature: CheckedSignature | None = None
    key_hash: str | None = None  # the API key's hash the request authenticated with; None: not by key
    future: asyncio.Future[Accepted] | None = field(default=None, repr=False)


Outcome = Accepted | DomainError
STALE_KEY = Unauthenticated("invalid API key")


class IngestWriter:
    def __init__(self, engine: AsyncEngine, *, recent: RecentDeliveries | None = None,
                 on_commit: Callable[[], None] | None = None,
                 on_stale_key: Callable[[set[str]], None] | None = None, max_batch: int = MAX_BATCH,
                 max_alerts: int = MAX_ALERTS, wake_interval: float = WAKE_INTERVAL) -> None:
        self.engine = engine
        file_db = engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:")
        self._sync_engine = (make_sync_sqlite_engine(engine.url.render_as_string(hide_password=False), spin=True)
                             if file_db else None)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-writer")
        self.recent = recent
        self.on_commit = on_commit
        self.on_stale_key = on_stale_key
        self.wake_interval = wake_interval
        self._last_wake = 0.0
        self._wake_scheduled = False
        self.max_batch = max_batch
        self.max_alerts = max_alerts
        self._pending: deque[Submission] = deque()
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.batches = 0  # statistics: transactions committed
        self.submissions = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ingest-writer")

    async def stop(self, grace: float = 10.0) -> None:
        """Write what is queued, then stop; whatever could not be written is answered 503."""
        self._closing = True
        self._ready.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), grace)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        self._fail(list(self._pending), "server shutting down")
        self._pending.clear()
        self._thread.shutdown(wait=True)
        if self._sync_engine is not None:
            self._sync_engine.dispose()

    async def submit(self, submission: Submission) -> Accepted:
        if self._closing or self._task is None:
            raise WriterUnavailable("server shutting down")
        submission.future = asyncio.get_running_loop().create_future()
        self._pending.append(submission)
        self._ready.set()
        return await submission.future

    async def _run(self) -> None:
        while True:
            if not self._pending:
                if self._closing:
                    return
                self._ready.clear()
                await self._ready.wait()
                continue
            batch: list[Submission] = []
            rows = 0
            while self._pending and len(batch) < self.max_batch and (not batch or rows < self.max_alerts):
                sub = self._pending.popleft()
                rows += len(sub.alerts)
                batch.append(sub)
            try:
                await self._write(batch)
            except asyncio.CancelledError:
                self._fail(batch, "server shutting down")
                raise

    async def _write(self, batch: list[Submission]) -> None:
        try:
            outcomes = await self._transaction(batch)
        except IntegrityError:
            if len(batch) > 1:  # lost a race with another process: retry one by one, the winner now shows
                for sub in batch:
                    await self._write([sub])
                return
            log.warning("ingest.write_conflict", company_id=batch[0].company_id)
            self._fail(batch, "conflicting concurrent write; retry")
            return
        except Exception as exc:
            log.error("ingest.write_failed", error=f"{type(exc).__name__}: {exc}"[:500], batch=len(batch))
            self._fail(batch, "database busy or unavailable; retry")
            return
        self.batches += 1
        self.submissions += len(batch)
        stale = {sub.company_id for sub, o in zip(batch, outcomes, strict=True) if o is STALE_KEY}
        if stale and self.on_stale_key is not None:
            self.on_stale_key(stale)  # drop cached entries: the next request re-reads the company
        for sub, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, Accepted) and sub.key is not None and self.recent is not None:
                self.recent.put(sub.company_id, sub.key, Remembered(
                    outcome.delivery_id, tuple(outcome.alert_ids), sub.received_at + IDEMPOTENCY_TTL))
            if sub.future is not None and not sub.future.done():
                if isinstance(outcome, Accepted):
                    sub.future.set_result(outcome)
                else:
                    sub.future.set_exception(outcome)
        if any(isinstance(o, Accepted) and not o.duplicate for o in outcomes):
            self._wake()

    def _wake(self) -> None:
        """Tell the inbox worker, at most once per ``wake_interval`` (a trailing wake is never lost).

        Waking it after every small commit made it claim and process one tiny job at a time, competing
        with the writer for the database lock and the CPU; a short delay lets it take many at once."""
        if self.on_commit is None or self._wake_scheduled:
            return
        loop = asyncio.get_running_loop()
        wait = self._last_wake + self.wake_interval - loop.time()
        if wait <= 0:
            self._fire_wake()
        else:
            self._wake_scheduled = True
            loop.call_later(wait, self._fire_wake)

    def _fire_wake(self) -> None:
        self._wake_scheduled = False
        self._last_wake = asyncio.get_running_loop().time()
        if self.on_commit is not None:
            self.on_commit()

    @staticmethod
    def _fail(batch: Sequence[Submission], message: str) -> None:
        for sub in batch:
            if sub.future is not None and not sub.future.done():
                sub.future.set_exception(WriterUnavailable(message))

    async def _transaction(self, batch: list[Submission]) -> list[Outcome]:
        if self._sync_engine is not None:  # SQLite: the whole transaction in one hop to the writer thread
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._thread, self._in_thread, batch)
        async with self.engine.begin() as conn:  # PostgreSQL: the same code, driven through asyncpg
            return await conn.run_sync(_store, batch)

    def _in_thread(self, batch: list[Submission]) -> list[Outcome]:
        assert self._sync_engine is not None
        with self._sync_engine.begin() as conn:
            return _store(conn, batch)


def _store(conn: Connection, batch: list[Submission]) -> list[Outcome]:
    """One batch in the caller's transaction: replays refused, repeats answered, new rows inserted."""
    outcomes: list[Outcome | None] = [None] * len(batch)
    _check_keys(conn, batch, outcomes)
    new_signatures = _check_replays(conn, batch, outcomes)
    known, expired = _known_keys(conn, batch, outcomes)
    leaders: dict[tuple[str, str], int] = {}
    followers: list[tuple[int, int]] = []
    deliveries: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    keys: list[dict[str, Any]] = []
    by_company: dict[str, list[str]] = {}
    for i, sub in enumerate(batch):
        if outcomes[i] is not None:
            continue
        if sub.key is not None:
            pair = (sub.company_id, sub.key)
            if pair in known:
                delivery_id, alert_ids = known[pair]
                outcomes[i] = Accepted(delivery_id, alert_ids, True, sub.company_id)
                continue
            if pair in leaders:
                followers.append((i, leaders[pair]))
                continue
            leaders[pair] = i
        delivery_id = new_id()
        alert_ids = [new_id() for _ in sub.alerts]
        deliveries.append({
            "id": delivery_id, "company_id": sub.company_id, "source": sub.source,
            "received_at": sub.received_at, "idempotency_key": sub.key,
            "content_type": sub.headers.get("content-type"), "body": sub.body, "headers": sub.headers,
            "alert_ids": alert_ids, "control": sub.control, "status": "accepted", "processed_at": None})
        for position, (alert_id, fields) in enumerate(zip(alert_ids, sub.alerts, strict=True)):
            alerts.append({**fields, "id": alert_id, "company_id": sub.company_id,
                           "delivery_id": delivery_id, "position": position,
                           "received_at": sub.received_at})
        if sub.key is not None:
            keys.append({"company_id": sub.company_id, "key": sub.key, "delivery_id": delivery_id,
                         "expires_at": sub.received_at + IDEMPOTENCY_TTL})
        by_company.setdefault(sub.company_id, []).append(delivery_id)
        outcomes[i] = Accepted(delivery_id, alert_ids, False, sub.company_id, sub.control_kind)
    for i, leader in followers:
        first = outcomes[leader]
        assert isinstance(first, Accepted)
        outcomes[i] = Accepted(first.delivery_id, first.alert_ids, True, first.company_id)
    for company_id, stale in _by_company(expired).items():
        conn.execute(delete(IdempotencyKey).where(IdempotencyKey.company_id == company_id,
                                                  IdempotencyKey.key.in_(stale)))
    if new_signatures:
        insert_rows(conn, SeenSignature, new_signatures)
    if deliveries:
        insert_rows(conn, Delivery, deliveries)
    if alerts:
        insert_rows(conn, Alert, alerts)
    if keys:
        insert_rows(conn, IdempotencyKey, keys)
    if by_company:
        now = batch[-1].received_at
        insert_rows(conn, Job, [
            {"id": new_id(), "kind": PROCESS_JOB, "company_id": company_id,
             "payload": {"delivery_id": ids[0]} if len(ids) == 1 else {"delivery_ids": ids},
             "status": PENDING, "due_at": now, "created_at": now,
             "attempts": 0, "max_attempts": 8} for company_id, ids in by_company.items()])
    return [o for o in outcomes if o is not None]


def _check_keys(conn: Connection, batch: list[Submission], outcomes: list[Outcome | None]) -> None:
    """Refuse, inside the commit, requests whose API key is no longer the company's current key.

    The key cache makes authentication free, but a key regenerated by another process (the CLI, a
    second server) must stop working at once: one query per batch re-checks every key in use."""
    wanted = {sub.company_id for sub in batch if sub.key_hash is not None}
    if not wanted:
        return
    current = dict(conn.execute(
        select(Company.id, Company.api_key_hash).where(Company.id.in_(wanted))).all())
    for i, sub in enumerate(batch):
        if sub.key_hash is not None and current.get(sub.company_id) != sub.key_hash:
            outcomes[i] = STALE_KEY


def _check_replays(conn: Connection, batch: list[Submission],
                   outcomes: list[Outcome | None]) -> list[dict[str, Any]]:
    """Refuse signatures seen before (stored, or earlier in this batch); return the new ones to store."""
    signed = [(i, sub, sub.signature) for i, sub in enumerate(batch) if sub.signature is not None]
    if not signed:
        return []
    seen: set[tuple[str, str]] = set()
    for company_id, digests in _by_company({(sub.company_id, sig.digest) for _, sub, sig in signed}).items():
        seen.update((company_id, d) for d in conn.execute(select(SeenSignature.signature).where(
            SeenSignature.company_id == company_id, SeenSignature.signature.in_(digests))).scalars())
    fresh: list[dict[str, Any]] = []
    for i, sub, sig in signed:
        pair = (sub.company_id, sig.digest)
        if pair in seen:
            outcomes[i] = Conflict(REPLAY_MESSAGE)
            continue
        seen.add(pair)
        fresh.append({"company_id": sub.company_id, "signature": sig.digest, "expires_at": sig.expires_at})
    return fresh


def _known_keys(conn: Connection, batch: list[Submission], outcomes: list[Outcome | None],
                ) -> tuple[dict[tuple[str, str], tuple[str, list[str]]], list[tuple[str, str]]]:
    """Stored idempotency keys of this batch: live ones (-> delivery, alert ids) and expired ones."""
    received: dict[tuple[str, str], datetime] = {}
    for i, sub in enumerate(batch):
        if outcomes[i] is None and sub.key is not None:
            received.setdefault((sub.company_id, sub.key), sub.received_at)
    if not received:
        return {}, []
    rows: list[Any] = []
    for company_id, keys in _by_company(received).items():  # per company: the primary key's index is used
        rows += conn.execute(
            select(IdempotencyKey.company_id, IdempotencyKey.key, IdempotencyKey.delivery_id,
                   IdempotencyKey.expires_at, Delivery.alert_ids)
            .join(Delivery, Delivery.id == IdempotencyKey.delivery_id, isouter=True)
            .where(IdempotencyKey.company_id == company_id, IdempotencyKey.key.in_(keys))).all()
    known: dict[tuple[str, str], tuple[str, list[str]]] = {}
    expired: list[tuple[str, str]] = []
    for company_id, key, delivery_id, expires_at, alert_ids in rows:
        pair = (company_id, key)
        if expires_at <= received[pair] or alert_ids is None:
            expired.append(pair)
        else:
            known[pair] = (delivery_id, list(alert_ids))
    return known, expired


def _by_company(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """(company, value) pairs grouped by company. Queries use ``company_id = ? AND value IN (...)``: SQLite
    answers a row-value ``(company_id, value) IN (...)`` with a full table scan."""
    grouped: dict[str, list[str]] = {}
    for company_id, value in pairs:
        grouped.setdefault(company_id, []).append(value)
    return grouped
