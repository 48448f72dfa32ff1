"""Scaffold: replaced by its owner."""

from __future__ import annotations

from alertwhisperer.jobs.models import Job
from alertwhisperer.jobs.worker import JobContext


async def scan_job(ctx: JobContext, job: Job) -> None:
    raise NotImplementedError("patches.scan_job is being built")
