"""A small, cheap HTTP/1.1 load generator (asyncio + uvloop, raw keep-alive connections).

Why not httpx/aiohttp: on a 2-core machine shared with the server, a full client library spends more
CPU per request than the server we measure. This client only writes prebuilt request bytes and reads
the status line, Content-Length and body, so one generator process drives well over 10,000 req/s.

Two modes:
- closed loop (``run_closed``): ``concurrency`` connections, each sends its next request when the
  previous answer arrived (maximum throughput);
- open loop (``run_open``): requests are *scheduled* at a fixed rate, independent of answers; latency
  is measured from the scheduled time, so a slow server cannot hide queueing (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import time
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

RequestFactory = Callable[[int], bytes]  # sequence number -> complete HTTP request bytes
DELIVERY_MARK = b'"delivery_id":"'
REQUEST_TIMEOUT = 30.0


class ConnectionLost(Exception):
    pass


class _Conn(asyncio.Protocol):
    """One keep-alive connection; one request in flight at a time."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionLost(str(exc or "closed by server")))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buf[:end]).lower()
        pos = head.find(b"\r\ncontent-length:")
        length = 0
        if pos >= 0:
            stop = head.find(b"\r\n", pos + 2)
            length = int(head[pos + 17: stop if stop > 0 else len(head)])
        total = end + 4 + length
        if len(self.buf) < total:
            return
        status = int(self.buf[9:12])
        body = bytes(self.buf[end + 4: total])
        del self.buf[:total]
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((status, body))

    async def request(self, data: bytes) -> tuple[int, bytes]:
        if self.closed or self.transport is None:
            raise ConnectionLost("connection closed")
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await asyncio.wait_for(self.waiter, REQUEST_TIMEOUT)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def _connect(host: str, port: int) -> _Conn:
    _, proto = await asyncio.get_running_loop().create_connection(_Conn, host, port)
    return proto


@dataclass
class Result:
    mode: str
    duration: float = 0.0
    sent: int = 0
    latencies: array = field(default_factory=lambda: array("d"))  # type: ignore[type-arg]
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # transport errors by kind
    new_ids: list[str] = field(default_factory=list)  # delivery ids answered 202
    repeat_ids: Counter[str] = field(default_factory=Counter)  # delivery ids answered 200 (duplicates)
    late_start: int = 0  # open loop: requests that waited for a free connection

    def record(self, status: int, body: bytes, latency: float) -> None:
        self.latencies.append(latency)
        self.statuses[status] += 1
        if status in (200, 202):
            pos = body.find(DELIVERY_MARK)
            if pos >= 0:
                start = pos + len(DELIVERY_MARK)
                value = body[start: body.find(b'"', start)].decode()
                if status == 202:
                    self.new_ids.append(value)
                else:
                    self.repeat_ids[value] += 1


async def run_closed(host: str, port: int, make: RequestFactory, *, concurrency: int, duration: float) -> Result:
    result = Result("closed")
    conns = [await _connect(host, port) for _ in range(concurrency)]
    seq = 0
    start = time.perf_counter()
    deadline = start + duration

    async def worker(conn: _Conn) -> None:
        nonlocal seq
        while time.perf_counter() < deadline:
            n = seq
            seq += 1
            data = make(n)
            result.sent += 1
            t0 = time.perf_counter()
            try:
                status, body = await conn.request(data)
            except (ConnectionLost, OSError, TimeoutError) as exc:
                result.errors[type(exc).__name__] += 1
                conn.close()
                try:
                    conn = await _connect(host, port)
                except OSError as exc2:
                    result.errors["connect:" + type(exc2).__name__] += 1
                    await asyncio.sleep(0.05)
                continue
            result.record(status, body, time.perf_counter() - t0)
        conn.close()

    await asyncio.gather(*(worker(c) for c in conns))
    result.duration = time.perf_counter() - start
    return result


async def run_open(host: str, port: int, make: RequestFactory, *, rate: float, duration: float,
                   max_connections: int = 512) -> Result:
    """Send ``rate`` requests/s on schedule for ``duration`` s; latency counts from the scheduled time."""
    result = Result("open")
    idle: list[_Conn] = [await _connect(host, port) for _ in range(32)]
    opened = len(idle)
    free = asyncio.Condition()
    tasks: set[asyncio.Task[None]] = set()

    async def take() -> _Conn:
        nonlocal opened
        async with free:
            while True:
                while idle:
                    conn = idle.pop()
                    if not conn.closed:
                        return conn
                    opened -= 1
                if opened < max_connections:
                    opened += 1
                    break
                await free.wait()
        try:
            return await _connect(host, port)
        except OSError:
            opened -= 1
            raise

    async def give(conn: _Conn) -> None:
        async with free:
            idle.append(conn)
            free.notify()

    async def one(n: int, scheduled: float) -> None:
        nonlocal opened
        data = make(n)
        try:
            conn = await take()
        except OSError as exc:
            result.errors["connect:" + type(exc).__name__] += 1
            return
        if time.perf_counter() - scheduled > 0.001:
            result.late_start += 1
        try:
            status, body = await conn.request(data)
        except (ConnectionLost, OSError, TimeoutError) as exc:
            result.errors[type(exc).__name__] += 1
            conn.close()
            async with free:
                opened -= 1
                free.notify()
            return
        result.record(status, body, time.perf_counter() - scheduled)
        await give(conn)

    start = time.perf_counter()
    interval = 1.0 / rate
    total = int(rate * duration)
    n = 0
    while n < total:
        now = time.perf_counter()
        due = min(total, int((now - start) / interval) + 1)
        while n < due:
            task = asyncio.create_task(one(n, start + n * interval))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            n += 1
            result.sent += 1
        next_at = start + n * interval
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    if tasks:
        await asyncio.wait(tasks, timeout=REQUEST_TIMEOUT + 5)
    result.duration = time.perf_counter() - start
    for conn in idle:
        conn.close()
    return result


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]
