"""Migrations: they run on both backends, match the models exactly, and downgrade cleanly."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from alertwhisperer import migrate
from alertwhisperer.config import Settings
from alertwhisperer.db import make_engine
from alertwhisperer.models import Base


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_models_match_migrations(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(_diff)
    finally:
        await engine.dispose()
    assert diff == [], f"models and migrations differ; generate a migration: {diff}"


async def test_downgrade_to_base_and_upgrade_again(db_url: str, tmp_path: object) -> None:
    settings = Settings(database_url=db_url)
    await asyncio.to_thread(migrate.upgrade, settings, "head")
    from alembic import command

    await asyncio.to_thread(command.downgrade, migrate.alembic_config(db_url), "base")
    engine = make_engine(db_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) <= {"alembic_version"}
        await asyncio.to_thread(migrate.upgrade, settings, "head")
        async with engine.connect() as conn:
            tables = await conn.run_sync(_tables)
    finally:
        await engine.dispose()
    assert {"companies", "assets", "users", "audit_log", "jobs", "deliveries", "alerts"} <= tables
