"""Every model, imported once so metadata is complete (Alembic, tests)."""

from alertwhisperer.audit.models import AuditEntry
from alertwhisperer.auth.models import AuthSession, LoginFailure, Membership, RefreshToken, User
from alertwhisperer.db import Base
from alertwhisperer.jobs.models import Job
from alertwhisperer.tenants.models import Asset, AssetDependency, Company

__all__ = ["Asset", "AssetDependency", "AuditEntry", "AuthSession", "Base", "Company", "Job", "LoginFailure",
           "Membership", "RefreshToken", "User"]
