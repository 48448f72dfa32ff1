"""Amazon Bedrock's Converse API (boto3 ``bedrock-runtime.converse``), run in a thread so the event loop never
blocks. Credentials come from the usual AWS chain (environment, instance role); ``advisor_region`` picks the
region. boto3's own timeouts are set from ``advisor_timeout`` and retries kept to one."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from alertwhisperer.remediation.advisor.base import Advice, AdvisorError
from alertwhisperer.remediation.advisor.prompt import MAX_ANSWER_TOKENS, SYSTEM, facts_text, parse_advice

if TYPE_CHECKING:
    from mypy_boto3_bedrock_runtime import BedrockRuntimeClient


class BedrockAdvisor:
    provider = "bedrock"

    def __init__(
        self, *, model: str, region: str, timeout: float = 8.0, client: BedrockRuntimeClient | None = None
    ) -> None:
        self.model = model
        self._client = client or boto3.client(
            "bedrock-runtime",
            region_name=region,
            config=Config(
                connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 1, "mode": "standard"}
            ),
        )

    def __repr__(self) -> str:
        return f"BedrockAdvisor(model={self.model!r})"

    def _converse(self, text: str) -> str:
        try:
            response = self._client.converse(
                modelId=self.model,
                system=[{"text": SYSTEM}],
                messages=[{"role": "user", "content": [{"text": text}]}],
                inferenceConfig={"maxTokens": MAX_ANSWER_TOKENS, "temperature": 0},
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise AdvisorError(
                f"Bedrock refused: {error.get('Code', '?')}: {str(error.get('Message', ''))[:200]}"
            ) from exc
        except BotoCoreError as exc:
            raise AdvisorError(f"could not reach Bedrock: {type(exc).__name__}") from exc
        output = response.get("output", {}).get("message", {})
        return "".join(str(part.get("text", "")) for part in output.get("content", []))

    async def advise(self, facts: dict[str, Any], candidates: list[dict[str, Any]]) -> Advice:
        text = await asyncio.to_thread(self._converse, facts_text(facts, candidates))
        if not text.strip():
            raise AdvisorError("the answer has no text")
        return parse_advice(text)
