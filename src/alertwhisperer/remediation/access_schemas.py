"""I/O shapes of credentials and asset access. Secret fields are write-only: no ``*Out`` model carries them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

CredentialKind = Literal["ssh_key", "ssh_password", "aws_keys", "aws_role"]
ExecutorKind = Literal["local", "ssh", "ssm"]


class CredentialIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    kind: CredentialKind
    username: str = Field(default="", max_length=120)
    # secrets (write-only)
    private_key: str = Field(default="", max_length=20000, repr=False)
    passphrase: str = Field(default="", max_length=500, repr=False)
    password: str = Field(default="", max_length=500, repr=False)
    secret_access_key: str = Field(default="", max_length=200, repr=False)
    # public
    access_key_id: str = Field(default="", max_length=128)
    role_arn: str = Field(default="", max_length=2048)
    external_id: str = Field(default="", max_length=1224)
    region: str = Field(default="", max_length=40)


class CredentialUpdate(BaseModel):
    """Rename, change the username, or rotate: any secret field given replaces the stored secret as a whole."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=120)
    username: str | None = Field(default=None, max_length=120)
    private_key: str | None = Field(default=None, max_length=20000, repr=False)
    passphrase: str | None = Field(default=None, max_length=500, repr=False)
    password: str | None = Field(default=None, max_length=500, repr=False)
    secret_access_key: str | None = Field(default=None, max_length=200, repr=False)
    access_key_id: str | None = Field(default=None, max_length=128)
    role_arn: str | None = Field(default=None, max_length=2048)
    external_id: str | None = Field(default=None, max_length=1224)
    region: str | None = Field(default=None, max_length=40)


class CredentialOut(BaseModel):
    id: str
    company_id: str
    name: str
    kind: str
    username: str
    public: dict[str, Any]  # key_type, fingerprint, public_key, access_key_id, role_arn, external_id, region
    used_by: int  # how many assets use it
    created_at: datetime
    updated_at: datetime


class AccessIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    executor: ExecutorKind
    os: Literal["linux", "windows"] = "linux"
    host: str = Field(default="", max_length=255)  # "" = the asset's fqdn, else its ip
    port: int = Field(default=22, ge=1, le=65535)
    credential_id: str | None = None
    sudo: bool = False
    region: str = Field(default="", max_length=40)


class HostKeyOut(BaseModel):
    line: str
    key_type: str
    fingerprint: str


class HostKeysConfirm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lines: str = Field(min_length=1, max_length=20000)


class AccessOut(BaseModel):
    asset_id: str
    asset_name: str
    company_id: str
    configured: bool
    executor: str = ""
    os: str = "linux"
    host: str = ""
    port: int = 22
    credential_id: str | None = None
    credential_name: str = ""
    credential_kind: str = ""
    username: str = ""
    sudo: bool = False
    region: str = ""
    instance_id: str = ""
    host_keys: list[HostKeyOut] = Field(default_factory=list)
    host_key_status: Literal["stored", "missing", "not_needed"] = "not_needed"
    updated_at: datetime | None = None


class TestResultOut(BaseModel):
    status: str
    exit_code: int | None
    stdout: str
    stderr: str
    truncated: bool
    duration_ms: int
    error: str
