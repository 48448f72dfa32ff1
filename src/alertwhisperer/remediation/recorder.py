"""An execution's output on its way to the database and the live view.

The executor hands pieces of stdout/stderr to ``OutputRecorder.add`` as they arrive; the recorder buffers them and
every ``FLUSH_SECONDS`` stores what came as ``ExecutionChunk`` rows (seq increasing, one row per stream run) in a
short transaction of its own, then publishes ``execution.output``. What it stores per stream is bounded like the
result (``MAX_OUTPUT``; a "system" line says when the rest is dropped). "system" pieces are the runner's own
milestones (connecting, health check, rollback). On the first real output the execution moves to ``running``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.clock import Clock
from alertwhisperer.remediation import events, states
from alertwhisperer.remediation.executions import lock_execution
from alertwhisperer.remediation.executors.base import MAX_OUTPUT, BoundedOutput
from alertwhisperer.remediation.models import ExecutionChunk

log = structlog.get_logger(__name__)

FLUSH_SECONDS = 0.25
Publish = Callable[[AsyncSession], Awaitable[None]]


async def next_seq(session: AsyncSession, execution_id: str) -> int:
    last = (await session.execute(select(func.max(ExecutionChunk.seq))
                                  .where(ExecutionChunk.execution_id == execution_id))).scalar_one_or_none()
    return int(last or 0) + 1


class OutputRecorder:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], publish: Publish, clock: Clock, *,
                 execution_id: str, company_id: str, first_seq: int = 1) -> None:
        self.sessionmaker = sessionmaker
        self.publish = publish
        self.clock = clock
        self.execution_id = execution_id
        self.company_id = company_id
        self.seq = first_seq
        self._pending: list[tuple[str, str]] = []
        self._budget: dict[str, BoundedOutput] = {}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.mark_running = True  # the main run: its first output moves the execution to running
        self._saw_output = False
        self.new_phase()

    def new_phase(self) -> None:
        """A fresh output budget (the rollback's output is bounded by itself, not by what the run printed)."""
        self._budget = {"stdout": BoundedOutput(MAX_OUTPUT), "stderr": BoundedOutput(MAX_OUTPUT)}

    @property
    def truncated(self) -> bool:
        return any(b.truncated for b in self._budget.values())

    async def result_truncated(self) -> None:
        """The executor dropped output beyond its bound (it forwards only what it kept): say so once."""
        if not self.truncated:
            self._budget["stdout"].truncated = True
            await self.system(f"the output passed {MAX_OUTPUT // 1024} KiB: the rest is not kept")

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name=f"output-{self.execution_id}")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            try:
                await self.flush()
            except Exception as exc:  # a database hiccup: the pieces stay buffered for the next try
                log.warning("remediation.output_flush_failed", execution_id=self.execution_id, error=str(exc)[:300])

    async def add(self, stream: str, text: str) -> None:
        """The executor's ``on_output``: keep what fits the stream's budget, store it with the next flush."""
        budget = self._budget.get(stream)
        if budget is None:
            return
        was_truncated = budget.truncated
        kept = budget.add(text)
        if kept:
            self._pending.append((stream, kept))
            self._saw_output = True
        if budget.truncated and not was_truncated:
            self._pending.append(("system", f"{stream} passed {MAX_OUTPUT // 1024} KiB: the rest is not kept\n"))

    async def system(self, text: str, *, flush: bool = True) -> None:
        """A milestone line of the runner's own (stored at once unless ``flush`` is False)."""
        self._pending.append(("system", text if text.endswith("\n") else text + "\n"))
        if flush:
            await self.flush()

    def _chunks(self, pending: list[tuple[str, str]], now: datetime) -> list[ExecutionChunk]:
        merged: list[tuple[str, str]] = []
        for stream, text in pending:
            if merged and merged[-1][0] == stream:
                merged[-1] = (stream, merged[-1][1] + text)
            else:
                merged.append((stream, text))
        chunks = []
        for stream, text in merged:
            chunks.append(ExecutionChunk(execution_id=self.execution_id, company_id=self.company_id, seq=self.seq,
                                         stream=stream, text=text, at=now))
            self.seq += 1
        return chunks

    async def flush(self) -> None:
        async with self._lock:
            if not self._pending and not (self._saw_output and self.mark_running):
                return
            pending, self._pending = self._pending, []
            seq = self.seq
            now = self.clock.now()
            try:
                async with self.sessionmaker() as session:
                    chunks = self._chunks(pending, now)
                    if self._saw_output and self.mark_running:
                        await self._to_running(session, now)
                    for chunk in chunks:
                        session.add(chunk)
                    await session.flush()
                    for chunk in chunks:
                        events.output_added(session, chunk)
                    await session.commit()
                    await self.publish(session)
            except BaseException:
                self._pending, self.seq = pending + self._pending, seq  # keep them for the next flush
                raise
            if self._saw_output:
                self.mark_running = False

    async def _to_running(self, session: AsyncSession, now: datetime) -> None:
        execution = await lock_execution(session, self.execution_id)
        if execution is None or execution.status != states.DISPATCHED:
            return
        states.check_move(execution.status, states.RUNNING)
        execution.status, execution.started_at, execution.updated_at = states.RUNNING, now, now
        events.execution_updated(session, execution)

    async def close(self) -> None:
        """Stop the periodic flush and store what is left."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()
