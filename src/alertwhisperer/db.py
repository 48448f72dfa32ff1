"""Engine and session factory for SQLite (WAL, embedded default) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Engine, MetaData, String, TypeDecorator, create_engine, event, make_url, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    """32 hex digits: the time in milliseconds (12 digits), then 80 random bits.

    Time first, so rows are appended at the end of primary-key indexes instead of scattered over them: random
    ids made every insert into the alerts table touch a random B-tree page (slower on both databases as the
    table grows). 80 random bits per millisecond keep ids unguessable and unique in practice."""
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both backends (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")
IdType = String(32)


READ_ONLY = "alertwhisperer_read_only"  # execution option: SQLite begins a deferred transaction


BUSY_TIMEOUT = 30.0  # seconds a writer waits for SQLite's write lock before giving up
SPIN_SLEEP = 0.0005  # seconds between attempts of a spinning writer (see make_sync_sqlite_engine)
WRITER_CHECKPOINT_PAGES = 20_000  # the spinning writer checkpoints only past ~80 MB of WAL (default: 1,000 pages)


def _sqlite_setup(engine: Engine, *, spin: bool = False) -> None:
    """WAL, foreign keys, a busy timeout, and BEGIN IMMEDIATE so writers serialise instead of failing."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let us emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")
        if spin:  # the webhook writer: leave WAL checkpoints to the other connections (see make_sync_sqlite_engine)
            cur.execute(f"PRAGMA wal_autocheckpoint={WRITER_CHECKPOINT_PAGES}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        elif spin:
            _begin_spinning(conn.connection.dbapi_connection)
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def _begin_spinning(dbapi_conn: Any) -> None:
    """BEGIN IMMEDIATE, retried every half millisecond while another connection holds the write lock.

    SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms between attempts, so
    a writer that just missed the lock idles up to 100 ms after it is free again. The webhook writer (one
    thread, every request of the process waiting on its commit) retries much sooner instead."""
    deadline = time.monotonic() + BUSY_TIMEOUT
    dbapi_conn.execute("PRAGMA busy_timeout=0")
    try:
        while True:
            try:
                dbapi_conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() > deadline:
                    raise
                time.sleep(SPIN_SLEEP)
    finally:  # statements inside the transaction keep the normal busy handler (e.g. a concurrent checkpoint)
        dbapi_conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")


def make_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})
        _sqlite_setup(engine.sync_engine)
        return engine
    return create_async_engine(url, echo=echo, pool_size=10, max_overflow=20, pool_pre_ping=True)


def make_sync_sqlite_engine(url: str, *, spin: bool = False) -> Engine:
    """A synchronous engine on the same SQLite file, with the same connection setup, for code that runs a
    whole transaction in one worker thread (the webhook writer) instead of one thread hop per statement.

    ``spin``: take the write lock by retrying every half millisecond rather than through SQLite's busy
    handler (its back-off sleeps up to 100 ms), for a writer whose latency every request waits on. Such a
    writer also leaves WAL checkpoints (copying the log into the database file, done by whichever commit
    crosses the threshold) to the other connections, the job worker's above all, unless the log has grown
    very large: a checkpoint inside a webhook commit stalls every request waiting on it."""
    engine = create_engine(make_url(url).set(drivername="sqlite"),
                           connect_args={"timeout": BUSY_TIMEOUT, "check_same_thread": False})
    _sqlite_setup(engine, spin=spin)
    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def read_session(bind: Any) -> AsyncSession:
    """A session for reads only. On SQLite it begins a plain (deferred) transaction: a consistent snapshot
    that never takes, nor waits for, the write lock, so long computations on what it read block no writer.
    Writing through it is a bug (on SQLite the upgrade to a write lock can fail under concurrent writers)."""
    engine = bind if isinstance(bind, AsyncEngine) else bind.engine
    return AsyncSession(bind=engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def session_scope(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with factory() as session:
        yield session
