"""boto3 sessions and clients from a company's AWS credential (access keys, or a cross-account role via STS).

``client_for(target_or_secret, service, region)`` is what the SSM executor and the patch scanner use. Every client
has explicit timeouts and adaptive retries. A role is assumed with the session name "alertwhisperer" and the
credential's external id; its base credentials are the credential's own keys when it has them, else the server's
default AWS chain (an instance role, for example). All calls here block: run them in ``asyncio.to_thread``.
"""

from __future__ import annotations

from typing import Any

import boto3
import botocore.exceptions
from botocore.config import Config

from alertwhisperer.remediation.executors.base import Secret, Target

SESSION_NAME = "alertwhisperer"
ROLE_SESSION_SECONDS = 3600
CLIENT_CONFIG = Config(
    retries={"mode": "adaptive", "max_attempts": 5},
    connect_timeout=10,
    read_timeout=30,
    user_agent_extra="alertwhisperer",
)


class AwsError(Exception):
    """AWS could not be reached or refused the credential; the message says what to fix."""


def _base_session(secret: Secret, region: str) -> boto3.Session:
    if secret.access_key_id and secret.secret_access_key:
        return boto3.Session(
            aws_access_key_id=secret.access_key_id,
            aws_secret_access_key=secret.secret_access_key,
            region_name=region or None,
        )
    return boto3.Session(region_name=region or None)


def assume_role(secret: Secret, region: str, *, sts_client: Any = None) -> boto3.Session:
    """A session with the role's temporary credentials (``sts_client`` injectable for tests)."""
    sts = sts_client or _base_session(secret, region).client("sts", config=CLIENT_CONFIG)
    params: dict[str, Any] = {
        "RoleArn": secret.role_arn,
        "RoleSessionName": SESSION_NAME,
        "DurationSeconds": ROLE_SESSION_SECONDS,
    }
    if secret.external_id:
        params["ExternalId"] = secret.external_id
    try:
        creds = sts.assume_role(**params)["Credentials"]
    except botocore.exceptions.ClientError as exc:
        err = exc.response.get("Error", {})
        raise AwsError(
            f"cannot assume role {secret.role_arn}: {err.get('Code', '')} {err.get('Message', '')}".strip()
        ) from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise AwsError(f"cannot assume role {secret.role_arn}: {exc}") from exc
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=region or None,
    )


def session_for(secret: Secret, region: str) -> boto3.Session:
    if secret.kind == "aws_role":
        if not secret.role_arn:
            raise AwsError("the AWS role credential has no role ARN")
        return assume_role(secret, region)
    if secret.kind == "aws_keys":
        if not (secret.access_key_id and secret.secret_access_key):
            raise AwsError("the AWS keys credential is incomplete (access key id and secret needed)")
        return _base_session(secret, region)
    raise AwsError(f"a {secret.kind or 'missing'} credential cannot be used for AWS")


def client_for(target_or_secret: Target | Secret, service: str, region: str | None = None) -> Any:
    """A boto3 client of ``service`` (e.g. "ssm") for the target's (or secret's) AWS account and region."""
    if isinstance(target_or_secret, Target):
        secret, region = target_or_secret.secret, region or target_or_secret.region
    else:
        secret = target_or_secret
    if not region:
        raise AwsError("no AWS region configured")
    return session_for(secret, region).client(service, region_name=region, config=CLIENT_CONFIG)  # type: ignore[call-overload]
