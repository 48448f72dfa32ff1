"""Demo remediation: self-healing you can watch, without touching the machine the demo runs on.

The demo company Acme reaches two of its assets with the *local* executor, and its runbooks for them are company
overrides that work in a sandbox directory standing in for each host (``<data dir>/demo-hosts/<asset>``):

- ``disk-cleanup`` (low risk, auto-approved) and ``disk-usage-report`` / ``database-health-check`` (read-only)
  replace the library ones for Acme, so the demo storm's "disk almost full" on acme-db-01 is cleaned up by itself
  and its incident self-heals (health check: the sandbox volume is below its limit again);
- ``restart-web-tier`` (medium risk) answers the web tier's HTTP errors on acme-web-01: it waits for a company
  admin's approval in the Approvals inbox, then streams its output on the execution's page;
- every other library runbook that would run by itself (low risk, auto-approved) is switched off for Acme, so
  nothing from the library runs on the demo machine without a person approving it first.

Globex gets no remote access at all: its decisions say so ("no remote access configured"), which is what a new
client looks like. Everything goes through the real services (runbooks, access, audit).
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth.principal import Principal, Role
from alertwhisperer.clock import Clock
from alertwhisperer.config import Settings
from alertwhisperer.remediation import access, library, runbooks
from alertwhisperer.remediation.access_schemas import AccessIn
from alertwhisperer.tenants.models import Asset

SANDBOX_LIMIT_KB = 1024  # the stand-in volume counts as "full" above this

_CLEANUP = """\
name: disk-cleanup
title: Free disk space (demo sandbox)
description: |
  Demo override of the library's disk cleanup: removes rotated logs older than a day and temporary files from
  the sandbox directory that stands in for this host, then reports what is left.
category: storage
risk: low
auto_approve: true
trigger:
  symptoms: ["disk"]
parameters:
  - name: root
    description: the sandbox standing in for the host
    default: "{root}"
    pattern: '^/.+$'
steps:
  linux:
    - name: Usage before
      run: du -sk {{ root }} | cut -f1 | sed 's/$/ KB used before/'
    - name: Remove rotated logs and temporary files
      run: |
        find {{ root }}/var/log {{ root }}/tmp -type f \\( -name '*.gz' -o -name '*.tmp' -o -name '*.[0-9]' \\) \\
          -print -delete
    - name: Usage after
      run: du -sk {{ root }} | cut -f1 | sed 's/$/ KB used after/'
health_check:
  kind: command
  command: used=$(du -sk {{ root }} | cut -f1); test "$used" -lt {limit}
timeout_seconds: 60
cooldown_minutes: 5
"""

_REPORT = """\
name: disk-usage-report
title: Disk usage report (demo sandbox)
description: Largest directories of the sandbox standing in for this host (demo override, read-only).
category: storage
risk: low
auto_approve: true
trigger:
  symptoms: ["disk"]
parameters:
  - name: root
    default: "{root}"
    pattern: '^/.+$'
steps:
  linux:
    - name: Largest directories
      run: du -sk {{ root }}/* | sort -rn | head -10
timeout_seconds: 60
"""

_DB_CHECK = """\
name: database-health-check
title: Database health check (demo sandbox)
description: Reads the status file of the stand-in database (demo override, read-only).
category: database
risk: low
auto_approve: true
trigger:
  symptoms: ["db_connections", "db_slow", "replication"]
parameters:
  - name: root
    default: "{root}"
    pattern: '^/.+$'
steps:
  linux:
    - name: Status
      run: cat {{ root }}/var/lib/postgresql/status
timeout_seconds: 60
"""

_WEB = """\
name: restart-web-tier
title: Restart the web tier (demo sandbox)
description: |
  Demo runbook: "restarts" the web tier of the sandbox standing in for this host — stops the old worker
  generation, starts a new one and waits until it reports healthy. Medium risk: a company admin approves it.
category: web
risk: medium
trigger:
  symptoms: ["http_errors", "latency"]
parameters:
  - name: root
    default: "{root}"
    pattern: '^/.+$'
steps:
  linux:
    - name: Stop the old workers
      run: |
        generation=$(cat {{ root }}/run/generation 2>/dev/null || echo 0)
        echo "stopping generation $generation"
        echo stopped > {{ root }}/run/state
    - name: Start a new generation
      run: |
        for worker in 1 2 3 4; do echo "worker $worker starting"; sleep 0.4; done
        generation=$(cat {{ root }}/run/generation 2>/dev/null || echo 0)
        generation=$((generation + 1))
        echo "$generation" > {{ root }}/run/generation
        echo healthy > {{ root }}/run/state
        echo "generation $generation is up"
health_check:
  kind: command
  command: state=$(cat {{ root }}/run/state); test "$state" = healthy
rollback:
  linux:
    - name: Mark the tier as needing a person
      run: echo degraded > {{ root }}/run/state
timeout_seconds: 120
cooldown_minutes: 5
"""


def _sandbox(settings: Settings, asset: str) -> Path:
    root = (settings.data_dir / "demo-hosts" / asset).resolve()
    for sub in ("var/log", "tmp", "var/lib/postgresql", "run"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return root


def fill_disk(root: Path) -> None:
    """Put rotated logs and temporary files (about 2 MB) into a sandbox, as if its volume were filling up."""
    for i in range(1, 5):
        (root / "var/log" / f"app.log.{i}").write_bytes(os.urandom(300 * 1024))
    (root / "tmp" / "upload-cache.tmp").write_bytes(os.urandom(700 * 1024))
    (root / "var/log" / "app.log").write_text("current log, kept\n")
    (root / "var/lib/postgresql" / "status").write_text("accepting connections; 12 active; replication ok\n")


async def seed_remediation(session: AsyncSession, *, settings: Settings, clock: Clock, admin_id: str,
                           acme: str) -> None:
    """Acme's local access and sandbox runbooks (see the module doc)."""
    admin = Principal(user_id=admin_id, email="demo-seed", role=Role.MSP_ADMIN)
    names = {a.name: a.id for a in (await session.execute(select(Asset).where(Asset.company_id == acme))).scalars()}
    db_root, web_root = _sandbox(settings, "acme-db-01"), _sandbox(settings, "acme-web-01")
    fill_disk(db_root)
    (web_root / "run" / "state").write_text("degraded\n")
    for name in ("acme-db-01", "acme-web-01"):
        await access.set_access(session, actor=None, settings=settings, clock=clock, asset_id=names[name],
                                data=AccessIn(executor="local"))
    sandboxed = set()
    for text, root in ((_CLEANUP, db_root), (_REPORT, db_root), (_DB_CHECK, db_root), (_WEB, web_root)):
        body = text.replace("{root}", str(root)).replace("{limit}", str(SANDBOX_LIMIT_KB))
        made = await runbooks.create(session, actor=admin, clock=clock, yaml_text=body, company_id=acme,
                                     note="demo: works in a sandbox directory standing in for the host")
        sandboxed.add(made.slug)
    for slug, shipped in sorted(library.shipped().items()):
        if slug in sandboxed or not (shipped.spec.risk == "low" and shipped.spec.auto_approve):
            continue
        off = await runbooks.create(session, actor=admin, clock=clock, yaml_text=shipped.text, company_id=acme,
                                    note="demo: switched off so it never runs by itself on the demo machine")
        await runbooks.set_enabled(session, actor=admin, clock=clock, runbook_id=off.id, enabled=False)
