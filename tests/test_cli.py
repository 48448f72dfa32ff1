"""The ``alertwhisperer`` command: import, company rotate-key, create-admin, audit verify, migrate."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from alertwhisperer.audit.models import AuditEntry
from alertwhisperer.auth.models import User
from alertwhisperer.cli import app as cli_app
from alertwhisperer.tenants.models import Asset, AssetDependency, Company
from alertwhisperer.tenants.service import company_for_api_key

EXE = str(Path(sys.executable).parent / "alertwhisperer")
IMPORT = {"companies": [{"name": "Acme Corp", "slug": "acme", "assets": [
    {"name": "acme-db-01", "type": "database", "ip": "10.1.0.5", "fqdn": "acme-db-01.acme.internal",
     "instance_id": "i-0abc123", "critical": True, "depends_on": [], "tags": {"env": "prod"}},
    {"name": "acme-app-01", "type": "server", "ip": "10.1.0.6", "depends_on": ["acme-db-01"],
     "owner_team": "ignored unknown field"}]},
    {"name": "Globex", "slug": "globex", "region": "eu-ignored", "assets": []}]}


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in [k for k in os.environ if k.startswith("ALERTWHISPERER_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("ALERTWHISPERER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)


async def cli(*args: str) -> tuple[int, str]:
    """Run the command in-process (in a thread: it runs its own event loop)."""
    result = await asyncio.to_thread(CliRunner().invoke, cli_app, list(args))
    return result.exit_code, result.stdout + result.stderr


def _write(tmp_path: Path, data: object, name: str = "tenants.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


async def _count(db: AsyncSession, model: type) -> int:
    db.expunge_all()
    count = int((await db.execute(select(func.count()).select_from(model))).scalar_one())
    await db.rollback()  # never hold SQLite's write lock while the command runs
    return count


async def test_import_is_idempotent_and_writes_new_keys_once(db_url: str, db: AsyncSession, tmp_path: Path) -> None:
    file, keys = _write(tmp_path, IMPORT), tmp_path / "keys.json"
    proc = await asyncio.to_thread(subprocess.run, [EXE, "import", file, "--db", db_url, "--keys-out", str(keys)],
                                   capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "companies: 2 created, 0 updated, 0 unchanged; assets: 2 created, 0 updated, 0 unchanged" in proc.stdout
    written = json.loads(keys.read_text())
    assert set(written) == {"acme", "globex"}
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    assert written["acme"] in proc.stdout  # printed once for the operator
    acme = await company_for_api_key(db, api_key=written["acme"])
    assert acme is not None and acme.slug == "acme" and acme.name == "Acme Corp"
    assets = {a.name: a for a in (await db.execute(select(Asset).where(Asset.company_id == acme.id))).scalars()}
    assert assets["acme-db-01"].critical and assets["acme-db-01"].tags == {"env": "prod"}
    assert assets["acme-db-01"].fqdn == "acme-db-01.acme.internal" and assets["acme-db-01"].instance_id == "i-0abc123"
    assert await _count(db, AssetDependency) == 1
    code, out = await cli("import", file, "--db", db_url)
    assert code == 0, out
    assert "companies: 0 created, 0 updated, 2 unchanged; assets: 0 created, 0 updated, 2 unchanged" in out
    assert "API key" not in out
    assert await _count(db, Company) == 2 and await _count(db, Asset) == 2

    changed = json.loads(json.dumps(IMPORT))
    changed["companies"][0]["assets"][1]["ip"] = "10.1.0.7"
    changed["companies"][0]["assets"].append({"name": "acme-web-01", "depends_on": ["acme-app-01"]})
    code, out = await cli("import", _write(tmp_path, changed, "v2.json"), "--db", db_url)
    assert "0 created, 0 updated, 2 unchanged; assets: 1 created, 1 updated, 1 unchanged" in out, out


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d["companies"][0]["assets"][0].update(depends_on=["acme-app-01"]),
     "dependency cycle: acme-app-01 -> acme-db-01 -> acme-app-01"),
    (lambda d: d["companies"][0]["assets"][0].update(ip="10.1.0.999"), "'10.1.0.999' is not an IPv4 or IPv6 address"),
    (lambda d: d["companies"][0]["assets"][1].update(depends_on=["nope"]), "unknown asset(s) in depends_on: nope"),
])
async def test_a_bad_import_fails_clearly_and_writes_nothing(db_url: str, db: AsyncSession, tmp_path: Path,
                                                             mutate: object, message: str) -> None:
    data = json.loads(json.dumps(IMPORT))
    mutate(data)  # type: ignore[operator]
    keys = tmp_path / "keys.json"
    code, out = await cli("import", _write(tmp_path, data), "--db", db_url, "--keys-out", str(keys))
    assert code == 1
    assert message in out
    assert not keys.exists()
    assert await _count(db, Company) == 0 and await _count(db, Asset) == 0 and await _count(db, AuditEntry) == 0


async def test_import_refuses_invalid_json(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    code, out = await cli("import", str(path), "--db", db_url)
    assert code == 1 and "is not valid JSON" in out


async def test_keys_out_is_private_even_when_the_file_existed(db_url: str, tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text("{}")
    keys.chmod(0o644)
    code, out = await cli("import", _write(tmp_path, IMPORT), "--db", db_url, "--keys-out", str(keys))
    assert code == 0, out
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    assert set(json.loads(keys.read_text())) == {"acme", "globex"}


async def test_rerun_keeps_the_keys_an_earlier_run_wrote(db_url: str, tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    code, out = await cli("import", _write(tmp_path, IMPORT), "--db", db_url, "--keys-out", str(keys))
    assert code == 0, out
    first = json.loads(keys.read_text())
    code, out = await cli("import", _write(tmp_path, IMPORT), "--db", db_url, "--keys-out", str(keys))
    assert code == 0 and "(0 new)" in out, out
    assert json.loads(keys.read_text()) == first  # keys are shown once: a re-run must not wipe them


async def test_rotate_key(db_url: str, db: AsyncSession, tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    await cli("import", _write(tmp_path, IMPORT), "--db", db_url, "--keys-out", str(keys))
    old = json.loads(keys.read_text())["acme"]
    code, out = await cli("company", "rotate-key", "acme", "--db", db_url)
    assert code == 0, out
    new = out.split("new API key for acme: ")[1].split()[0]
    assert new.startswith("aw_") and new != old
    db.expunge_all()
    assert await company_for_api_key(db, api_key=old) is None
    found = await company_for_api_key(db, api_key=new)
    assert found is not None and found.slug == "acme"
    rotated = select(AuditEntry).where(AuditEntry.action == "company.api_key_regenerated")
    entry = (await db.execute(rotated)).scalar_one()
    assert new not in str(entry.details)
    await db.rollback()
    code, out = await cli("company", "rotate-key", "nope", "--db", db_url)
    assert code == 1 and "no company with slug 'nope'" in out


async def test_create_admin(db_url: str, db: AsyncSession) -> None:
    code, out = await cli("create-admin", "--email", "Root@MSP.example", "--name", "Root", "--password",
                          "Quartz-Lantern-Orbit-77", "--db", db_url)
    assert code == 0, out
    assert "created MSP admin root@msp.example" in out
    user = (await db.execute(select(User))).scalar_one()
    assert user.role == "msp_admin" and user.is_active and "Quartz" not in user.password_hash
    await db.rollback()
    weak = await cli("create-admin", "--email", "b@msp.example", "--name", "B", "--password", "password1234",
                     "--db", db_url)
    assert weak[0] == 1 and "too common" in weak[1]
    dup = await cli("create-admin", "--email", "root@msp.example", "--name", "R", "--password",
                    "Quartz-Lantern-Orbit-78", "--db", db_url)
    assert dup[0] == 1 and "already exists" in dup[1]
    assert await _count(db, User) == 1


async def test_audit_verify_names_the_broken_entry(db_url: str, db: AsyncSession, tmp_path: Path) -> None:
    await cli("import", _write(tmp_path, IMPORT), "--db", db_url)
    code, out = await cli("audit", "verify", "--db", db_url)
    assert code == 0 and "audit chain intact: 4 entries verified" in out, out
    if db_url.startswith("sqlite"):
        await db.execute(text("DROP TRIGGER audit_log_no_update"))
    else:
        await db.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
    await db.execute(text("UPDATE audit_log SET actor_email = 'intruder@evil.example' WHERE seq = 3"))
    await db.commit()
    proc = await asyncio.to_thread(subprocess.run, [EXE, "audit", "verify", "--db", db_url],
                                   capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "audit chain BROKEN at entry 3" in proc.stderr
    assert "2 entries before it verified" in proc.stderr


def test_migrate_creates_a_fresh_embedded_database(tmp_path: Path) -> None:
    target = tmp_path / "fresh" / "aw.db"
    proc = subprocess.run([EXE, "migrate", "--db", f"sqlite+aiosqlite:///{target}"], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "ALERTWHISPERER_DATA_DIR": str(target.parent)})
    assert proc.returncode == 0, proc.stderr
    assert "database migrated to head" in proc.stdout
    import sqlite3

    with sqlite3.connect(target) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"companies", "assets", "users", "audit_log", "alembic_version"} <= tables
    again = subprocess.run([EXE, "migrate", "--db", f"sqlite+aiosqlite:///{target}"], capture_output=True,
                           text=True, timeout=120, env={**os.environ, "ALERTWHISPERER_DATA_DIR": str(target.parent)})
    assert again.returncode == 0  # idempotent
