"""Per-company webhook rate limits (the `limits` library: in memory, or Redis when configured).

Two sliding windows per company: ``rate_limit_per_minute`` over 60 s and ``burst`` over 1 s. The
sliding-window *counter* (two counters weighted by the elapsed part of the window) costs O(1) per hit;
the exact moving-window log cost O(requests in the window) per hit (about 50 us per request at 2,500
requests/s with memory storage) and is not worth it for a limit whose purpose is backpressure. A
limited sender is answered so that it retries: 429 + Retry-After, or 503 + Retry-After for senders that
drop a delivery on any 4xx (Alertmanager, Grafana).
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string
from redis.exceptions import RedisError

from alertwhisperer.tenants.schemas import IngestSettings

REDIS_CONNECTIONS = 64  # per process


class LimiterUnavailable(Exception):
    """The limiter's storage could not be reached; nothing was decided (the sender should retry)."""


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int = 0
    limit: str = ""


class WebhookLimiter:
    def __init__(self, redis_url: str | None = None) -> None:
        if redis_url:
            from redis.asyncio import BlockingConnectionPool

            # A bounded pool that makes a request wait for a free connection (up to 5 s) instead of failing
            # with "Too many connections" when a storm opens more requests than the pool has connections.
            pool = BlockingConnectionPool.from_url(redis_url, max_connections=REDIS_CONNECTIONS, timeout=5,
                                                   socket_timeout=5, socket_connect_timeout=5)
            options: dict[str, Any] = {"connection_pool": pool}
            self.storage: Storage = storage_from_string(  # type: ignore[assignment]
                "async+" + redis_url, implementation="redispy", wrap_exceptions=True, **options)
        else:
            self.storage = MemoryStorage()
        self.strategy = SlidingWindowCounterRateLimiter(self.storage)

    @staticmethod
    def items(cfg: IngestSettings) -> tuple[RateLimitItem, ...]:
        return _items(cfg.rate_limit_per_minute, cfg.burst)

    async def hit(self, company_id: str, cfg: IngestSettings) -> Verdict:
        """Raises ``LimiterUnavailable`` when the storage (Redis) fails: the caller answers 503 + Retry-After."""
        try:
            for item in self.items(cfg):
                if not await self.strategy.hit(item, "webhook", company_id):
                    stats = await self.strategy.get_window_stats(item, "webhook", company_id)
                    wait = max(1, math.ceil(stats.reset_time - time.time()))
                    return Verdict(False, wait, str(item))
        except (StorageError, RedisError, OSError) as exc:
            raise LimiterUnavailable(str(exc)) from exc
        return Verdict(True)

    async def reset(self) -> None:
        await self.storage.reset()


@functools.lru_cache(maxsize=1024)
def _items(per_minute: int, burst: int) -> tuple[RateLimitItem, ...]:
    return RateLimitItemPerMinute(per_minute), RateLimitItemPerSecond(burst)
