"""The ``alertwhisperer`` command: serve, migrate, create-admin, import, replay, company rotate-key, audit verify,
demo storm."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.clock import SystemClock
from alertwhisperer.config import Settings, UnsafeConfigurationError
from alertwhisperer.db import make_engine, make_sessionmaker
from alertwhisperer.errors import DomainError

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Alert Whisperer")
company_app = typer.Typer(no_args_is_help=True, help="Company operations")
audit_app = typer.Typer(no_args_is_help=True, help="Audit log operations")
user_app = typer.Typer(no_args_is_help=True, help="User operations")
demo_app = typer.Typer(no_args_is_help=True, help="Demo mode")
app.add_typer(company_app, name="company")
app.add_typer(audit_app, name="audit")
app.add_typer(user_app, name="user")
app.add_typer(demo_app, name="demo")

T = TypeVar("T")
DbOption = Annotated[str | None, typer.Option("--db", help="database URL (default: settings)")]


def _settings(db: str | None = None) -> Settings:
    kwargs: dict[str, Any] = {"database_url": db} if db else {}
    return Settings(**kwargs).resolve_secret()


def _fail(message: str, code: int = 1) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _run_in_session(settings: Settings, fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Migrate, then run fn in one transaction (committed when it returns)."""
    from alertwhisperer import migrate

    migrate.upgrade(settings)

    async def go() -> T:
        engine = make_engine(settings.db_url)
        try:
            async with make_sessionmaker(engine)() as session:
                result = await fn(session)
                await session.commit()
                return result
        finally:
            await engine.dispose()

    try:
        return asyncio.run(go())
    except DomainError as exc:
        _fail(exc.message)
        raise  # unreachable


