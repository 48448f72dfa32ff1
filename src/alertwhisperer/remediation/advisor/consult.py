"""Asking the advisor, bounded: whatever happens (off, an error, too slow, an unusable or outside answer) the
result is a record of it for the Decision's ``advisor`` block and, at most, the slug of one matched candidate.

Statuses: ``off`` (no advisor configured), ``not_asked`` (nothing to choose between), ``error``, ``timeout``,
``ignored`` (no pick, or a pick outside the matched candidates), ``used`` (its pick leads the candidates).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from alertwhisperer.remediation.advisor.base import Advisor

OFF = "off"
NOT_ASKED = "not_asked"
ERROR = "error"
TIMEOUT = "timeout"
IGNORED = "ignored"
USED = "used"


@dataclass(frozen=True)
class Consultation:
    block: dict[str, Any] = field(default_factory=lambda: {"provider": OFF, "status": OFF})
    pick: str | None = None  # a matched candidate's slug the advisor prefers (USED only)

    @property
    def status(self) -> str:
        return str(self.block.get("status", OFF))


def off() -> Consultation:
    return Consultation()


def not_asked(advisor: Advisor | None, why: str) -> Consultation:
    if advisor is None:
        return off()
    return Consultation({"provider": advisor.provider, "model": advisor.model, "status": NOT_ASKED, "detail": why})


async def consult(
    advisor: Advisor | None, *, seconds: float, facts: dict[str, Any], candidates: list[dict[str, Any]]
) -> Consultation:
    """Ask ``advisor`` which of ``candidates`` (best first by the rules) to run; never raises."""
    if advisor is None:
        return off()
    base = {"provider": advisor.provider, "model": advisor.model}
    if len(candidates) < 2:
        return not_asked(advisor, "only one runbook matched: nothing to choose between")
    try:
        advice = await asyncio.wait_for(advisor.advise(facts, candidates), timeout=seconds)
    except TimeoutError:
        return Consultation({**base, "status": TIMEOUT, "detail": f"no answer within {seconds:g}s"})
    except Exception as exc:  # any failure of an optional helper: the rules decide alone
        return Consultation({**base, "status": ERROR, "detail": f"{type(exc).__name__}: {str(exc)[:300]}"})
    answer = {"suggestion": advice.runbook_slug, "rationale": advice.rationale, "confidence": advice.confidence}
    slugs = [str(c.get("slug")) for c in candidates]
    if advice.runbook_slug is None:
        return Consultation(
            {
                **base,
                **answer,
                "status": IGNORED,
                "detail": "no pick: the rules' choice stands (the advisor cannot skip a runbook)",
            }
        )
    if advice.runbook_slug not in slugs:
        return Consultation(
            {**base, **answer, "status": IGNORED, "detail": f"{advice.runbook_slug} is not one of the matched runbooks"}
        )
    agrees = advice.runbook_slug == slugs[0]
    detail = "agrees with the rules' choice" if agrees else f"preferred over {slugs[0]}, the rules' choice"
    return Consultation({**base, **answer, "status": USED, "detail": detail}, pick=advice.runbook_slug)
