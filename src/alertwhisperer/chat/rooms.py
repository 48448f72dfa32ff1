"""Rooms are names, not rows: ``company:<company_id>`` and ``incident:<incident_id>``.

Who may use a room: users who see its company (for an incident room, the incident's company). Anything else,
a malformed name included, does not exist for the caller (``NotFound``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import String, and_, exists, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth.principal import Principal
from alertwhisperer.chat.models import ChatMessage
from alertwhisperer.correlation.models import Incident
from alertwhisperer.errors import NotFound
from alertwhisperer.incidents.models import ACTIVE_STATUSES, IncidentEvent
from alertwhisperer.tenants import service as tenants
from alertwhisperer.tenants.models import Company

COMPANY = "company"
INCIDENT = "incident"
RECENT_CHAT = timedelta(days=7)  # an incident room stays in the list this long after its last message
MAX_INCIDENT_ROOMS = 50


@dataclass(frozen=True)
class Room:
    name: str
    kind: str  # company | incident
    company_id: str
    title: str
    incident: Incident | None = None

    @property
    def incident_id(self) -> str | None:
        return self.incident.id if self.incident is not None else None


def company_room(company_id: str) -> str:
    return f"{COMPANY}:{company_id}"


def incident_room(incident_id: str) -> str:
    return f"{INCIDENT}:{incident_id}"


def parse(room: str) -> tuple[str, str]:
    """(kind, id) of a room name; ``NotFound`` for anything that is not one."""
    kind, _, ident = room.partition(":")
    if kind not in (COMPANY, INCIDENT) or not ident or len(ident) > 40 or not ident.isalnum():
        raise NotFound("room not found")
    return kind, ident


def incident_title(incident: Incident) -> str:
    return f"Incident: {incident.title}"


async def resolve(session: AsyncSession, *, actor: Principal, room: str) -> Room:
    """The room if the actor may use it (else ``NotFound``, never saying whether it exists)."""
    kind, ident = parse(room)
    if kind == COMPANY:
        if not actor.sees_company(ident):
            raise NotFound("room not found")
        company = await session.get(Company, ident)
        if company is None:
            raise NotFound("room not found")
        return Room(company_room(company.id), COMPANY, company.id, company.name)
    incident = await session.get(Incident, ident)
    if incident is None or not actor.sees_company(incident.company_id):
        raise NotFound("room not found")
    return Room(incident_room(incident.id), INCIDENT, incident.company_id, incident_title(incident), incident)


async def incidents_with_rooms(session: AsyncSession, *, actor: Principal, now: datetime) -> list[Incident]:
    """Incident rooms worth listing for the actor: active incidents they are assigned to, acted on or that have
    messages, and any incident of theirs chatted about in the last week (most recent activity first)."""
    in_room = ChatMessage.room == literal(f"{INCIDENT}:", String).op("||")(Incident.id)
    active = and_(Incident.status.in_(ACTIVE_STATUSES), or_(
        Incident.assignee_id == actor.user_id,
        exists().where(IncidentEvent.incident_id == Incident.id, IncidentEvent.actor_id == actor.user_id),
        exists().where(in_room)))
    recent = Incident.id.in_(select(ChatMessage.incident_id).where(ChatMessage.incident_id.is_not(None),
                                                                   ChatMessage.created_at >= now - RECENT_CHAT))
    stmt = select(Incident).where(or_(active, recent))
    if not actor.is_msp_admin:
        stmt = stmt.where(Incident.company_id.in_(actor.company_ids))
    stmt = stmt.order_by(Incident.last_seen.desc(), Incident.id).limit(MAX_INCIDENT_ROOMS)
    return list((await session.execute(stmt)).scalars())


async def rooms_for(session: AsyncSession, *, actor: Principal, now: datetime) -> list[Room]:
    """The actor's rooms: one per company they see, then their incident rooms."""
    companies = await tenants.list_companies(session, actor=actor)
    rooms = [Room(company_room(c.id), COMPANY, c.id, c.name) for c in companies]
    for incident in await incidents_with_rooms(session, actor=actor, now=now):
        rooms.append(Room(incident_room(incident.id), INCIDENT, incident.company_id, incident_title(incident),
                          incident))
    return rooms


async def last_message_times(session: AsyncSession, rooms: Sequence[str]) -> dict[str, datetime]:
    if not rooms:
        return {}
    rows = await session.execute(select(ChatMessage.room, func.max(ChatMessage.created_at))
                                 .where(ChatMessage.room.in_(rooms)).group_by(ChatMessage.room))
    return {room: at for room, at in rows.all()}
