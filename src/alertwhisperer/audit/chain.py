"""The hash chain: each entry's hash covers its content and the previous entry's hash."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(*, seq: int, at: datetime, actor_id: str | None, actor_email: str | None,
               actor_role: str | None, company_id: str | None, action: str, target_type: str | None,
               target_id: str | None, details: dict[str, Any], ip: str | None, user_agent: str | None,
               prev_hash: str) -> str:
    canonical = json.dumps(
        [seq, _ts(at), actor_id, actor_email, actor_role, company_id, action, target_type, target_id,
         details, ip, user_agent, prev_hash],
        sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
