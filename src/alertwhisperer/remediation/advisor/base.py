"""What an advisor is: given the incident's facts and the runbooks the rules matched, it suggests one of them.

Providers implement ``Advisor``; they raise ``AdvisorError`` (never with the API key in the message) when the
provider fails or answers something that is not the strict JSON object ``prompt.parse_advice`` accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Advice:
    runbook_slug: str | None  # None: the advisor would not pick any of them
    rationale: str
    confidence: float  # 0..1


class AdvisorError(Exception):
    """The provider failed or answered something unusable (message safe to store: no secrets)."""


class Advisor(Protocol):
    provider: str  # anthropic | openai | bedrock | gemini
    model: str

    async def advise(self, facts: dict[str, Any], candidates: list[dict[str, Any]]) -> Advice:
        """Which candidate fits best. Raises ``AdvisorError`` (or any exception: the caller falls back)."""
        ...
