"""User and technician management routes."""

from __future__ import annotations

from fastapi import APIRouter, Request

from alertwhisperer.auth import users
from alertwhisperer.auth.principal import Role
from alertwhisperer.auth.schemas import UserCreate, UserCreated, UserOut, UserUpdate
from alertwhisperer.deps import ClockDep, CurrentUser, SessionDep, SettingsDep, commit

router = APIRouter(prefix="/api/users", tags=["users"])


@router.get("", response_model=list[UserOut])
async def list_users(user: CurrentUser, db: SessionDep, company_id: str | None = None,
                     role: Role | None = None) -> list[UserOut]:
    rows = await users.list_users(db, actor=user, company_id=company_id, role=role)
    return await users.to_out(db, rows, user)


@router.post("", response_model=UserCreated, status_code=201)
async def create_user(body: UserCreate, request: Request, user: CurrentUser, db: SessionDep,
                      settings: SettingsDep, clock: ClockDep) -> UserCreated:
    created, generated = await users.create_user(db, actor=user, settings=settings, clock=clock, data=body)
    out = (await users.to_out(db, [created], user))[0]
    await commit(request, db)
    return UserCreated(**out.model_dump(), initial_password=generated)


@router.get("/{user_id}", response_model=UserOut)
async def get_user(user_id: str, user: CurrentUser, db: SessionDep) -> UserOut:
    row = await users.get_user(db, actor=user, user_id=user_id)
    return (await users.to_out(db, [row], user))[0]


@router.patch("/{user_id}", response_model=UserOut)
async def update_user(user_id: str, body: UserUpdate, request: Request, user: CurrentUser, db: SessionDep,
                      clock: ClockDep) -> UserOut:
    row = await users.update_user(db, actor=user, clock=clock, user_id=user_id, data=body)
    out = (await users.to_out(db, [row], user))[0]
    await commit(request, db)
    return out
