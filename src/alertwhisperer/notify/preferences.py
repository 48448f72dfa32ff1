"""Each user's notification preferences: channels per severity, quiet hours, Apprise URLs (encrypted).

Apprise URLs hold tokens. ``apprise_urls_encrypted`` stores an envelope: the redacted labels and ids in clear
(so the bell can plan deliveries and the page can list targets without the server secret) and the URLs
themselves encrypted with the server secret (``alertwhisperer.crypto``). A delivery names its target by id.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer import crypto
from alertwhisperer.audit import service as audit
from alertwhisperer.auth.principal import Principal
from alertwhisperer.clock import Clock
from alertwhisperer.errors import Invalid
from alertwhisperer.notify.channels.apprise_channel import is_valid, redact
from alertwhisperer.notify.models import NotificationPreference
from alertwhisperer.notify.schemas import AppriseTarget, PreferencesIn, PreferencesOut, QuietHours

SEVERITIES = ("critical", "high", "medium", "low", "info")
CHANNELS = ("inapp", "browser", "email", "apprise")
DEFAULT_CHANNELS: dict[str, list[str]] = {
    "critical": ["inapp", "browser", "email", "apprise"],
    "high": ["inapp", "browser", "email", "apprise"],
    "medium": ["inapp", "browser"],
    "low": ["inapp"],
    "info": ["inapp"],
}
MAX_APPRISE_TARGETS = 20


@dataclass(frozen=True)
class Preferences:
    """A user's effective preferences (defaults filled in)."""

    channels: dict[str, list[str]]
    quiet_hours: QuietHours | None = None
    apprise_targets: list[AppriseTarget] = field(default_factory=list)
    is_default: bool = True
    updated_at: datetime | None = None

    def channels_for(self, severity: str) -> list[str]:
        return self.channels.get(severity) or self.channels["info"]

    def quiet_reason(self, at: datetime, severity: str) -> str | None:
        """Why email/Apprise are held back now, or None (critical always goes out)."""
        if severity == "critical" or self.quiet_hours is None:
            return None
        if not in_quiet_hours(self.quiet_hours, at):
            return None
        q = self.quiet_hours
        return f"quiet hours {q.start} to {q.end} {q.timezone}"

    def out(self) -> PreferencesOut:
        return PreferencesOut(channels=self.channels, quiet_hours=self.quiet_hours,
                              apprise_targets=self.apprise_targets, is_default=self.is_default,
                              updated_at=self.updated_at)


def in_quiet_hours(quiet: QuietHours, at: datetime) -> bool:
    """``start <= local time < end``; a window that crosses midnight (22:00 to 07:00) wraps around."""
    local = at.astimezone(ZoneInfo(quiet.timezone)).time()
    start, end = time.fromisoformat(quiet.start), time.fromisoformat(quiet.end)
    if start < end:
        return start <= local < end
    return local >= start or local < end


def normalise_channels(channels: dict[str, list[str]] | None) -> dict[str, list[str]]:
    """Every severity present (defaults for those left out), ``inapp`` always on, a stable order."""
    out: dict[str, list[str]] = {}
    for severity in SEVERITIES:
        chosen = set((channels or {}).get(severity, DEFAULT_CHANNELS[severity])) | {"inapp"}
        out[severity] = [c for c in CHANNELS if c in chosen]
    return out


# --- the Apprise envelope ----------------------------------------------------------------------------------------
def _envelope(raw: str) -> dict[str, Any]:
    if not raw:
        return {"targets": [], "data": ""}
    try:
        data = json.loads(raw)
    except ValueError:
        return {"targets": [], "data": ""}
    return data if isinstance(data, dict) else {"targets": [], "data": ""}


def targets_of(row: NotificationPreference | None) -> list[AppriseTarget]:
    if row is None:
        return []
    return [AppriseTarget(id=str(t.get("id")), label=str(t.get("label")))
            for t in _envelope(row.apprise_urls_encrypted).get("targets", []) if isinstance(t, dict)]


