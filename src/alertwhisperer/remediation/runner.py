"""Scaffold: replaced by its owner."""

from __future__ import annotations

from alertwhisperer.jobs.models import Job
from alertwhisperer.jobs.worker import JobContext


async def execute_job(ctx: JobContext, job: Job) -> None:
    raise NotImplementedError("runner.execute_job is being built")


async def verify_job(ctx: JobContext, job: Job) -> None:
    raise NotImplementedError("runner.verify_job is being built")