@app.command()
def serve(host: Annotated[str | None, typer.Option(help="bind address")] = None,
          port: Annotated[int | None, typer.Option(help="port")] = None,
          db: DbOption = None,
          workers: Annotated[int | None, typer.Option(
              help="HTTP server processes (default: settings; more than 1 needs ALERTWHISPERER_REDIS_URL)")] = None,
          ) -> None:
    """Migrate, seed demo data on first run (demo mode), and serve the console and API."""
    import uvicorn

    from alertwhisperer import migrate
    from alertwhisperer.demo import seed_demo
    from alertwhisperer.ingest.fastpath import Front
    from alertwhisperer.main import create_app, tune_gc
    from alertwhisperer.ops.logging import configure_logging

    settings = _settings(db)
    if host:
        settings.host = host
    if port:
        settings.port = port
    try:
        settings.check_production()
    except UnsafeConfigurationError as exc:
        _fail(str(exc), 2)
    configure_logging(settings.log_level, settings.log_json)
    migrate.upgrade(settings)
    if settings.demo:
        info = _run_in_session(settings, lambda s: seed_demo(s, settings=settings, clock=SystemClock()))
        if info:
            typer.secho(f"\n  Alert Whisperer demo: {settings.base_url}\n  log in as {info.email} / "
                        f"{info.password}\n  (technicians and company admins share the password; "
                        "see README)\n", fg=typer.colors.GREEN, err=True)
    processes = workers or settings.web_processes
    common: dict[str, Any] = {"host": settings.host, "port": settings.port, "log_config": None,
                              "proxy_headers": True,
                              "forwarded_allow_ips": os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")}
    if processes == 1:
        front = Front(create_app(settings))
        tune_gc()
        uvicorn.run(front, **common)
        return
    if not settings.redis_url:
        _fail("--workers above 1 needs Redis (set ALERTWHISPERER_REDIS_URL): rate limits, idempotency answers "
              "and live events must be shared by the server processes", 2)
    os.environ.update({"ALERTWHISPERER_DATABASE_URL": settings.db_url, "ALERTWHISPERER_DEMO": "false",
                       "ALERTWHISPERER_DATA_DIR": str(settings.data_dir.resolve()),
                       "ALERTWHISPERER_PUBLIC_URL": settings.base_url})
    uvicorn.run("alertwhisperer.main:app_from_environment", factory=True, workers=processes, **common)


@app.command()
def worker(db: DbOption = None,
           parent_pid: Annotated[int | None, typer.Option(hidden=True, help="exit with this process")] = None,
           nice: Annotated[int, typer.Option(help="lower this process's CPU priority by N")] = 0) -> None:
    """Run job workers only: next to API processes sharing the database (the server also starts one)."""
    from alertwhisperer.jobs.registry import build_registry
    from alertwhisperer.jobs.supervisor import die_with_parent, watch_parent
    from alertwhisperer.jobs.worker import Worker
    from alertwhisperer.migrate import upgrade
    from alertwhisperer.ops.logging import configure_logging
    from alertwhisperer.realtime.hub import make_hub

    if parent_pid is not None:
        die_with_parent(parent_pid)
    if nice:
        os.nice(nice)
    settings = _settings(db)
    configure_logging(settings.log_level, settings.log_json)
    if parent_pid is None:
        upgrade(settings)  # a child of the server: the server has migrated already

    async def go() -> None:
        engine = make_engine(settings.db_url)
        hub = make_hub(settings.redis_url, settings.hub_dir)
        await hub.start()
        runner = Worker(make_sessionmaker(engine), build_registry(), SystemClock(), settings=settings, hub=hub)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        watcher = asyncio.create_task(watch_parent(parent_pid, stop)) if parent_pid is not None else None
        typer.echo(f"worker {runner.name} started", err=True)
        try:
            runner.start()
            await stop.wait()
        finally:
            if watcher is not None:
                watcher.cancel()
            await runner.stop()
            await hub.stop()
            await engine.dispose()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(go())


@app.command()
def migrate(db: DbOption = None, revision: str = "head") -> None:
    """Apply database migrations (SQLite or PostgreSQL)."""
    from alertwhisperer import migrate as m

    settings = _settings(db)
    m.upgrade(settings, revision)
    typer.echo(f"database migrated to {revision}")


@app.command("create-admin")
def create_admin(email: Annotated[str, typer.Option(prompt=True)],
                 name: Annotated[str, typer.Option(prompt=True)] = "MSP Admin",
                 password: Annotated[str | None, typer.Option(
                     help="prompted when omitted; or set ALERTWHISPERER_ADMIN_PASSWORD")] = None,
                 db: DbOption = None) -> None:
    """Create an MSP admin (the first admin outside demo mode)."""
    from alertwhisperer.auth.principal import Role
    from alertwhisperer.auth.schemas import UserCreate
    from alertwhisperer.auth.users import create_user

    password = password or os.environ.get("ALERTWHISPERER_ADMIN_PASSWORD")
    if not password:
        if not sys.stdin.isatty():
            _fail("no password: pass --password or set ALERTWHISPERER_ADMIN_PASSWORD")
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Repeat password: "):
            _fail("passwords differ")
    settings = _settings(db)
    try:
        data = UserCreate(email=email, name=name, role=Role.MSP_ADMIN, password=password)
    except ValueError as exc:
        _fail(str(exc))
        raise
    user = _run_in_session(settings, lambda s: create_user(s, actor=None, settings=settings,
                                                           clock=SystemClock(), data=data))
    typer.echo(f"created MSP admin {user[0].email}")


@app.command("import")
def import_cmd(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
               keys_out: Annotated[Path | None, typer.Option("--keys-out",
                                                             help="write new API keys as JSON")] = None,
               db: DbOption = None) -> None:
    """Import companies and assets from JSON (idempotent upsert by slug and asset name)."""
    from alertwhisperer.tenants.importer import import_tenants

    try:
        data = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        _fail(f"{file} is not valid JSON: {exc}")
    settings = _settings(db)
    report = _run_in_session(settings, lambda s: import_tenants(s, clock=SystemClock(), data=data))
    typer.echo(report.summary())
    for slug, key in report.api_keys.items():
        typer.echo(f"  new company {slug}: API key {key}  (shown once)")
    if keys_out is not None:
        # A re-run creates nothing new: keep the keys an earlier run wrote there (they are shown only once).
        keys: dict[str, str] = {}
        with contextlib.suppress(OSError, ValueError):
            previous = json.loads(keys_out.read_text())
            if isinstance(previous, dict):
                keys = {str(k): str(v) for k, v in previous.items()}
        keys.update(report.api_keys)
        fd = os.open(keys_out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # O_CREAT's mode only applies to a new file; an existing one may be world-readable
        with os.fdopen(fd, "w") as fh:
            json.dump(keys, fh, indent=2)
        typer.echo(f"API keys written to {keys_out} ({len(report.api_keys)} new)")


@app.command()
def replay(alerts: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                                  help="ALERTS.jsonl: one delivery per line")],
           tenants: Annotated[Path, typer.Option("--tenants", exists=True, dir_okay=False, readable=True,
                                                 help="TENANTS.json (the import format)")],
           out: Annotated[Path, typer.Option("--out", help="RESULT.jsonl: one row per alert")],
           db: Annotated[str | None, typer.Option("--db", help="database URL (default: a throwaway SQLite file)")]
           = None) -> None:
    """Replay recorded deliveries through the adapters and the correlation engine (simulated clock)."""
    import tempfile
    import time

    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    from alertwhisperer import migrate as migrations
    from alertwhisperer.correlation.replay import run as run_replay

    try:
        tenant_data = json.loads(tenants.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        _fail(f"{tenants} is not valid JSON: {exc}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="aw-replay-") as tmp:
        url = db or f"sqlite+aiosqlite:///{Path(tmp) / 'replay.db'}"
        settings = Settings(database_url=url, data_dir=Path(tmp)).resolve_secret()
        migrations.upgrade(settings)
        console = Console(stderr=True)
        with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                      TimeRemainingColumn(), console=console, transient=True) as progress:
            task = progress.add_task("replaying", total=alerts.stat().st_size)
            try:
                summary = asyncio.run(run_replay(settings.db_url, throwaway=db is None, alerts_path=alerts,
                                                 tenants=tenant_data, out_path=out,
                                                 progress=lambda n: progress.advance(task, n)))
            except DomainError as exc:
                _fail(exc.message)
                raise  # unreachable
    total = summary.loop_seconds + summary.write_seconds
    typer.echo(f"lines: {summary.lines}  alerts: {summary.alerts}  rejected: {summary.rejected}  "
               f"suppressed: {summary.suppressed}  retried deliveries' alerts: {summary.retried}")
    typer.echo("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.outcomes.items())))
    typer.echo(f"incidents: {summary.incidents}  noise reduction: {summary.noise_reduction:.1%} "
               f"(1 - incidents / {summary.actionable} alerts neither rejected nor suppressed)")
    typer.echo(f"time: {total:.2f}s (reading and correlating {summary.loop_seconds:.2f}s, of which the engine "
               f"{summary.engine_seconds:.2f}s; database and result {summary.write_seconds:.2f}s)"
               f"  speed: {summary.rate:,.0f} alerts/s (engine alone {summary.engine_rate:,.0f} alerts/s)")
    typer.echo(f"set-up: {time.perf_counter() - started - total:.2f}s (database, tenants, progress)  "
               f"processes: {summary.processes}"
               + ("" if summary.snapshot else "  correlation state: no snapshot, rebuilt from the alert log"))
    typer.echo(f"result written to {out}")


@company_app.command("rotate-key")
def rotate_key(slug: str, db: DbOption = None) -> None:
    """Regenerate a company's API key and print it once; the old key stops working."""
    from sqlalchemy import select

    from alertwhisperer.errors import NotFound
    from alertwhisperer.tenants.models import Company
    from alertwhisperer.tenants.service import regenerate_api_key

    async def go(session: AsyncSession) -> str:
        company = (await session.execute(select(Company).where(Company.slug == slug))).scalar_one_or_none()
        if company is None:
            raise NotFound(f"no company with slug {slug!r}")
        _, key = await regenerate_api_key(session, actor=None, clock=SystemClock(), company_id=company.id)
        return key

    key = _run_in_session(_settings(db), go)
    typer.echo(f"new API key for {slug}: {key}  (shown once; the old key no longer works)")


@audit_app.command("verify")
def audit_verify(db: DbOption = None) -> None:
    """Verify the audit log's hash chain; exit 1 naming the first broken entry."""
    from alertwhisperer.audit.service import verify_chain

    report = _run_in_session(_settings(db), verify_chain)
    if report.ok:
        typer.echo(f"audit chain intact: {report.checked} entries verified")
        return
    _fail(f"audit chain BROKEN at entry {report.first_broken_seq}: {report.problem} "
          f"({report.checked} entries before it verified)")


@user_app.command("set-password")
def set_password(email: str, password: Annotated[str | None, typer.Option()] = None, db: DbOption = None) -> None:
    """Set a user's password (revokes their sessions)."""
    from alertwhisperer.auth.users import set_password as do_set

    password = password or getpass.getpass("New password: ")
    settings = _settings(db)
    _run_in_session(settings, lambda s: do_set(s, settings=settings, clock=SystemClock(), email=email,
                                               password=password))
    typer.echo(f"password set for {email}; their sessions were revoked")


@demo_app.command("storm")
def demo_storm(company: Annotated[str | None, typer.Option(
                   "--company", help="company slug (default: the first demo company)")] = None,
               duration: Annotated[float, typer.Option(min=1, max=3600, help="seconds the storm lasts")] = 90.0,
               speed: Annotated[float, typer.Option(min=0.1, max=100, help="2 plays it twice as fast")] = 1.0,
               seed: Annotated[int | None, typer.Option(help="replay an earlier storm exactly")] = None,
               db: DbOption = None) -> None:
    """Play a realistic alert storm into a company so the console (alertwhisperer serve) comes alive."""
    from rich.console import Console

    from alertwhisperer import migrate
    from alertwhisperer.demo_storm.command import run_storm

    settings = _settings(db)
    migrate.upgrade(settings)
    try:
        asyncio.run(run_storm(settings, slug=company, duration=duration / speed, seed=seed,
                              console=Console(highlight=False)))
    except DomainError as exc:
        _fail(exc.message, 2)
    except KeyboardInterrupt:
        _fail("storm interrupted; what was sent so far stays stored", 130)


def main() -> None:
    app()