def apprise_urls(row: NotificationPreference | None, server_secret: str) -> dict[str, str]:
    """Target id -> the Apprise URL (decrypted). A secret: never log or show it."""
    if row is None:
        return {}
    envelope = _envelope(row.apprise_urls_encrypted)
    if not envelope.get("data"):
        return {}
    items = json.loads(crypto.decrypt(server_secret, str(envelope["data"])))
    return {str(i["id"]): str(i["url"]) for i in items}


def _seal(urls: dict[str, str], server_secret: str) -> str:
    if not urls:
        return ""
    data = crypto.encrypt(server_secret, json.dumps([{"id": k, "url": v} for k, v in urls.items()]))
    return json.dumps({"v": 1, "targets": [{"id": k, "label": redact(v)} for k, v in urls.items()], "data": data})


def _check_urls(urls: Iterable[str], field_name: str) -> list[str]:
    clean = []
    for n, url in enumerate(urls, start=1):
        url = url.strip()
        if not url:
            continue
        if not is_valid(url):
            raise Invalid(f"Apprise URL {n} ({redact(url)}) is not valid: unknown service or missing parts; "
                          "see the examples", field=field_name)
        clean.append(url)
    return clean


# --- reading and changing ------------------------------------------------------------------------------------------
def effective(row: NotificationPreference | None) -> Preferences:
    if row is None:
        return Preferences(channels=normalise_channels(None))
    quiet = None
    if row.quiet_hours:
        try:
            quiet = QuietHours.model_validate(row.quiet_hours)
        except ValidationError:
            quiet = None
    return Preferences(channels=normalise_channels(row.channels or None), quiet_hours=quiet,
                       apprise_targets=targets_of(row), is_default=False, updated_at=row.updated_at)


async def rows_for(session: AsyncSession, user_ids: Iterable[str]) -> dict[str, NotificationPreference]:
    ids = list(user_ids)
    if not ids:
        return {}
    rows = await session.execute(select(NotificationPreference).where(NotificationPreference.user_id.in_(ids)))
    return {r.user_id: r for r in rows.scalars()}


async def get(session: AsyncSession, *, actor: Principal) -> Preferences:
    """The caller's own preferences (everyone has exactly their own)."""
    return effective(await session.get(NotificationPreference, actor.user_id))


async def update(session: AsyncSession, *, actor: Principal, clock: Clock, server_secret: str,
                 data: PreferencesIn) -> Preferences:
    """Replace the caller's preferences; audited with the Apprise targets redacted."""
    row = await session.get(NotificationPreference, actor.user_id)
    before = effective(row)
    urls = apprise_urls(row, server_secret) if row is not None else {}
    old_ids = set(urls)
    removed = [urls.pop(i) for i in data.remove_apprise_ids if i in urls]
    if data.apprise_urls is not None:
        removed += list(urls.values())
        urls = {}
    for url in _check_urls([*(data.apprise_urls or []), *data.add_apprise_urls], "apprise_urls"):
        if url not in urls.values():
            urls[secrets.token_hex(6)] = url
    if len(urls) > MAX_APPRISE_TARGETS:
        raise Invalid(f"at most {MAX_APPRISE_TARGETS} Apprise URLs", field="apprise_urls")
    kept = set(urls.values())
    removed = [u for u in removed if u not in kept]
    channels = normalise_channels({str(k): list(v) for k, v in (data.channels or {}).items()} or None)
    now = clock.now()
    if row is None:
        row = NotificationPreference(user_id=actor.user_id)
        session.add(row)
    row.channels = channels
    row.quiet_hours = data.quiet_hours.model_dump() if data.quiet_hours else {}
    row.apprise_urls_encrypted = _seal(urls, server_secret)
    row.updated_at = now
    after = effective(row)
    details: dict[str, Any] = {
        "channels": {s: channels[s] for s in SEVERITIES if channels[s] != before.channels[s]},
        "quiet_hours": after.quiet_hours.model_dump() if after.quiet_hours else None,
        "apprise_targets": [t.label for t in after.apprise_targets],
        "apprise_added": [redact(u) for i, u in urls.items() if i not in old_ids],
        "apprise_removed": [redact(u) for u in removed],
    }
    await audit.record(session, clock=clock, action="notify.preferences_changed", actor=actor,
                       target_type="user", target_id=actor.user_id, details=details)
    await session.flush()
    return after
