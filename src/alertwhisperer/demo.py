"""Demo data for the embedded default: an MSP admin, two client companies with assets, technicians."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth import users
from alertwhisperer.auth.models import User
from alertwhisperer.auth.principal import Role
from alertwhisperer.auth.schemas import UserCreate
from alertwhisperer.clock import Clock
from alertwhisperer.config import Settings
from alertwhisperer.demo_remediation import seed_remediation
from alertwhisperer.tenants.importer import import_tenants

DEMO_PASSWORD = "Whisper-demo-2026!"  # noqa: S105 - demo mode only; production refuses demo data
DEMO_ADMIN = "admin@msp-demo.example"

DEMO_TENANTS = {"companies": [
    {"name": "Acme Dental Group", "slug": "acme-dental", "timezone": "America/New_York", "assets": [
        {"name": "acme-fw-01", "type": "firewall", "ip": "10.1.0.1", "critical": True, "tags": {"site": "hq"}},
        {"name": "acme-db-01", "type": "database", "ip": "10.1.0.5", "fqdn": "acme-db-01.acme.internal",
         "instance_id": "i-0abc123def4567890", "critical": True, "depends_on": ["acme-fw-01"],
         "tags": {"env": "prod", "role": "postgresql"}},
        {"name": "acme-app-01", "type": "server", "ip": "10.1.0.6", "fqdn": "acme-app-01.acme.internal",
         "depends_on": ["acme-db-01"], "tags": {"env": "prod", "role": "practice-management"}},
        {"name": "acme-web-01", "type": "server", "ip": "10.1.0.7", "depends_on": ["acme-app-01"],
         "tags": {"env": "prod", "role": "nginx"}},
        {"name": "acme-nas-01", "type": "storage", "ip": "10.1.0.20", "tags": {"role": "backup"}},
    ]},
    {"name": "Globex Logistics", "slug": "globex", "timezone": "Europe/Berlin", "assets": [
        {"name": "globex-sw-core", "type": "network", "ip": "172.16.0.1", "critical": True},
        {"name": "globex-sql-01", "type": "database", "ip": "172.16.0.10", "fqdn": "sql01.globex.lan",
         "critical": True, "depends_on": ["globex-sw-core"], "tags": {"role": "mssql"}},
        {"name": "globex-win-app", "type": "windows", "ip": "172.16.0.11", "depends_on": ["globex-sql-01"],
         "tags": {"role": "iis"}},
        {"name": "globex-k8s-node-1", "type": "container", "instance_id": "i-0fedcba9876543210",
         "depends_on": ["globex-sw-core"], "tags": {"cluster": "prod"}},
    ]},
]}


@dataclass(frozen=True)
class DemoInfo:
    email: str
    password: str


async def seed_demo(session: AsyncSession, *, settings: Settings, clock: Clock) -> DemoInfo | None:
    """Seed once, into an empty database. Returns the demo login when seeded or already present."""
    count = (await session.execute(select(func.count()).select_from(User))).scalar_one()
    if count:
        admin = (await session.execute(select(User).where(User.email == DEMO_ADMIN))).scalar_one_or_none()
        return DemoInfo(DEMO_ADMIN, DEMO_PASSWORD) if admin else None
    report = await import_tenants(session, clock=clock, data=DEMO_TENANTS)
    from alertwhisperer.tenants.models import Company

    ids = {c.slug: c.id for c in (await session.execute(select(Company))).scalars()}
    acme, globex = ids["acme-dental"], ids["globex"]
    people = [
        UserCreate(email=DEMO_ADMIN, name="Morgan MSP-Admin", role=Role.MSP_ADMIN, password=DEMO_PASSWORD),
        UserCreate(email="admin@acme-dental.example", name="Alex Acme-Admin", role=Role.COMPANY_ADMIN,
                   password=DEMO_PASSWORD, company_ids=[acme]),
        UserCreate(email="admin@globex.example", name="Gina Globex-Admin", role=Role.COMPANY_ADMIN,
                   password=DEMO_PASSWORD, company_ids=[globex]),
        UserCreate(email="sam@msp-demo.example", name="Sam Server", role=Role.TECHNICIAN,
                   password=DEMO_PASSWORD, company_ids=[acme, globex], category="Server",
                   skills=["Server", "Linux", "Cloud"]),
        UserCreate(email="dana@msp-demo.example", name="Dana Database", role=Role.TECHNICIAN,
                   password=DEMO_PASSWORD, company_ids=[acme, globex], category="Database",
                   skills=["Database", "PostgreSQL", "MSSQL"]),
        UserCreate(email="nico@msp-demo.example", name="Nico Network", role=Role.TECHNICIAN,
                   password=DEMO_PASSWORD, company_ids=[globex], category="Network",
                   skills=["Network", "Security"]),
    ]
    made: dict[str, str] = {}
    for person in people:
        user, _ = await users.create_user(session, actor=None, settings=settings, clock=clock, data=person)
        made[person.email.split("@")[0]] = user.id
    await _seed_oncall(session, clock=clock, acme=acme, globex=globex, ids=made)
    await seed_remediation(session, settings=settings, clock=clock, admin_id=made["admin"], acme=acme)
    _ = report
    return DemoInfo(DEMO_ADMIN, DEMO_PASSWORD)


async def _seed_oncall(session: AsyncSession, *, clock: Clock, acme: str, globex: str, ids: dict[str, str]) -> None:
    """Demo rotations, so incidents of the demo storm are assigned: Dana covers databases at both companies, Nico
    Globex's network, and an MSP-wide team (Sam and Dana, weekly) catches everything else."""
    from alertwhisperer.incidents.models import OnCallSchedule
    from alertwhisperer.incidents.schedule_schemas import LayerIn

    now = clock.now()
    monday = (now - timedelta(days=now.weekday())).date()

    def layer(name: str, members: list[str], rotation: str = "weekly") -> dict[str, Any]:
        return LayerIn(name=name, rotation=rotation, starts_on=monday,
                       members=members).model_dump(mode="json")

    for company_id, name, category, layers in (
            (acme, "Acme databases", "Database", [layer("Primary", [ids["dana"]])]),
            (globex, "Globex databases", "Database", [layer("Primary", [ids["dana"]])]),
            (globex, "Globex network", "Network", [layer("Primary", [ids["nico"]])]),
            (None, "MSP on-call team", None, [layer("Weekly", [ids["sam"], ids["dana"]])])):
        session.add(OnCallSchedule(company_id=company_id, name=name, category=category, timezone="Europe/Berlin",
                                   description="Demo rotation", layers=layers, created_at=now, updated_at=now))
    await session.flush()
