"""Who is acting, and the role/scope rules every service checks (seed 003, "Role-Based Access Control")."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from alertwhisperer.errors import Forbidden, NotFound


class Role(StrEnum):
    MSP_ADMIN = "msp_admin"
    COMPANY_ADMIN = "company_admin"
    TECHNICIAN = "technician"


@dataclass(frozen=True)
class Principal:
    user_id: str
    email: str
    role: Role
    company_ids: frozenset[str] = field(default_factory=frozenset)
    session_id: str | None = None
    ip: str | None = None
    user_agent: str | None = None

    @property
    def is_msp_admin(self) -> bool:
        return self.role is Role.MSP_ADMIN

    def sees_company(self, company_id: str | None) -> bool:
        return self.is_msp_admin or (company_id is not None and company_id in self.company_ids)

    def require_company(self, company_id: str | None, what: str = "company") -> None:
        """A resource of a company outside the caller's scope does not exist for them."""
        if not self.sees_company(company_id):
            raise NotFound(f"{what} not found")

    def require_role(self, *roles: Role, action: str) -> None:
        if self.role not in roles:
            raise Forbidden(f"your role ({self.role.value}) may not {action}")

    def require_company_admin(self, company_id: str, action: str, what: str = "company") -> None:
        """In scope (else 404) and an admin of it (else 403)."""
        self.require_company(company_id, what)
        self.require_role(Role.MSP_ADMIN, Role.COMPANY_ADMIN, action=action)


@dataclass(frozen=True)
class RequestContext:
    """Where a request came from, for audit entries made without a logged-in actor (login failures)."""

    ip: str | None = None
    user_agent: str | None = None
