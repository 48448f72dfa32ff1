"""Run Alembic migrations programmatically (the CLI, the server start-up and tests use this)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

from alertwhisperer.config import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def prepare(settings: Settings) -> None:
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Blocking; call from a thread (or before an event loop runs)."""
    prepare(settings)
    command.upgrade(alembic_config(settings.db_url), revision)


async def upgrade_async(settings: Settings, revision: str = "head") -> None:
    await asyncio.to_thread(upgrade, settings, revision)
