"""Company and asset I/O models; the company settings blob is validated here."""

from __future__ import annotations

import re
from datetime import datetime
from ipaddress import ip_address
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    SerializationInfo,
    StringConstraints,
    field_serializer,
    field_validator,
    model_validator,
)

from alertwhisperer.correlation.policy import CorrelationPolicy
from alertwhisperer.incidents.sla_policy import SlaPolicy
from alertwhisperer.remediation.policy import RemediationPolicy

SLUG_RE = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
FQDN_RE = re.compile(r"^(?=.{1,253}$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$")

Slug = Annotated[str, StringConstraints(pattern=SLUG_RE, min_length=1, max_length=63)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
AssetName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
AssetType = Literal["server", "database", "network", "storage", "application", "container", "cloud",
                    "windows", "firewall", "loadbalancer", "other"]


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone {value!r} (use an IANA name such as Europe/Berlin)") from exc
    return value


def normalise_ip(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    try:
        return str(ip_address(value.strip()))
    except ValueError as exc:
        raise ValueError(f"{value!r} is not an IPv4 or IPv6 address") from exc


def normalise_fqdn(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip().lower()
    if not FQDN_RE.match(value):
        raise ValueError(f"{value!r} is not a valid host name")
    return value.rstrip(".")


class IngestSettings(BaseModel):
    """Webhook limits and security. Defaults let a 500-alert storm in 5 minutes pass untouched even as
    single-alert requests (the seeds' 60/min is too low for Alertmanager batches and storms)."""

    model_config = ConfigDict(extra="forbid")

    rate_limit_per_minute: int = Field(1200, ge=1, le=10_000_000, description="requests per moving minute")
    burst: int = Field(200, ge=1, le=1_000_000, description="requests in any one second")
    require_signature: bool = Field(False, description="refuse unsigned webhooks once a secret exists")
    allow_sns_subscription_confirm: bool = False


class CompanySettings(BaseModel):
    """The company's settings blob. Unknown keys are refused so typos do not pass silently.

    ``correlation`` is the company's grouping policy, maintenance windows included (the one place they live;
    ``correlation.store.policy_of`` reads it); ``sla`` the response/resolution targets and the escalation chain
    (``incidents.sla_policy``). It is stored and dumped with only the values that differ from the
    defaults, so a company that never changed it follows improved defaults; validating the dump gives the same
    policy back.
    """

    model_config = ConfigDict(extra="forbid")

    contact_email: EmailStr | None = None
    notes: str = Field("", max_length=4000)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    correlation: CorrelationPolicy = Field(default_factory=CorrelationPolicy)
    sla: SlaPolicy = Field(default_factory=SlaPolicy)
    remediation: RemediationPolicy = Field(default_factory=RemediationPolicy)

    @field_serializer("correlation")
    def _sparse(self, policy: CorrelationPolicy, info: SerializationInfo) -> dict[str, object]:
        return policy.model_dump(mode=info.mode, exclude_defaults=True)

    @field_serializer("sla")
    def _sparse_sla(self, policy: SlaPolicy, info: SerializationInfo) -> dict[str, object]:
        return policy.model_dump(mode=info.mode, exclude_defaults=True)

    @field_serializer("remediation")
    def _sparse_remediation(self, policy: RemediationPolicy, info: SerializationInfo) -> dict[str, object]:
        return policy.model_dump(mode=info.mode, exclude_defaults=True)


LEGACY_WINDOWS = "maintenance_windows"
WINDOWS_MOVED = ("maintenance windows moved to settings.correlation.maintenance_windows "
                 "(API: /api/companies/{company_id}/maintenance-windows)")


class CompanyPolicy(BaseModel):
    """Remediation policy. ``maintenance_windows`` used to live here (unused); stored rows that still carry the
    key load and save (the key is dropped). Windows are in ``CompanySettings.correlation``."""

    model_config = ConfigDict(extra="forbid")

    auto_approve_low_risk: bool = True
    allow_auto_remediation: bool = True

    @model_validator(mode="before")
    @classmethod
    def _drop_legacy(cls, data: object) -> object:
        if isinstance(data, dict) and LEGACY_WINDOWS in data:
            data = {k: v for k, v in data.items() if k != LEGACY_WINDOWS}
        return data


class CompanyPolicyIn(CompanyPolicy):
    """The policy as clients send it: an empty legacy ``maintenance_windows`` is accepted (old clients echo
    it), a non-empty one is refused with where windows live now instead of being dropped silently."""

    @model_validator(mode="before")
    @classmethod
    def _refuse_legacy(cls, data: object) -> object:
        if isinstance(data, dict) and data.get(LEGACY_WINDOWS):
            raise ValueError(WINDOWS_MOVED)
        return data


class CompanyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    slug: Slug | None = None
    timezone: str = "UTC"
    policy: CompanyPolicyIn = Field(default_factory=CompanyPolicyIn)
    settings: CompanySettings = Field(default_factory=CompanySettings)

    _tz = field_validator("timezone")(_check_timezone)


class CompanyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    timezone: str | None = None
    policy: CompanyPolicyIn | None = None
    settings: CompanySettings | None = None

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return None if value is None else _check_timezone(value)


class CompanyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    slug: str
    timezone: str
    policy: CompanyPolicy
    settings: CompanySettings
    api_key_prefix: str
    api_key_rotated_at: datetime
    created_at: datetime


class CompanyCreated(CompanyOut):
    api_key: str = Field(description="Shown exactly once; only its hash is stored.")


class ApiKeyOut(BaseModel):
    company_id: str
    api_key: str = Field(description="Shown exactly once; the previous key stopped working.")
    api_key_prefix: str


class AssetBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: AssetType = "server"
    ip: str | None = None
    fqdn: str | None = None
    instance_id: str | None = Field(None, max_length=128)
    tags: dict[Annotated[str, StringConstraints(min_length=1, max_length=100)],
               Annotated[str, StringConstraints(max_length=500)]] = Field(default_factory=dict)
    critical: bool = False
    depends_on: list[AssetName] = Field(default_factory=list, description="names of upstream assets")

    @field_validator("ip")
    @classmethod
    def _ip(cls, value: str | None) -> str | None:
        return normalise_ip(value)

    @field_validator("fqdn")
    @classmethod
    def _fqdn(cls, value: str | None) -> str | None:
        return normalise_fqdn(value)

    @field_validator("instance_id")
    @classmethod
    def _blank(cls, value: str | None) -> str | None:
        return value.strip() or None if value else None


class AssetCreate(AssetBase):
    name: AssetName


class AssetUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: AssetName | None = None
    type: AssetType | None = None
    ip: str | None = None
    fqdn: str | None = None
    instance_id: str | None = None
    tags: dict[str, str] | None = None
    critical: bool | None = None
    depends_on: list[AssetName] | None = None

    @field_validator("ip")
    @classmethod
    def _ip(cls, value: str | None) -> str | None:
        return normalise_ip(value)

    @field_validator("fqdn")
    @classmethod
    def _fqdn(cls, value: str | None) -> str | None:
        return normalise_fqdn(value)


class AssetOut(BaseModel):
    id: str
    company_id: str
    name: str
    type: str
    ip: str | None
    fqdn: str | None
    instance_id: str | None
    tags: dict[str, str]
    critical: bool
    discovered: bool
    depends_on: list[str]
    created_at: datetime
