"""The AI advisor inside real decisions: it may re-order the matched runbooks, never skip a gate, and its
outage, slowness or nonsense leaves the rules' decision unchanged. The provider is unreachable from tests:
its answers come through httpx.MockTransport, or a closed local port for a real connection failure."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import httpx
from pydantic import SecretStr

from alertwhisperer.correlation.models import Incident
from alertwhisperer.remediation.advisor.openai import OpenAIAdvisor
from alertwhisperer.remediation.decision import decide
from alertwhisperer.remediation.models import Decision
from tests.remediation.test_decision_engine import World, alert, drain, execution, only_decision, set_policy
from tests.remediation.test_decision_engine import world as world

KEY = "sk-advisor-key-never-logged"


def answering(slug: str | None, requests: list[dict[str, Any]] | None = None) -> OpenAIAdvisor:
    def handler(request: httpx.Request) -> httpx.Response:
        if requests is not None:
            requests.append(json.loads(request.content))
        content = json.dumps(
            {"runbook": slug, "rationale": "the generic restart also clears the pid file", "confidence": 0.9}
        )
        return httpx.Response(200, json={"choices": [{"message": {"role": "assistant", "content": content}}]})

    return OpenAIAdvisor(model="m", api_key=KEY, transport=httpx.MockTransport(handler))


async def decide_with(
    w: World, advisor: OpenAIAdvisor, *, alertname: str = "NginxDown", host: str = "web-1"
) -> Decision:
    """Open the incident with remediation off (no decision yet), then decide it with ``advisor``."""
    await set_policy(w, enabled=False)
    incident_id = await alert(w, alertname, host)
    await set_policy(w)
    async with w.sm() as s:
        incident = await s.get(Incident, incident_id)
        assert incident is not None
        decision = await decide(s, clock=w.clock, settings=w.settings, incident=incident, advisor=advisor)
        await s.commit()
    assert decision is not None
    return decision


async def test_the_advisor_can_reorder_but_medium_risk_still_needs_an_approval(world: World) -> None:
    sent: list[dict[str, Any]] = []
    decision = await decide_with(world, answering("restart-service", sent))
    assert decision.action == "request_approval"  # never EXECUTE for a medium-risk runbook
    run = await execution(world, decision.execution_id)
    assert (run.runbook_slug, run.status, run.risk) == ("restart-service", "pending_approval", "medium")
    assert decision.advisor["status"] == "used" and decision.advisor["suggestion"] == "restart-service"
    assert decision.advisor["provider"] == "openai" and "preferred over restart-nginx" in decision.advisor["detail"]
    assert any(r.startswith("the AI advisor preferred it") for r in decision.reasons)
    assert decision.reasons[-1] == "risk medium needs a company admin's approval"
    assert KEY not in json.dumps(decision.advisor)
    # what it was told: the facts and the matched candidates, nothing else
    [body] = sent
    told = json.loads(body["messages"][1]["content"])
    assert told["incident"]["symptom"] == "service_down:nginx" and told["incident"]["asset"]["name"] == "web-1"
    assert [c["slug"] for c in told["candidates"]] == ["restart-nginx", "restart-service"]


async def test_a_suggestion_outside_the_matches_is_ignored(world: World) -> None:
    decision = await decide_with(world, answering("reboot-server"))
    assert decision.action == "execute"
    assert (await execution(world, decision.execution_id)).runbook_slug == "restart-nginx"
    assert decision.advisor["status"] == "ignored" and decision.advisor["suggestion"] == "reboot-server"


async def test_a_slow_advisor_leaves_the_rules_to_decide(world: World) -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        raise AssertionError("not reached")

    world.settings = world.settings.model_copy(update={"advisor_timeout": 0.2})
    slow = OpenAIAdvisor(model="m", api_key=KEY, timeout=30, transport=httpx.MockTransport(hang))
    decision = await decide_with(world, slow)
    assert decision.action == "execute"
    assert (await execution(world, decision.execution_id)).runbook_slug == "restart-nginx"
    assert decision.advisor == {
        "provider": "openai",
        "model": "m",
        "status": "timeout",
        "detail": "no answer within 0.2s",
    }


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_an_advisor_outage_through_the_job_changes_nothing(world: World) -> None:
    plain_id = await alert(world, "NginxDown", "web-1")  # the rules alone (advisor off)
    plain = await only_decision(world, plain_id)
    world.settings = world.settings.model_copy(
        update={
            "advisor_provider": "openai",
            "advisor_api_key": SecretStr(KEY),
            "advisor_base_url": f"http://127.0.0.1:{closed_port()}/v1",
        }
    )
    advised_id = await alert(world, "NginxDown", "db-1")  # decided by the job, asking a provider that is down
    await drain(world)
    advised = await only_decision(world, advised_id)
    assert advised.action == plain.action == "execute"
    assert (await execution(world, advised.execution_id)).runbook_slug == "restart-nginx"
    assert advised.advisor["status"] == "error" and "could not reach the provider" in advised.advisor["detail"]
    assert KEY not in json.dumps(advised.advisor)
    same = [r for r in plain.reasons if "web-1" not in r]
    assert [r for r in advised.reasons if "db-1" not in r] == same
