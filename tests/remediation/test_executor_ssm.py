"""The AWS SSM executor: moto for the wiring (send_command, STS AssumeRole), botocore Stubber for the status paths."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from alertwhisperer.remediation.executors import aws
from alertwhisperer.remediation.executors.base import Command, Secret, Target
from alertwhisperer.remediation.executors.ssm import SSM_OUTPUT_LIMIT, SsmExecutor, ssm_commands

INSTANCE = "i-0123456789abcdef0"
CMD = "0b5a3f7e-8f3c-4c4e-9d2a-1a2b3c4d5e6f"
KEYS = Secret(kind="aws_keys", access_key_id="AKIAIOSFODNN7EXAMPLE", secret_access_key="wJalrXUtnFEMI/K7MDENG")
ROLE = Secret(kind="aws_role", role_arn="arn:aws:iam::123456789012:role/aw-remediation", external_id="ext-42")
TARGET = Target(
    asset_id="a1",
    asset_name="web-1",
    company_id="c1",
    executor="ssm",
    instance_id=INSTANCE,
    region="eu-west-1",
    secret=KEYS,
)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def test_commands_per_shell() -> None:
    assert ssm_commands(Command(script="echo a\necho b"), windows=False) == ("AWS-RunShellScript", ["echo a", "echo b"])
    doc, lines = ssm_commands(Command(script="Restart-Service W3SVC"), windows=True)
    assert (doc, lines) == ("AWS-RunPowerShellScript", ["Restart-Service W3SVC"])
    doc, lines = ssm_commands(Command(script="a=(1)", shell="bash"), windows=False)  # noqa: S604
    assert doc == "AWS-RunShellScript" and "a=(1)" in lines and 'bash "$f" </dev/null; rc=$?' in lines


async def test_moto_send_command_success_wiring(aws_env: None) -> None:
    sleeps = Sleeps()
    with mock_aws():
        result = await SsmExecutor(sleep=sleeps).run(TARGET, Command(script="echo hi", timeout_seconds=120))
        client = boto3.client("ssm", region_name="eu-west-1")
        sent = client.list_commands(CommandId=result.external_id)["Commands"][0]
    assert result.status == "succeeded", result
    assert result.exit_code == 0
    assert result.external_id
    assert sent["DocumentName"] == "AWS-RunShellScript"
    assert sent["InstanceIds"] == [INSTANCE]
    assert sent["Parameters"]["commands"] == ["echo hi"]
    assert sent["Parameters"]["executionTimeout"] == ["120"]
    assert sent["Comment"] == "Alert Whisperer run on web-1"
    assert sleeps.calls[0] == 0.5


@mock_aws
def test_moto_assume_role_session(aws_env: None) -> None:
    session = aws.session_for(ROLE, "eu-west-1")
    identity = session.client("sts", region_name="eu-west-1").get_caller_identity()
    assert identity["Arn"] == "arn:aws:sts::123456789012:assumed-role/aw-remediation/alertwhisperer"
    creds = session.get_credentials()
    assert creds is not None and creds.token  # temporary credentials


def test_assume_role_passes_the_external_id() -> None:
    sts = boto3.client("sts", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="y")
    with Stubber(sts) as stub:
        stub.add_response(
            "assume_role",
            {
                "Credentials": {
                    "AccessKeyId": "ASIAEXAMPLEEXAMPLE01",
                    "SecretAccessKey": "s",
                    "SessionToken": "t",
                    "Expiration": "2030-01-01T00:00:00Z",
                }
            },
            {
                "RoleArn": ROLE.role_arn,
                "RoleSessionName": "alertwhisperer",
                "ExternalId": "ext-42",
                "DurationSeconds": 3600,
            },
        )
        session = aws.assume_role(ROLE, "eu-west-1", sts_client=sts)
        stub.assert_no_pending_responses()
    creds = session.get_credentials()
    assert creds is not None and creds.access_key == "ASIAEXAMPLEEXAMPLE01"


def test_assume_role_refusal_is_a_clear_error() -> None:
    sts = boto3.client("sts", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="y")
    with Stubber(sts) as stub:
        stub.add_client_error("assume_role", "AccessDenied", "not authorized to perform sts:AssumeRole")
        with pytest.raises(aws.AwsError, match=r"cannot assume role .*AccessDenied"):
            aws.assume_role(ROLE, "eu-west-1", sts_client=sts)


class Stubbed:
    """An SSM client with a Stubber: send_command answered once, then the given invocation answers."""

    def __init__(self) -> None:
        self.client = boto3.client("ssm", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="y")
        self.stub = Stubber(self.client)
        self.stub.add_response(
            "send_command",
            {"Command": {"CommandId": CMD}},
            {
                "InstanceIds": [INSTANCE],
                "DocumentName": "AWS-RunShellScript",
                "Parameters": ANY,
                "TimeoutSeconds": 30,
                "Comment": ANY,
            },
        )

    def invocation(self, status: str, details: str = "", code: int = -1, out: str = "", err: str = "") -> None:
        self.stub.add_response(
            "get_command_invocation",
            {
                "CommandId": CMD,
                "InstanceId": INSTANCE,
                "Status": status,
                "StatusDetails": details or status,
                "ResponseCode": code,
                "StandardOutputContent": out,
                "StandardErrorContent": err,
            },
            {"CommandId": CMD, "InstanceId": INSTANCE},
        )

    def missing(self) -> None:
        self.stub.add_client_error("get_command_invocation", "InvocationDoesNotExist", "no invocation")

    async def run(self, sleeps: Sleeps | None = None, **kw: Any) -> Any:
        with self.stub:
            result = await SsmExecutor(client_factory=lambda _t: self.client, sleep=sleeps or Sleeps(), **kw).run(
                TARGET, Command(script="echo hi"), on_output=self.record
            )
            self.stub.assert_no_pending_responses()
        return result

    chunks: list[tuple[str, str]]

    async def record(self, stream: str, text: str) -> None:
        self.__dict__.setdefault("chunks", []).append((stream, text))


async def test_in_progress_then_success_with_backoff_and_streamed_output() -> None:
    s = Stubbed()
    s.invocation("Pending")
    s.invocation("InProgress", out="step 1\n")
    s.invocation("InProgress", out="step 1\n")
    s.invocation("Delayed", out="step 1\n")
    s.invocation("InProgress", out="step 1\nstep 2\n")
    s.invocation("InProgress", out="step 1\nstep 2\n")
    s.invocation("Success", code=0, out="step 1\nstep 2\ndone\n", err="warning\n")
    sleeps = Sleeps()
    result = await s.run(sleeps)
    assert result.status == "succeeded" and result.exit_code == 0
    assert result.stdout == "step 1\nstep 2\ndone\n" and result.stderr == "warning\n"
    assert result.external_id == CMD and not result.truncated
    assert sleeps.calls == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]  # exponential backoff capped at 5 s
    assert s.chunks == [("stdout", "step 1\n"), ("stdout", "step 2\n"), ("stdout", "done\n"), ("stderr", "warning\n")]


async def test_failed_keeps_the_exit_code() -> None:
    s = Stubbed()
    s.invocation("InProgress")
    s.invocation("Failed", code=3, err="disk full\n")
    result = await s.run()
    assert (result.status, result.exit_code, result.stderr) == ("failed", 3, "disk full\n")
    assert result.error == "exited with code 3"


async def test_execution_timed_out() -> None:
    s = Stubbed()
    s.invocation("TimedOut", details="ExecutionTimedOut", out="partial\n")
    result = await s.run()
    assert result.status == "timed_out" and result.stdout == "partial\n"
    assert "execution timeout" in result.error


async def test_delivery_timed_out_is_undeliverable() -> None:
    s = Stubbed()
    s.invocation("Pending")
    s.invocation("TimedOut", details="DeliveryTimedOut")
    result = await s.run()
    assert result.status == "undeliverable"
    assert "did not pick the command up" in result.error


async def test_invocation_does_not_exist_then_found() -> None:
    s = Stubbed()
    s.missing()
    s.missing()
    s.invocation("Success", code=0, out="ok\n")
    result = await s.run()
    assert result.status == "succeeded" and result.stdout == "ok\n"


async def test_invocation_never_appears_is_bounded() -> None:
    s = Stubbed()
    for _ in range(4):
        s.missing()
    result = await s.run(not_found_retries=3)
    assert result.status == "undeliverable"
    assert "never reached" in result.error


@pytest.mark.parametrize("status", ["Undeliverable", "Terminated"])
async def test_undeliverable_statuses(status: str) -> None:
    s = Stubbed()
    s.invocation(status, details="InstanceNotOnline" if status == "Undeliverable" else "")
    result = await s.run()
    assert result.status == "undeliverable"
    assert status in result.error


async def test_cancelled_is_a_failure_with_reason() -> None:
    s = Stubbed()
    s.invocation("Cancelled")
    result = await s.run()
    assert result.status == "failed" and "cancelled" in result.error


async def test_ssm_output_limit_flags_truncation() -> None:
    s = Stubbed()
    s.invocation("Success", code=0, out="x" * SSM_OUTPUT_LIMIT)
    result = await s.run()
    assert result.status == "succeeded" and result.truncated


async def test_send_command_refused_is_undeliverable() -> None:
    client = boto3.client("ssm", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="y")
    with Stubber(client) as stub:
        stub.add_client_error("send_command", "InvalidInstanceId", "Instances not in a valid state")
        result = await SsmExecutor(client_factory=lambda _t: client, sleep=Sleeps()).run(TARGET, Command(script="x"))
    assert result.status == "undeliverable"
    assert "InvalidInstanceId" in result.error


async def test_no_instance_id_is_undeliverable() -> None:
    t = Target(asset_id="a", asset_name="db-1", company_id="c", executor="ssm", region="eu-west-1", secret=KEYS)
    result = await SsmExecutor(sleep=Sleeps()).run(t, Command(script="x"))
    assert result.status == "undeliverable" and result.error == "db-1 has no EC2 instance id"
