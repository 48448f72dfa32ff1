"""One hub for tenant-scoped live events and wake-up signals between processes.

In-process (``LocalHub``), across the processes of one host (``bus.SocketHub``, the embedded default) or
Redis pub/sub when configured (``RedisHub``). Besides events, a hub carries *signals*: named wake-ups (the
API process tells the job worker "new jobs") that call the handlers registered with ``on_signal`` in every
process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth.principal import Principal

log = structlog.get_logger(__name__)

QUEUE_SIZE = 1000
CHANNEL = "alertwhisperer:events"


@dataclass(frozen=True)
class Event:
    type: str
    company_id: str | None
    data: dict[str, Any] = field(default_factory=dict)
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    user_id: str | None = None  # set: for this user only (their bell, their assignment)

    def visible_to(self, principal: Principal) -> bool:
        """A user's own events go to that user only; company events to users who see that company; MSP-wide
        events to MSP admins only."""
        if self.user_id is not None:
            return principal.user_id == self.user_id
        if self.company_id is None:
            return principal.is_msp_admin
        return principal.sees_company(self.company_id)

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str)


class Hub(Protocol):
    async def publish(self, event: Event) -> None: ...
    def signal(self, name: str) -> None: ...
    def on_signal(self, name: str, handler: Callable[[], None]) -> None: ...
    def subscribe(self) -> AsyncIterator[Event]: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class LocalHub:
    """Fan-out to the subscribers of this process. A slow subscriber drops its oldest events."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[Event]] = set()
        self._signals: dict[str, list[Callable[[], None]]] = {}

    def on_signal(self, name: str, handler: Callable[[], None]) -> None:
        self._signals.setdefault(name, []).append(handler)

    def signal(self, name: str) -> None:
        """Call this process's handlers for ``name`` (subclasses also tell the other processes)."""
        for handler in self._signals.get(name, ()):
            try:
                handler()
            except Exception as exc:  # one failing handler must not starve the others
                log.warning("realtime.signal_handler_failed", signal=name, error=str(exc))

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self._queues.clear()

    async def publish(self, event: Event) -> None:
        self.deliver(event)

    def deliver(self, event: Event) -> None:
        for queue in list(self._queues):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(event)

    @property
    def subscriber_count(self) -> int:
        return len(self._queues)

    def listen(self) -> Subscription:
        """Subscribe now: events published from this call on are queued (nothing is lost before iterating)."""
        queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_SIZE)
        self._queues.add(queue)
        return Subscription(queue, lambda: self._queues.discard(queue))

    async def subscribe(self) -> AsyncIterator[Event]:
        subscription = self.listen()
        try:
            async for event in subscription:
                yield event
        finally:
            subscription.close()


class Subscription:
    """One subscriber's queue: iterate it for events, close it to stop receiving."""

    def __init__(self, queue: asyncio.Queue[Event], on_close: Callable[[], None]) -> None:
        self._queue = queue
        self._on_close = on_close

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        return await self._queue.get()

    def close(self) -> None:
        self._on_close()


class RedisHub(LocalHub):
    """Publishes to Redis; one listener per process relays every event to the local subscribers."""

    def __init__(self, url: str) -> None:
        super().__init__()
        from redis import asyncio as aioredis

        self._redis = aioredis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._pending: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen())
        await asyncio.wait_for(self._ready.wait(), timeout=10)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._redis.aclose()
        await super().stop()

    async def publish(self, event: Event) -> None:
        await self._redis.publish(CHANNEL, event.to_json())

    async def _publish_signal(self, name: str) -> None:
        try:
            await self._redis.publish(CHANNEL, json.dumps({"signal": name}))
        except Exception as exc:  # Redis away: at least this process's workers hear it (the others poll)
            log.warning("realtime.redis_signal_failed", error=str(exc))
            LocalHub.signal(self, name)

    def signal(self, name: str) -> None:
        """Published only: the listener hands it back to this process's handlers like to every other one."""
        task = asyncio.get_running_loop().create_task(self._publish_signal(name))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _listen(self) -> None:
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    self._ready.set()
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        payload = json.loads(message["data"])
                        if "signal" in payload:
                            LocalHub.signal(self, str(payload["signal"]))
                        else:
                            self.deliver(Event(**payload))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep relaying after a Redis hiccup
                log.warning("realtime.redis_listener_error", error=str(exc))
                await asyncio.sleep(1)


def make_hub(redis_url: str | None, bus_dir: Path | None = None) -> LocalHub:
    """Redis when configured; else the host-local socket bus when given a directory; else in-process."""
    if redis_url:
        return RedisHub(redis_url)
    if bus_dir is not None:
        from alertwhisperer.realtime.bus import SocketHub

        return SocketHub(bus_dir)
    return LocalHub()


def emit(session: AsyncSession, event: Event) -> None:
    """Queue an event on the session; it is published only after the transaction commits."""
    session.info.setdefault("pending_events", []).append(event)


async def publish_pending(session: AsyncSession, hub: Hub) -> None:
    events: list[Event] = session.info.pop("pending_events", [])
    for event in events:
        try:
            await hub.publish(event)
        except Exception as exc:  # a lost live event must never fail a committed request
            log.warning("realtime.publish_failed", error=str(exc), type=event.type)
