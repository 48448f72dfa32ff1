from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from alertwhisperer.auth.principal import Role

Skill = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]


class LoginIn(BaseModel):
    email: EmailStr
    password: str = Field(min_length=1, max_length=1024)


class TokenPair(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105
    expires_at: datetime
    refresh_token: str | None = Field(None, description="Rotates on every use; absent in the reuse grace window")
    refresh_expires_at: datetime | None = None


class RefreshIn(BaseModel):
    refresh_token: str


class PasswordChangeIn(BaseModel):
    current_password: str
    new_password: str


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    role: Role = Role.TECHNICIAN
    password: str | None = Field(None, description="Initial password; generated and shown once when omitted")
    company_ids: list[str] = Field(default_factory=list)
    category: Skill | None = None
    skills: list[Skill] = Field(default_factory=list)
    max_concurrent_incidents: int = Field(5, ge=1, le=100)


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None = None
    role: Role | None = None
    company_ids: list[str] | None = None
    category: Skill | None = None
    skills: list[Skill] | None = None
    max_concurrent_incidents: int | None = Field(None, ge=1, le=100)
    on_leave: bool | None = None
    is_active: bool | None = None


class UserOut(BaseModel):
    id: str
    email: str
    name: str
    role: Role
    is_active: bool
    company_ids: list[str]
    category: str | None
    skills: list[str]
    max_concurrent_incidents: int
    on_leave: bool
    last_login_at: datetime | None
    created_at: datetime


class UserCreated(UserOut):
    initial_password: str | None = Field(None, description="Only when generated; shown exactly once")


class SessionOut(BaseModel):
    id: str
    kind: str
    ip: str | None
    user_agent: str | None
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    current: bool
