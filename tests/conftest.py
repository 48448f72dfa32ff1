"""Shared fixtures: every DB test runs on SQLite and PostgreSQL, each test in its own fresh database.

Databases are created from a migrated template (a file copy on SQLite, ``CREATE DATABASE ... TEMPLATE``
on PostgreSQL), so the migrations themselves run on both backends in every session.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer import migrate
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.db import make_engine, make_sessionmaker
from alertwhisperer.main import create_app

PG_ADMIN_DSN = os.environ.get("AW_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_HOST_URL = os.environ.get("AW_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432")
TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
BACKENDS = ["sqlite", "postgresql"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--backend", action="append", choices=BACKENDS,
                     help="run DB tests on these backends only (default: both)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("backend") or BACKENDS
        metafunc.parametrize("backend", chosen, scope="session")


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def _run_id() -> str:
    return f"{os.getpid()}_{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="session")
def template_db(backend: str, tmp_path_factory: pytest.TempPathFactory, _run_id: str) -> Iterator[str]:
    """A migrated database to copy per test. Yields its URL (SQLite) or database name (PostgreSQL)."""
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("template") / "template.db"
        migrate.upgrade(Settings(database_url=f"sqlite+aiosqlite:///{path}", data_dir=path.parent))
        yield str(path)
        return
    name = f"aw_tpl_{_run_id}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        migrate.upgrade(Settings(database_url=f"{PG_HOST_URL}/{name}"))
        yield name
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def db_url(backend: str, template_db: str, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, migrated, empty database for this test."""
    if backend == "sqlite":
        target = tmp_path / "test.db"
        shutil.copyfile(template_db, target)
        yield f"sqlite+aiosqlite:///{target}"
        return
    name = f"aw_t_{uuid.uuid4().hex[:12]}"
    await _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    try:
        yield f"{PG_HOST_URL}/{name}"
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=db_url, data_dir=tmp_path, env="test", demo=False,
                    secret_key=TEST_SECRET, log_json=False,  # type: ignore[arg-type]
                    embedded_worker=False)


@pytest.fixture
async def app(settings: Settings, clock: FakeClock) -> AsyncIterator[FastAPI]:
    application = create_app(settings, clock=clock)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def sessionmaker(app: FastAPI) -> async_sessionmaker[AsyncSession]:
    factory: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    return factory


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[AsyncSession]:
    """A session on the test database for service-level tests (no app)."""
    engine = make_engine(db_url)
    try:
        async with make_sessionmaker(engine)() as session:
            yield session
    finally:
        await engine.dispose()
