"""The AWS Systems Manager executor: ``send_command`` then poll ``get_command_invocation`` with backoff.

The invocation appears a moment after ``send_command`` (``InvocationDoesNotExist`` is retried a bounded number of
times). SSM statuses map onto ours: Success → succeeded; Failed → failed (exit code from ResponseCode); TimedOut →
timed_out, or undeliverable when the agent never picked it up (DeliveryTimedOut); Cancelled → failed;
Undeliverable / Terminated → undeliverable. SSM keeps at most 24,000 characters of each stream: reaching that
length flags the output truncated. boto3 blocks, so every call runs in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable, Callable
from typing import Any

import botocore.exceptions

from alertwhisperer.remediation.executors import aws
from alertwhisperer.remediation.executors.base import Command, OutputSink, RunResult, Target
from alertwhisperer.remediation.executors.streams import Capture

SSM_OUTPUT_LIMIT = 24000
POLL_FIRST = 0.5
POLL_MAX = 5.0
NOT_FOUND_RETRIES = 10  # InvocationDoesNotExist answers tolerated before giving up
SLACK_SECONDS = 120.0  # beyond delivery + execution timeouts, how long we keep polling before cancelling
RUNNING = ("Pending", "InProgress", "Delayed")

Sleep = Callable[[float], Awaitable[None]]
ClientFactory = Callable[[Target], Any]


def _default_client(target: Target) -> Any:
    return aws.client_for(target, "ssm")


def ssm_commands(command: Command, windows: bool) -> tuple[str, list[str]]:
    """(document name, the ``commands`` parameter) for this script."""
    lines = command.script.splitlines() or [""]
    if windows or command.shell == "powershell":
        return "AWS-RunPowerShellScript", lines
    if command.shell == "bash":  # the agent runs commands with sh: hand the script to bash from a temp file
        lines = [
            "f=$(mktemp) || exit 125",
            "cat > \"$f\" <<'__AW_SCRIPT_END__'",
            *lines,
            "__AW_SCRIPT_END__",
            'bash "$f" </dev/null; rc=$?',
            'rm -f "$f"',
            "exit $rc",
        ]
    return "AWS-RunShellScript", lines


def _error(exc: Exception) -> tuple[str, str]:
    if isinstance(exc, botocore.exceptions.ClientError):
        err = exc.response.get("Error", {})
        return str(err.get("Code", "")), str(err.get("Message", ""))
    return type(exc).__name__, str(exc)


class SsmExecutor:
    kind = "ssm"

    def __init__(
        self,
        *,
        client_factory: ClientFactory | None = None,
        sleep: Sleep = asyncio.sleep,
        poll_first: float = POLL_FIRST,
        poll_max: float = POLL_MAX,
        not_found_retries: int = NOT_FOUND_RETRIES,
    ) -> None:
        self.client_factory = client_factory or _default_client
        self.sleep = sleep
        self.poll_first, self.poll_max, self.not_found_retries = poll_first, poll_max, not_found_retries

    async def run(self, target: Target, command: Command, *, on_output: OutputSink | None = None) -> RunResult:
        capture = Capture(on_output)
        if not target.instance_id:
            return capture.result("undeliverable", error=f"{target.asset_name} has no EC2 instance id")
        try:
            client = await asyncio.to_thread(self.client_factory, target)
        except aws.AwsError as exc:
            return capture.result("undeliverable", error=str(exc))
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            return capture.result("undeliverable", error="cannot reach AWS: {} {}".format(*_error(exc)))
        document, lines = ssm_commands(command, target.os == "windows")
        params = {"commands": lines, "executionTimeout": [str(max(1, math.ceil(command.timeout_seconds)))]}
        try:
            sent = await asyncio.to_thread(
                client.send_command,
                InstanceIds=[target.instance_id],
                DocumentName=document,
                Parameters=params,
                TimeoutSeconds=min(2592000, max(30, math.ceil(command.delivery_timeout_seconds))),
                Comment=f"Alert Whisperer run on {target.asset_name}"[:100],
            )
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            code, message = _error(exc)
            return capture.result(
                "undeliverable", error=f"SSM refused the command for {target.instance_id}: {code} {message}".strip()
            )
        command_id = str(sent["Command"]["CommandId"])
        return await self._poll(client, target, command, command_id, capture)

    async def _poll(
        self, client: Any, target: Target, command: Command, command_id: str, capture: Capture
    ) -> RunResult:
        delay, waited, not_found = self.poll_first, 0.0, 0
        budget = command.delivery_timeout_seconds + command.timeout_seconds + SLACK_SECONDS
        seen = {"stdout": 0, "stderr": 0}
        while True:
            await self.sleep(delay)
            waited += delay
            delay = min(delay * 2, self.poll_max)
            try:
                inv = await asyncio.to_thread(
                    client.get_command_invocation, CommandId=command_id, InstanceId=target.instance_id
                )
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
                code, message = _error(exc)
                if code == "InvocationDoesNotExist" and not_found < self.not_found_retries:
                    not_found += 1
                    continue
                if code == "InvocationDoesNotExist":
                    return capture.result(
                        "undeliverable",
                        external_id=command_id,
                        error=(
                            f"the command never reached {target.instance_id} (no invocation after {not_found} checks)"
                        ),
                    )
                if waited < budget:  # a transient failure: adaptive retries already happened, try next round
                    continue
                return capture.result(
                    "failed", external_id=command_id, error=f"lost track of the command: {code} {message}".strip()
                )
            truncated = await self._output(inv, seen, capture)
            status = str(inv.get("Status", ""))
            if status in RUNNING:
                if waited >= budget:
                    await self._cancel(client, command_id, target)
                    return capture.result(
                        "timed_out",
                        external_id=command_id,
                        truncated=truncated,
                        error=f"no result from SSM after {waited:g} s; the command was cancelled",
                    )
                continue
            await capture.flush()
            return self._result(inv, status, command_id, capture, truncated)

    @staticmethod
    async def _output(inv: dict[str, Any], seen: dict[str, int], capture: Capture) -> bool:
        """Feed what is new in each stream; True when SSM's own limit was reached."""
        truncated = False
        for stream, field in (("stdout", "StandardOutputContent"), ("stderr", "StandardErrorContent")):
            text = str(inv.get(field) or "")
            if len(text) > seen[stream]:
                await capture.feed(stream, text[seen[stream] :])  # type: ignore[arg-type]
                seen[stream] = len(text)
            truncated = truncated or len(text) >= SSM_OUTPUT_LIMIT
        return truncated

    @staticmethod
    def _result(inv: dict[str, Any], status: str, command_id: str, capture: Capture, truncated: bool) -> RunResult:
        code = inv.get("ResponseCode")
        exit_code = int(code) if isinstance(code, int) and code >= 0 else None
        details = str(inv.get("StatusDetails", ""))
        kw: dict[str, Any] = {"external_id": command_id, "truncated": truncated}
        if status == "Success":
            return capture.result("succeeded", exit_code=exit_code if exit_code is not None else 0, **kw)
        if status == "Failed":
            return capture.result(
                "failed",
                exit_code=exit_code,
                error=f"exited with code {exit_code}" if exit_code is not None else details,
                **kw,
            )
        if status == "TimedOut":
            if details == "DeliveryTimedOut":
                return capture.result(
                    "undeliverable",
                    error=(
                        "the SSM agent did not pick the command up within the delivery timeout "
                        "(instance stopped, or its agent offline?)"
                    ),
                    **kw,
                )
            return capture.result(
                "timed_out",
                exit_code=exit_code,
                error=f"SSM stopped the command at the execution timeout ({details})",
                **kw,
            )
        if status in ("Cancelled", "Cancelling"):
            return capture.result(
                "failed", exit_code=exit_code, error=f"the command was cancelled in AWS ({details})", **kw
            )
        if status in ("Undeliverable", "Terminated"):
            return capture.result(
                "undeliverable", error=f"SSM could not deliver the command: {status} ({details})", **kw
            )
        return capture.result(
            "failed", exit_code=exit_code, error=f"unexpected SSM status {status!r} ({details})", **kw
        )

    @staticmethod
    async def _cancel(client: Any, command_id: str, target: Target) -> None:
        with contextlib.suppress(botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
            # best effort: the SSM execution timeout ends it anyway
            await asyncio.to_thread(client.cancel_command, CommandId=command_id, InstanceIds=[target.instance_id])
