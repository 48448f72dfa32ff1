"""In-process caches for the webhook hot path: who a key belongs to, and deliveries seen recently.

``CompanyCache`` maps an API key's SHA-256 to the company's id, ingest settings and signing secret, so a
webhook costs no database read. It is invalidated *immediately within this process* whenever a session
of this process flushes a change to a ``Company`` (new key, settings, deletion) or a ``WebhookSecret``
(rotation, removal): an ORM event listener bumps a generation counter and drops the company's entries;
a lookup that started before the change cannot store its stale answer (generation check).

Multi-process caveat: another process (a second API process, or ``alertwhisperer company rotate-key``
run from a shell) cannot reach this memory. There, a change takes effect within ``TTL_SECONDS``: every
entry is re-read from the database at most that old.

``RecentDeliveries`` remembers (company, idempotency key) -> the committed delivery, added only after
the commit, with the key's expiry, so an unsigned repeat is answered without touching the database.
A miss simply goes to the database; a hit is only ever a committed row that has not expired.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from alertwhisperer.auth.tokens import hash_token
from alertwhisperer.ingest.models import WebhookSecret
from alertwhisperer.ingest.signing import SecretSnapshot
from alertwhisperer.tenants.models import Company
from alertwhisperer.tenants.schemas import IngestSettings

TTL_SECONDS = 10.0
MAX_COMPANIES = 10_000
MAX_DELIVERIES = 200_000


@dataclass(frozen=True)
class CompanyEntry:
    company_id: str
    ingest: IngestSettings
    secret: SecretSnapshot | None
    loaded_at: float
    key_hash: str = ""  # re-checked by the writer inside the commit (keys rotated by another process)


class CompanyCache:
    def __init__(self, ttl: float = TTL_SECONDS) -> None:
        self.ttl = ttl
        self._by_hash: dict[str, CompanyEntry] = {}
        self.generation = 0

    def invalidate(self, company_ids: set[str]) -> None:
        self.generation += 1
        for key_hash in [h for h, e in self._by_hash.items() if e.company_id in company_ids]:
            del self._by_hash[key_hash]

    def clear(self) -> None:
        self.generation += 1
        self._by_hash.clear()

    def get(self, api_key: str) -> CompanyEntry | None:
        """A fresh cached entry for this key, or None (unknown here: ask ``load``)."""
        entry = self._by_hash.get(hash_token(api_key))
        if entry is not None and time.monotonic() - entry.loaded_at < self.ttl:
            return entry
        return None

    async def load(self, session: AsyncSession, api_key: str) -> CompanyEntry | None:
        """Read the key's company from the database (None: no such key) and remember it."""
        if not api_key.startswith("aw_"):
            return None
        key_hash = hash_token(api_key)
        generation = self.generation
        company = (await session.execute(select(Company).where(Company.api_key_hash == key_hash))
                   ).scalar_one_or_none()
        if company is None:
            self._by_hash.pop(key_hash, None)
            return None
        row = await session.get(WebhookSecret, company.id)
        entry = CompanyEntry(company.id, IngestSettings.model_validate((company.settings or {}).get("ingest") or {}),
                             SecretSnapshot.of(row) if row else None, time.monotonic(), key_hash)
        if generation == self.generation:  # nothing changed while we read: safe to remember
            if len(self._by_hash) >= MAX_COMPANIES:
                self._by_hash.pop(next(iter(self._by_hash)))
            self._by_hash[key_hash] = entry
        return entry


@dataclass(frozen=True)
class Remembered:
    delivery_id: str
    alert_ids: tuple[str, ...]
    expires_at: datetime


class RecentDeliveries:
    def __init__(self, capacity: int = MAX_DELIVERIES) -> None:
        self.capacity = capacity
        self._items: dict[tuple[str, str], Remembered] = {}

    def get(self, company_id: str, key: str, now: datetime) -> Remembered | None:
        item = self._items.get((company_id, key))
        if item is None:
            return None
        if item.expires_at <= now:
            del self._items[(company_id, key)]
            return None
        return item

    def put(self, company_id: str, key: str, item: Remembered) -> None:
        if len(self._items) >= self.capacity:
            self._items.pop(next(iter(self._items)))
        self._items[(company_id, key)] = item

    def forget_companies(self, company_ids: set[str]) -> None:
        for k in [k for k in self._items if k[0] in company_ids]:
            del self._items[k]


class IngestCaches:
    """One app's caches. Every live instance is invalidated by the ORM events below."""

    def __init__(self, ttl: float = TTL_SECONDS) -> None:
        self.companies = CompanyCache(ttl)
        self.deliveries = RecentDeliveries()
        _live.add(self)

    def invalidate(self, company_ids: set[str]) -> None:
        self.companies.invalidate(company_ids)
        self.deliveries.forget_companies(company_ids)  # a deleted company's deliveries went with it


_live: weakref.WeakSet[IngestCaches] = weakref.WeakSet()


def _changed_companies(session: Session) -> set[str]:
    ids: set[str] = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Company) and obj.id:
            ids.add(obj.id)
        elif isinstance(obj, WebhookSecret):
            ids.add(obj.company_id)
    return ids


@event.listens_for(Session, "after_flush")
def _on_flush(session: Session, _context: Any) -> None:
    """Drop cached entries at flush and again at commit (a lookup in between cannot keep a stale one)."""
    ids = _changed_companies(session)
    if ids:
        session.info.setdefault("aw_changed_companies", set()).update(ids)
        _invalidate(ids)


@event.listens_for(Session, "after_commit")
def _on_commit(session: Session) -> None:
    ids = session.info.pop("aw_changed_companies", None)
    if ids:
        _invalidate(ids)


@event.listens_for(Session, "after_soft_rollback")
def _on_rollback(session: Session, _previous: Any) -> None:
    session.info.pop("aw_changed_companies", None)


def _invalidate(ids: set[str]) -> None:
    for caches in list(_live):
        caches.invalidate(ids)
