"""The AI advisor providers: the request each sends (URL, headers, model, JSON body), how each answer is parsed,
and that failures are ``AdvisorError`` without the API key in them. HTTP providers through httpx.MockTransport,
Bedrock's ``converse`` through botocore's Stubber (AI providers are unreachable from tests)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import httpx
import pytest
from botocore.stub import Stubber
from pydantic import SecretStr

from alertwhisperer.config import Settings
from alertwhisperer.remediation.advisor.anthropic import AnthropicAdvisor
from alertwhisperer.remediation.advisor.base import Advice, AdvisorError
from alertwhisperer.remediation.advisor.bedrock import BedrockAdvisor
from alertwhisperer.remediation.advisor.factory import advisor_from
from alertwhisperer.remediation.advisor.gemini import GeminiAdvisor
from alertwhisperer.remediation.advisor.openai import OpenAIAdvisor
from alertwhisperer.remediation.advisor.prompt import SYSTEM, parse_advice

KEY = "sk-test-very-secret-key-123"
FACTS = {"title": "nginx down on web-1", "symptom": "service_down:nginx", "severity": "critical"}
CANDIDATES = [
    {"slug": "restart-nginx", "title": "Restart nginx", "risk": "low", "score": 4199, "why": ["a"]},
    {"slug": "restart-service", "title": "Restart a service", "risk": "medium", "score": 3012, "why": []},
]
ANSWER = json.dumps({"runbook": "restart-service", "rationale": "config looks fine", "confidence": 0.7})


class Recorder:
    """A MockTransport handler that keeps the requests and answers with ``reply``."""

    def __init__(self, status: int, reply: Any) -> None:
        self.status, self.reply, self.requests = status, reply, []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if isinstance(self.reply, str):
            return httpx.Response(self.status, text=self.reply)
        return httpx.Response(self.status, json=self.reply)

    @property
    def body(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.requests[-1].content)
        return data


def _user_text(body: dict[str, Any]) -> dict[str, Any]:
    for message in body.get("messages", []):
        if message["role"] == "user":
            content = message["content"]
            text = content if isinstance(content, str) else content[0]["text"]
            data: dict[str, Any] = json.loads(text)
            return data
    raise AssertionError("no user message")


async def test_anthropic_request_and_answer() -> None:
    rec = Recorder(
        200,
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-x",
            "content": [{"type": "text", "text": ANSWER}],
            "stop_reason": "end_turn",
        },
    )
    advisor = AnthropicAdvisor(model="claude-x", api_key=KEY, timeout=5, transport=httpx.MockTransport(rec))
    advice = await advisor.advise(FACTS, CANDIDATES)
    assert advice == Advice("restart-service", "config looks fine", 0.7)
    request = rec.requests[0]
    assert str(request.url) == "https://api.anthropic.com/v1/messages"
    assert request.headers["x-api-key"] == KEY and request.headers["anthropic-version"] == "2023-06-01"
    body = rec.body
    assert body["model"] == "claude-x" and body["system"] == SYSTEM and body["max_tokens"] > 0
    sent = _user_text(body)
    assert sent["incident"] == FACTS and [c["slug"] for c in sent["candidates"]] == ["restart-nginx", "restart-service"]


async def test_openai_compatible_with_base_url_and_no_key_sends_no_authorization() -> None:
    rec = Recorder(200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}}]})
    advisor = OpenAIAdvisor(
        model="llama3.1", base_url="http://ollama.local:11434/v1/", transport=httpx.MockTransport(rec)
    )
    advice = await advisor.advise(FACTS, CANDIDATES)
    assert advice.runbook_slug == "restart-service"
    request = rec.requests[0]
    assert str(request.url) == "http://ollama.local:11434/v1/chat/completions"
    assert "authorization" not in request.headers
    body = rec.body
    assert body["model"] == "llama3.1" and body["messages"][0] == {"role": "system", "content": SYSTEM}
    assert _user_text(body)["incident"]["symptom"] == "service_down:nginx"


async def test_openai_with_key_uses_bearer_on_the_default_url() -> None:
    rec = Recorder(200, {"choices": [{"message": {"content": "```json\n" + ANSWER + "\n```"}}]})
    advisor = OpenAIAdvisor(model="gpt-x", api_key=KEY, transport=httpx.MockTransport(rec))
    assert (await advisor.advise(FACTS, CANDIDATES)).confidence == 0.7
    assert str(rec.requests[0].url) == "https://api.openai.com/v1/chat/completions"
    assert rec.requests[0].headers["authorization"] == f"Bearer {KEY}"


async def test_gemini_request_keeps_the_key_out_of_the_url() -> None:
    rec = Recorder(200, {"candidates": [{"content": {"role": "model", "parts": [{"text": ANSWER}]}}]})
    advisor = GeminiAdvisor(model="gemini-x", api_key=KEY, transport=httpx.MockTransport(rec))
    advice = await advisor.advise(FACTS, CANDIDATES)
    assert advice.runbook_slug == "restart-service"
    request = rec.requests[0]
    assert str(request.url) == "https://generativelanguage.googleapis.com/v1beta/models/gemini-x:generateContent"
    assert KEY not in str(request.url) and request.headers["x-goog-api-key"] == KEY
    body = rec.body
    assert body["systemInstruction"]["parts"][0]["text"] == SYSTEM
    assert body["generationConfig"]["responseMimeType"] == "application/json"
    assert json.loads(body["contents"][0]["parts"][0]["text"])["candidates"][1]["slug"] == "restart-service"


@pytest.mark.parametrize(
    ("status", "reply", "fragment"),
    [
        (401, {"error": {"type": "authentication_error", "message": "invalid x-api-key"}}, "HTTP 401"),
        (529, {"error": {"type": "overloaded_error"}}, "HTTP 529"),
        (200, {"content": []}, "no text"),
        (200, {"unexpected": True}, "unexpected response shape"),
        (200, "not json at all", "not JSON"),
    ],
)
async def test_anthropic_failures_are_advisor_errors_without_the_key(status: int, reply: Any, fragment: str) -> None:
    advisor = AnthropicAdvisor(model="m", api_key=KEY, transport=httpx.MockTransport(Recorder(status, reply)))
    with pytest.raises(AdvisorError) as caught:
        await advisor.advise(FACTS, CANDIDATES)
    assert fragment in str(caught.value) and KEY not in str(caught.value)
    assert KEY not in repr(advisor)


async def test_a_network_failure_and_a_slow_provider_are_advisor_errors() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(AdvisorError, match="could not reach"):
        await OpenAIAdvisor(model="m", api_key=KEY, transport=httpx.MockTransport(refuse)).advise(FACTS, CANDIDATES)
    with pytest.raises(AdvisorError, match="did not answer within 2s"):
        await OpenAIAdvisor(model="m", timeout=2, transport=httpx.MockTransport(slow)).advise(FACTS, CANDIDATES)


@pytest.mark.parametrize(
    "text",
    [
        '{"runbook": "a", "rationale": "x", "confidence": 1.5}',  # out of range
        '{"runbook": "a", "rationale": "x"}',  # no confidence
        '{"runbook": 3, "rationale": "x", "confidence": 0.5}',  # not a slug
        '{"runbook": "a", "rationale": "x", "confidence": "high"}',
        '{"runbook": "a", "rationale": "x", "confidence": 0.5, "run_now": true}',  # more than asked
        '["restart-nginx"]',
        'I would restart nginx. {"runbook": "restart-nginx", "rationale": "", "confidence": 0.9}',
        "",
    ],
)
def test_parse_advice_is_strict(text: str) -> None:
    with pytest.raises(AdvisorError):
        parse_advice(text)


def test_parse_advice_accepts_the_asked_shape() -> None:
    assert parse_advice('{"runbook": null, "rationale": "none fits", "confidence": 0}') == Advice(
        None, "none fits", 0.0
    )
    assert parse_advice(' ```json\n{"runbook": "x", "rationale": "r", "confidence": 1}\n``` ').runbook_slug == "x"


def _bedrock() -> tuple[BedrockAdvisor, Stubber]:
    client = boto3.client(
        "bedrock-runtime", region_name="eu-west-1", aws_access_key_id="AKIDTEST", aws_secret_access_key="test-secret"
    )
    return BedrockAdvisor(model="anthropic.claude-x", region="eu-west-1", client=client), Stubber(client)


async def test_bedrock_converse_request_and_answer() -> None:
    advisor, stub = _bedrock()
    expected = {
        "modelId": "anthropic.claude-x",
        "system": [{"text": SYSTEM}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "text": json.dumps(
                            {
                                "incident": FACTS,
                                "candidates": [
                                    {
                                        "slug": c["slug"],
                                        "title": c["title"],
                                        "risk": c["risk"],
                                        "description": "",
                                        "rules_score": c["score"],
                                        "why": c["why"],
                                    }
                                    for c in CANDIDATES
                                ],
                            },
                            sort_keys=True,
                        )
                    }
                ],
            }
        ],
        "inferenceConfig": {"maxTokens": 300, "temperature": 0},
    }
    stub.add_response(
        "converse",
        {
            "output": {"message": {"role": "assistant", "content": [{"text": ANSWER}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 10, "outputTokens": 20, "totalTokens": 30},
            "metrics": {"latencyMs": 100},
        },
        expected,
    )
    with stub:
        advice = await advisor.advise(FACTS, CANDIDATES)
    stub.assert_no_pending_responses()
    assert advice == Advice("restart-service", "config looks fine", 0.7)


async def test_bedrock_refusal_is_an_advisor_error() -> None:
    advisor, stub = _bedrock()
    stub.add_client_error(
        "converse", service_error_code="ThrottlingException", service_message="slow down", http_status_code=429
    )
    with stub, pytest.raises(AdvisorError, match="ThrottlingException"):
        await advisor.advise(FACTS, CANDIDATES)


def test_factory_is_off_by_default_and_builds_each_provider() -> None:
    assert advisor_from(Settings()) is None
    built = {
        p: advisor_from(Settings(advisor_provider=p, advisor_api_key=SecretStr(KEY), advisor_model="m"))
        for p in ("anthropic", "openai", "gemini", "bedrock")
    }
    assert {p: type(a).__name__ for p, a in built.items()} == {
        "anthropic": "AnthropicAdvisor",
        "openai": "OpenAIAdvisor",
        "gemini": "GeminiAdvisor",
        "bedrock": "BedrockAdvisor",
    }
    assert all(a is not None and a.provider == p and a.model == "m" for p, a in built.items())
    default_model = advisor_from(Settings(advisor_provider="openai"))
    assert default_model is not None and default_model.model
