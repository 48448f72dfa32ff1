"""Asking the advisor is bounded and never decides alone: off, failing, slow, unusable or outside answers all
leave the rules' order, and each is recorded as such."""

from __future__ import annotations

import asyncio
from typing import Any

from alertwhisperer.remediation.advisor.base import Advice, AdvisorError
from alertwhisperer.remediation.advisor.consult import consult

FACTS = {"symptom": "service_down:nginx"}
CANDIDATES = [{"slug": "restart-nginx", "score": 4199}, {"slug": "restart-service", "score": 3012}]


class Scripted:
    """An advisor double that answers (or fails, or hangs) as told and records what it was asked."""

    provider = "openai"
    model = "test-model"

    def __init__(self, outcome: Advice | Exception | None) -> None:
        self.outcome = outcome
        self.calls: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []

    async def advise(self, facts: dict[str, Any], candidates: list[dict[str, Any]]) -> Advice:
        self.calls.append((facts, candidates))
        if self.outcome is None:
            await asyncio.Event().wait()  # never answers
        if isinstance(self.outcome, Exception):
            raise self.outcome
        assert self.outcome is not None
        return self.outcome


async def test_off_means_no_call_and_status_off() -> None:
    result = await consult(None, seconds=1, facts=FACTS, candidates=CANDIDATES)
    assert result.block == {"provider": "off", "status": "off"} and result.pick is None


async def test_a_pick_among_the_candidates_is_used() -> None:
    advisor = Scripted(Advice("restart-service", "the config test failed earlier", 0.8))
    result = await consult(advisor, seconds=1, facts=FACTS, candidates=CANDIDATES)
    assert result.pick == "restart-service" and result.status == "used"
    assert result.block["suggestion"] == "restart-service" and result.block["confidence"] == 0.8
    assert "preferred over restart-nginx" in result.block["detail"]
    assert advisor.calls == [(FACTS, CANDIDATES)]


async def test_a_pick_outside_the_candidates_is_ignored_and_recorded() -> None:
    result = await consult(
        Scripted(Advice("rm-rf-everything", "trust me", 1.0)), seconds=1, facts=FACTS, candidates=CANDIDATES
    )
    assert result.pick is None and result.status == "ignored"
    assert result.block["suggestion"] == "rm-rf-everything" and "not one of the matched" in result.block["detail"]


async def test_no_pick_cannot_skip_the_rules() -> None:
    result = await consult(Scripted(Advice(None, "none of these", 0.9)), seconds=1, facts=FACTS, candidates=CANDIDATES)
    assert result.pick is None and result.status == "ignored" and "cannot skip" in result.block["detail"]


async def test_an_error_falls_back_with_the_reason() -> None:
    result = await consult(
        Scripted(AdvisorError("the provider answered HTTP 500: oops")), seconds=1, facts=FACTS, candidates=CANDIDATES
    )
    assert result.pick is None and result.status == "error"
    assert result.block["detail"] == "AdvisorError: the provider answered HTTP 500: oops"
    crash = await consult(Scripted(RuntimeError("boom")), seconds=1, facts=FACTS, candidates=CANDIDATES)
    assert crash.status == "error" and crash.pick is None


async def test_a_slow_advisor_times_out() -> None:
    result = await consult(Scripted(None), seconds=0.05, facts=FACTS, candidates=CANDIDATES)
    assert result.pick is None and result.status == "timeout"
    assert result.block == {
        "provider": "openai",
        "model": "test-model",
        "status": "timeout",
        "detail": "no answer within 0.05s",
    }


async def test_one_candidate_is_not_worth_a_call() -> None:
    advisor = Scripted(Advice("restart-nginx", "", 1.0))
    result = await consult(advisor, seconds=1, facts=FACTS, candidates=CANDIDATES[:1])
    assert result.status == "not_asked" and result.pick is None and advisor.calls == []
