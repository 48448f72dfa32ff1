"""Correlation settings routes: a company's grouping policy and its maintenance windows (thin; see settings_service).

Bodies are validated by the service so a 422 names the field (``field`` and ``details.problems``), model-level
rules included (``key_labels`` for a label key without labels, ``end`` for a window ending before it starts).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, Request

from alertwhisperer.clock import Clock
from alertwhisperer.correlation import settings_service as service
from alertwhisperer.correlation.maintenance import MaintenanceWindow
from alertwhisperer.correlation.policy import CorrelationPolicy
from alertwhisperer.deps import ClockDep, CurrentUser, SessionDep, commit

router = APIRouter(prefix="/api/companies/{company_id}", tags=["correlation settings"])

READ_ONLY = ("status", "current_or_next_start", "current_or_next_end", "suppressed_alerts")
POLICY_BODY = Body(..., description="The full policy (GET's answer); left-out fields get their defaults, "
                                    "left-out maintenance_windows are kept.",
                   examples=[{"window_minutes": 10, "key": "labels", "key_labels": ["alertname", "service"],
                              "topology": True, "topology_depth": 2, "transient_pause_minutes": 5}])
WINDOW_BODY = Body(..., description="A maintenance window: one-off (start, end: ISO-8601 with offset) or weekly "
                                    "(weekly: days, start HH:MM, duration_minutes, timezone); scope: assets "
                                    "(ids or names) and/or tags; neither = whole company. Optional id on create.",
                   examples=[{"name": "Patch night", "tags": {"env": "staging"},
                              "weekly": {"days": ["tue"], "start": "22:00", "duration_minutes": 120,
                                         "timezone": "Europe/Berlin"}},
                             {"name": "DB upgrade", "assets": ["db-01"], "start": "2026-03-02T22:00:00+01:00",
                              "end": "2026-03-03T01:00:00+01:00"}])


class MaintenanceWindowOut(MaintenanceWindow):
    status: service.Status
    current_or_next_start: datetime | None
    current_or_next_end: datetime | None
    suppressed_alerts: int


def _out(window: MaintenanceWindow, clock: Clock, counts: dict[str, int]) -> MaintenanceWindowOut:
    st = service.window_status(window, clock.now())
    return MaintenanceWindowOut(**window.model_dump(), status=st.status, current_or_next_start=st.start,
                                current_or_next_end=st.end, suppressed_alerts=counts.get(window.id, 0))


def _writable(body: Any) -> Any:
    return {k: v for k, v in body.items() if k not in READ_ONLY} if isinstance(body, dict) else body


@router.get("/correlation-policy", response_model=CorrelationPolicy)
async def get_policy(company_id: str, user: CurrentUser, db: SessionDep) -> CorrelationPolicy:
    """The company's grouping policy with every default shown."""
    _, policy = await service.get_policy(db, actor=user, company_id=company_id)
    return policy


@router.put("/correlation-policy", response_model=CorrelationPolicy)
async def put_policy(company_id: str, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep,
                     body: Any = POLICY_BODY) -> CorrelationPolicy:
    policy = await service.set_policy(db, actor=user, clock=clock, company_id=company_id, data=body)
    await commit(request, db)
    return policy


@router.get("/maintenance-windows", response_model=list[MaintenanceWindowOut])
async def list_windows(company_id: str, user: CurrentUser, db: SessionDep, clock: ClockDep
                       ) -> list[MaintenanceWindowOut]:
    company, windows = await service.list_windows(db, actor=user, company_id=company_id)
    counts = await service.suppressed_counts(db, company_id=company.id, windows=windows)
    return [_out(w, clock, counts) for w in windows]


@router.post("/maintenance-windows", response_model=MaintenanceWindowOut, status_code=201)
async def create_window(company_id: str, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep,
                        body: Any = WINDOW_BODY) -> MaintenanceWindowOut:
    window = await service.create_window(db, actor=user, clock=clock, company_id=company_id, data=_writable(body))
    await commit(request, db)
    return _out(window, clock, {})


@router.put("/maintenance-windows/{window_id}", response_model=MaintenanceWindowOut)
async def update_window(company_id: str, window_id: str, request: Request, user: CurrentUser, db: SessionDep,
                        clock: ClockDep, body: Any = WINDOW_BODY) -> MaintenanceWindowOut:
    window = await service.update_window(db, actor=user, clock=clock, company_id=company_id, window_id=window_id,
                                         data=_writable(body))
    counts = await service.suppressed_counts(db, company_id=company_id, windows=(window,))
    await commit(request, db)
    return _out(window, clock, counts)


@router.delete("/maintenance-windows/{window_id}", status_code=204)
async def delete_window(company_id: str, window_id: str, request: Request, user: CurrentUser, db: SessionDep,
                        clock: ClockDep) -> None:
    await service.delete_window(db, actor=user, clock=clock, company_id=company_id, window_id=window_id)
    await commit(request, db)
