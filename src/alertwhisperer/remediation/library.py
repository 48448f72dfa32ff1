"""The built-in runbooks shipped in ``remediation/library/*.yaml``, and keeping the database in step with them.

``sync_builtins`` inserts the built-ins a database lacks and follows changes of the shipped YAML:

- a built-in nobody edited follows the shipped YAML: the new shipped text becomes a new version and current;
- a built-in an MSP admin edited is **not** overwritten: the new shipped text is stored as a newer version
  (authored by ``BUILTIN_AUTHOR``) but ``current_version`` stays on the MSP's edit, an audit entry says an
  update is available, and the console offers it (``pending_update``) for an admin to adopt or ignore.

Versions written by the product carry ``author_id`` None and ``author_name`` ``BUILTIN_AUTHOR``. A built-in whose
file disappears from a release stays in the database as it is (executions refer to it).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.audit import service as audit
from alertwhisperer.clock import Clock
from alertwhisperer.remediation.models import GLOBAL_SCOPE, Runbook, RunbookVersion
from alertwhisperer.remediation.spec import RunbookSpec, parse_yaml, spec_hash

LIBRARY_DIR = Path(__file__).parent / "library"
BUILTIN_AUTHOR = "Alert Whisperer (built-in)"
SHIPPED_NOTE = "shipped with Alert Whisperer"

_synced: set[str] = set()  # databases (engine URL) this process has synced with the shipped library


@dataclass(frozen=True)
class Shipped:
    slug: str
    text: str
    spec: RunbookSpec
    hash: str


@functools.cache
def shipped() -> dict[str, Shipped]:
    """The shipped runbooks by slug (parsed once per process; an invalid file is a packaging bug and raises)."""
    out: dict[str, Shipped] = {}
    for path in sorted(LIBRARY_DIR.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        spec = parse_yaml(text)
        if spec.name != path.stem:
            raise ValueError(f"{path.name}: name '{spec.name}' does not match the file name")
        out[spec.name] = Shipped(spec.name, text, spec, spec_hash(spec))
    return out


def is_shipped(version: RunbookVersion) -> bool:
    return version.author_id is None and version.author_name == BUILTIN_AUTHOR


def new_version(
    runbook: Runbook,
    *,
    number: int,
    text: str,
    spec: RunbookSpec,
    now: datetime,
    author_id: str | None,
    author_name: str,
    note: str,
) -> RunbookVersion:
    return RunbookVersion(
        runbook_id=runbook.id,
        company_id=runbook.company_id,
        version=number,
        yaml=text,
        spec=spec.model_dump(mode="json"),
        spec_hash=spec_hash(spec),
        author_id=author_id,
        author_name=author_name,
        note=note[:500],
        created_at=now,
    )


def copy_header(runbook: Runbook, spec: RunbookSpec) -> None:
    """The columns a runbook row repeats from its current version (for lists and filters)."""
    runbook.title = spec.title
    runbook.risk = spec.risk
    runbook.category = spec.category[:60]


async def _insert(session: AsyncSession, item: Shipped, clock: Clock) -> bool:
    now = clock.now()
    try:
        async with session.begin_nested():
            runbook = Runbook(
                scope=GLOBAL_SCOPE,
                company_id=None,
                slug=item.slug,
                title=item.spec.title,
                risk=item.spec.risk,
                category=item.spec.category[:60],
                enabled=True,
                builtin=True,
                current_version=1,
                created_at=now,
                updated_at=now,
            )
            session.add(runbook)
            await session.flush()
            session.add(
                new_version(
                    runbook,
                    number=1,
                    text=item.text,
                    spec=item.spec,
                    now=now,
                    author_id=None,
                    author_name=BUILTIN_AUTHOR,
                    note=SHIPPED_NOTE,
                )
            )
            await session.flush()
    except IntegrityError:  # another process inserted it first
        return False
    return True


async def _follow(session: AsyncSession, runbook: Runbook, item: Shipped, clock: Clock) -> str | None:
    """Bring one built-in up to the shipped YAML: 'updated', 'update_available' or None (nothing to do)."""
    versions = list(
        (
            await session.scalars(
                select(RunbookVersion).where(RunbookVersion.runbook_id == runbook.id).order_by(RunbookVersion.version)
            )
        ).all()
    )
    last_shipped = next((v for v in reversed(versions) if is_shipped(v)), None)
    if last_shipped is not None and last_shipped.spec_hash == item.hash:
        return None
    current = next((v for v in versions if v.version == runbook.current_version), None)
    if current is not None and current.spec_hash == item.hash:
        return None  # an MSP already wrote exactly what we now ship
    now = clock.now()
    number = (versions[-1].version if versions else 0) + 1
    session.add(
        new_version(
            runbook,
            number=number,
            text=item.text,
            spec=item.spec,
            now=now,
            author_id=None,
            author_name=BUILTIN_AUTHOR,
            note=SHIPPED_NOTE,
        )
    )
    edited = current is not None and not is_shipped(current)
    if edited:
        return "update_available"
    runbook.current_version = number
    copy_header(runbook, item.spec)
    runbook.updated_at = now
    return "updated"


async def sync_builtins(session: AsyncSession, *, clock: Clock) -> int:
    """Insert missing built-ins and follow shipped changes (see the module doc). Returns how many runbooks
    changed. Runs in the caller's transaction; an audit entry lists what happened."""
    library = shipped()
    rows = {
        r.slug: r
        for r in (
            await session.scalars(select(Runbook).where(Runbook.scope == GLOBAL_SCOPE, Runbook.slug.in_(list(library))))
        ).all()
    }
    created: list[str] = []
    updated: list[str] = []
    available: list[str] = []
    for slug, item in library.items():
        runbook = rows.get(slug)
        if runbook is None:
            if await _insert(session, item, clock):
                created.append(slug)
            continue
        if not runbook.builtin:
            continue  # an MSP runbook took this slug before it shipped: theirs stays
        outcome = await _follow(session, runbook, item, clock)
        if outcome == "updated":
            updated.append(slug)
        elif outcome == "update_available":
            available.append(slug)
    if created or updated or available:
        await session.flush()
        await audit.record(
            session,
            clock=clock,
            action="runbook.builtins_synced",
            target_type="runbook",
            details={"created": created, "updated": updated, "update_available": available},
        )
    _synced.add(_key(session))
    return len(created) + len(updated) + len(available)


def _key(session: AsyncSession) -> str:
    return str(session.get_bind().engine.url)


async def ensure_builtins(session: AsyncSession, *, clock: Clock) -> None:
    """Sync once per process and database; afterwards only a cheap count (a sync whose transaction was rolled
    back is noticed and redone)."""
    if _key(session) in _synced:
        count = await session.scalar(
            select(func.count()).select_from(Runbook).where(Runbook.scope == GLOBAL_SCOPE, Runbook.builtin.is_(True))
        )
        if (count or 0) >= len(shipped()):
            return
    await sync_builtins(session, clock=clock)


async def pending_update(session: AsyncSession, runbook: Runbook) -> RunbookVersion | None:
    """A shipped version newer than the built-in's current (MSP-edited) one, if any."""
    if not runbook.builtin:
        return None
    latest = await session.scalar(
        select(RunbookVersion)
        .where(
            RunbookVersion.runbook_id == runbook.id,
            RunbookVersion.version > runbook.current_version,
            RunbookVersion.author_id.is_(None),
            RunbookVersion.author_name == BUILTIN_AUTHOR,
        )
        .order_by(RunbookVersion.version.desc())
        .limit(1)
    )
    return latest
