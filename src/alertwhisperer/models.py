"""Every model, imported once so metadata is complete (Alembic, tests)."""

from alertwhisperer.audit.models import AuditEntry
from alertwhisperer.auth.models import AuthSession, LoginFailure, Membership, RefreshToken, User
from alertwhisperer.chat.models import ChatMessage, ChatRead
from alertwhisperer.correlation.models import CorrelationState, Incident, IncidentAlert
from alertwhisperer.db import Base
from alertwhisperer.incidents.models import IncidentEvent, OnCallSchedule, ScheduleOverride
from alertwhisperer.ingest.models import Alert, Delivery, Heartbeat, IdempotencyKey, SeenSignature, WebhookSecret
from alertwhisperer.jobs.models import Job
from alertwhisperer.notify.models import Notification, NotificationDelivery, NotificationPreference
from alertwhisperer.remediation.models import (
    Approval,
    AssetAccess,
    Credential,
    Decision,
    Execution,
    ExecutionChunk,
    PatchState,
    Runbook,
    RunbookVersion,
)
from alertwhisperer.tenants.models import Asset, AssetDependency, Company

__all__ = [
    "Alert",
    "Approval",
    "Asset",
    "AssetAccess",
    "AssetDependency",
    "AuditEntry",
    "AuthSession",
    "Base",
    "ChatMessage",
    "ChatRead",
    "Company",
    "CorrelationState",
    "Credential",
    "Decision",
    "Delivery",
    "Execution",
    "ExecutionChunk",
    "Heartbeat",
    "IdempotencyKey",
    "Incident",
    "IncidentAlert",
    "IncidentEvent",
    "Job",
    "LoginFailure",
    "Membership",
    "Notification",
    "NotificationDelivery",
    "NotificationPreference",
    "OnCallSchedule",
    "PatchState",
    "RefreshToken",
    "Runbook",
    "RunbookVersion",
    "ScheduleOverride",
    "SeenSignature",
    "User",
    "WebhookSecret",
]
