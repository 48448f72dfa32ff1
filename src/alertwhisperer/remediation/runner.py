"""The runner: one execution's run, from "may it start?" to its health check, outcome and rollback — at most once.

``execute_job`` (background kind, payload ``execution_id``) works in short transactions of its own and never
holds one open while a host works. 1) The execution is locked: finished → nothing to do; ``dispatched`` or
``running`` → a worker died mid-run: it is failed as interrupted and **not started again**; else the gates are
checked again (approval, deadline, binding, policy), then the loop guard and cooldown, the target is resolved and
the execution becomes ``dispatched`` — committed before the executor is called, so from here it never starts
again. 2) The script of the pinned runbook version runs, its output stored as it comes (``recorder``). 3) The
result is stored; 4) the health check decides (``health``); 5) self-healed or escalated (``outcomes``), with the
rollback run when the runbook defines one and the run reached the host. ``verify_job`` decides the delayed
"did the alert resolve within N minutes?" check.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.audit import service as audit
from alertwhisperer.config import Settings
from alertwhisperer.correlation.models import Incident
from alertwhisperer.errors import DomainError
from alertwhisperer.incidents import sla, timeline
from alertwhisperer.jobs import service as jobs
from alertwhisperer.jobs.models import Job
from alertwhisperer.jobs.worker import JobContext, PermanentError
from alertwhisperer.remediation import access, events, gates, guard, health, hooks, outcomes, runbooks, states
from alertwhisperer.remediation import spec as specs
from alertwhisperer.remediation.executions import lock_execution
from alertwhisperer.remediation.executors import executor_for
from alertwhisperer.remediation.executors.base import Command, Executor, ExecutorUnavailable, RunResult, Target
from alertwhisperer.remediation.models import Execution
from alertwhisperer.remediation.policy import policy_of
from alertwhisperer.remediation.recorder import OutputRecorder, next_seq
from alertwhisperer.tenants.models import Company

log = structlog.get_logger(__name__)

INTERRUPTED = "interrupted: the worker stopped during the run; not started again (at most once)"
GRACE_SECONDS = 30.0  # beyond the runbook's own timeouts, before the runner stops waiting for an executor
ACTOR = "system (runner)"
SM = async_sessionmaker[AsyncSession]


@dataclass
class Plan:
    """What a dispatched execution runs, where and how (secrets only in memory)."""

    execution_id: str
    company_id: str
    params: dict[str, Any]
    spec: specs.RunbookSpec
    target: Target
    executor: Executor
    command: Command
    recorder: OutputRecorder


def _tools(ctx: JobContext) -> tuple[Settings, SM]:
    if ctx.settings is None or ctx.sessionmaker is None:
        raise PermanentError("the runner needs a worker with settings and a sessionmaker")
    return ctx.settings, ctx.sessionmaker


def _execution_id(job: Job) -> str:
    value = job.payload.get("execution_id")
    if not isinstance(value, str) or not value:
        raise PermanentError(f"{job.kind} job without execution_id")
    return value


async def _incident_of(session: AsyncSession, execution: Execution) -> Incident | None:
    return await session.get(Incident, execution.incident_id) if execution.incident_id else None


async def note(session: AsyncSession, execution: Execution, now: datetime, body: str, **data: Any) -> None:
    """A "runbook" entry on the execution's incident timeline (none for a run without an incident)."""
    incident = await _incident_of(session, execution)
    if incident is not None:
        await timeline.record(session, incident=incident, kind="runbook", now=now, actor_name=outcomes.RUNNER,
                              body=body, data={"execution_id": execution.id, **data})


async def _audit(session: AsyncSession, ctx: JobContext, execution: Execution, action: str, **details: Any) -> None:
    await audit.record(session, clock=ctx.clock, action=f"execution.{action}", actor=None, actor_email=ACTOR,
                       company_id=execution.company_id, target_type="execution", target_id=execution.id,
                       details={"runbook": execution.runbook_slug, "version": execution.runbook_version,
                                "asset": execution.asset_name, **details})


async def _stop(session: AsyncSession, ctx: JobContext, execution: Execution, status: str, reason: str, *,
                escalate: bool) -> None:
    """End an execution that will not run (or was interrupted): status, reason, audit, timeline, live event."""
    now = ctx.clock.now()
    states.check_move(execution.status, status)
    execution.status, execution.status_reason = status, reason
    execution.finished_at = execution.updated_at = now
    await _audit(session, ctx, execution, status, reason=reason[:500])
    await note(session, execution, now, f"{outcomes.what(execution)}: {status.replace('_', ' ')} — {reason}",
               event=status, status=status)
    if escalate:
        await outcomes.escalate(session, clock=ctx.clock, execution=execution, reason=reason)
    events.execution_updated(session, execution)


async def _commit(session: AsyncSession, ctx: JobContext) -> None:
    await session.commit()
    await ctx.publish(session)


# --- 1. may it start? -----------------------------------------------------------------------------------------
async def _prepare(ctx: JobContext, settings: Settings, sm: SM, execution_id: str) -> Plan | None:
    now = ctx.clock.now()
    async with sm() as session:
        execution = await lock_execution(session, execution_id)
        if execution is not None and execution.status == states.SUCCEEDED and not execution.health:
            await _store_health(session, ctx, execution, health.HealthResult(  # died between run and check
                health.FAILED, "", "not checked: the worker stopped before the health check was made"))
            await _commit(session, ctx)
            return None
        if execution is None or execution.status in states.FINAL:
            return None  # finished (a retried job after completion does nothing) or deleted with its company
        if execution.status in states.IN_FLIGHT:
            await _stop(session, ctx, execution, states.FAILED, INTERRUPTED, escalate=True)
            await _commit(session, ctx)
            return None
        refusal = await gates.check_before_run(session, settings=settings, execution=execution, now=now)
        if refusal is not None:
            await _stop(session, ctx, execution, refusal.status, refusal.reason, escalate=False)
            await _commit(session, ctx)
            return None
        plan = await _plan(session, ctx, settings, sm, execution, now)
        await _commit(session, ctx)
    if plan is not None:
        plan.recorder.start()
        await plan.recorder.system(_connecting(plan.target))
    return plan


async def _plan(session: AsyncSession, ctx: JobContext, settings: Settings, sm: SM, execution: Execution,
                now: datetime) -> Plan | None:
    """Loop guard, cooldown, target and script; then ``dispatched`` (the caller commits). None: stopped."""
    try:
        _, spec = await runbooks.get_version(session, version_id=execution.runbook_version_id)
    except DomainError as exc:
        await _stop(session, ctx, execution, states.CANCELLED, f"runbook version unavailable: {exc.message}",
                    escalate=True)
        return None
    company = await session.get(Company, execution.company_id)
    limit = policy_of(company).max_runs_per_hour if company is not None else 1
    stop = await guard.check(session, execution=execution, max_runs_per_hour=limit,
                             cooldown_minutes=spec.cooldown_minutes, now=now)
    if stop is not None:
        await _stop(session, ctx, execution, states.CANCELLED, stop.reason, escalate=stop.kind == "loop_guard")
        return None
    try:
        target = await access.resolve_target(session, settings=settings, company_id=execution.company_id,
                                             asset_id=execution.asset_id or "")
        executor = executor_for(target.executor, settings)
        script, shell = specs.render_script(spec, target.os, execution.params)
    except (DomainError, ExecutorUnavailable) as exc:
        reason = exc.message if isinstance(exc, DomainError) else str(exc)
        await _stop(session, ctx, execution, states.UNDELIVERABLE, f"not delivered: {reason}", escalate=True)
        return None
    states.check_move(execution.status, states.DISPATCHED)
    execution.status, execution.status_reason = states.DISPATCHED, ""
    execution.dispatched_at = execution.updated_at = now
    await _audit(session, ctx, execution, "dispatched", executor=target.executor, trigger=execution.trigger)
    await note(session, execution, now, f"Running {outcomes.what(execution)} via {target.executor}",
               event="dispatched", status=states.DISPATCHED)
    events.execution_updated(session, execution)
    recorder = OutputRecorder(sm, ctx.publish, ctx.clock, execution_id=execution.id, company_id=execution.company_id,
                              first_seq=await next_seq(session, execution.id))
    command = Command(script=script, shell=shell, timeout_seconds=float(spec.timeout_seconds),
                      delivery_timeout_seconds=float(spec.delivery_timeout_seconds))
    return Plan(execution.id, execution.company_id, dict(execution.params), spec, target, executor, command,
                recorder)


def _connecting(target: Target) -> str:
    if target.executor == "ssh":
        who = f"{target.secret.username}@" if target.secret.username else ""
        return f"connecting to {target.asset_name} over ssh as {who}{target.host}:{target.port}" \
               + (" (sudo)" if target.sudo else "")
    if target.executor == "ssm":
        return f"sending to {target.asset_name} through AWS Systems Manager ({target.instance_id}, {target.region})"
    return f"running on the Alert Whisperer host for {target.asset_name} (local executor)"


# --- 2. run ---------------------------------------------------------------------------------------------------
async def run_command(executor: Executor, target: Target, command: Command,
                      recorder: OutputRecorder | None) -> RunResult:
    """The executor's run, with a last-resort deadline; an executor that raises is a failed run."""
    limit = command.timeout_seconds + command.delivery_timeout_seconds + GRACE_SECONDS
    try:
        return await asyncio.wait_for(
            executor.run(target, command, on_output=recorder.add if recorder is not None else None), timeout=limit)
    except TimeoutError:
        return RunResult(status="timed_out", error=f"the executor did not answer within {limit:g} s")
    except Exception as exc:
        log.warning("remediation.executor_error", executor=executor.kind, error=str(exc)[:300])
        return RunResult(status="failed", error=f"executor error: {type(exc).__name__}: {exc}"[:1000])


def _apply_result(execution: Execution, result: RunResult, now: datetime) -> None:
    if execution.status not in states.IN_FLIGHT:  # marked interrupted meanwhile (a lease lost): keep its status
        execution.status_reason += f" (the run did finish later: {result.status}, exit {result.exit_code})"
    else:
        status: str = result.status
        if not states.can_move(execution.status, status):  # output came, then "undeliverable": it did reach it
            status = states.FAILED
        states.check_move(execution.status, status)
        execution.status, execution.status_reason = status, result.error
    if execution.started_at is None and result.status != states.UNDELIVERABLE:
        execution.started_at = execution.dispatched_at or now
    execution.exit_code, execution.stdout, execution.stderr = result.exit_code, result.stdout, result.stderr
    execution.truncated, execution.duration_ms = result.truncated, result.duration_ms
    execution.external_id = result.external_id[:128]
    execution.finished_at = execution.updated_at = now


def _finished_text(execution: Execution, result: RunResult) -> str:
    seconds = f"{result.duration_ms / 1000:.1f} s"
    code = f"exit {result.exit_code}, " if result.exit_code is not None else ""
    why = f": {result.error}" if result.error and result.status != states.SUCCEEDED else ""
    return f"{outcomes.what(execution)} {result.status.replace('_', ' ')} ({code}{seconds}){why}"


# --- 3-5. finish, health, outcome -------------------------------------------------------------------------------
async def _finish(ctx: JobContext, sm: SM, plan: Plan, result: RunResult) -> bool:
    """Store the result; decide what needs no remote work. True: a command/http health check is still to make."""
    now = ctx.clock.now()
    remote = False
    async with sm() as session:
        execution = await lock_execution(session, plan.execution_id)
        assert execution is not None
        _apply_result(execution, result, now)
        await _audit(session, ctx, execution, "finished", status=execution.status, exit_code=result.exit_code,
                     duration_ms=result.duration_ms, truncated=result.truncated)
        await note(session, execution, now, _finished_text(execution, result), event="finished",
                   status=execution.status, exit_code=result.exit_code)
        if execution.status != states.SUCCEEDED:
            await outcomes.escalate(session, clock=ctx.clock, execution=execution,
                                    reason=_finished_text(execution, result))
        elif health.needs_remote_check(plan.spec):
            remote = True
        elif plan.spec.health_check is not None and plan.spec.health_check.kind == "alert_resolved" \
                and execution.incident_id is not None:
            await _await_alerts(session, execution, plan.spec.health_check.within_minutes, now)
        else:
            result_ = health.NONE_DEFINED if plan.spec.health_check is None else \
                health.HealthResult(health.SKIPPED, plan.spec.health_check.kind, "no incident to watch: not checked")
            await _store_health(session, ctx, execution, result_)
        events.execution_updated(session, execution)
        await _commit(session, ctx)
    return remote


async def _await_alerts(session: AsyncSession, execution: Execution, minutes: int, now: datetime) -> None:
    execution.health = health.HealthResult(health.PENDING, "alert_resolved",
                                           f"waiting up to {minutes} minutes for the alerts to clear").as_dict(None)
    await jobs.enqueue(session, kind=hooks.VERIFY_JOB, now=now, due_at=now + timedelta(minutes=minutes),
                       company_id=execution.company_id, dedup_key=f"verify:{execution.id}",
                       payload={"execution_id": execution.id}, max_attempts=5)


async def _store_health(session: AsyncSession, ctx: JobContext, execution: Execution,
                        result: health.HealthResult) -> None:
    """Record the check's verdict and act on it (self-healed or escalated)."""
    now = ctx.clock.now()
    execution.health, execution.updated_at = result.as_dict(now), now
    await _audit(session, ctx, execution, "health_checked", health=result.status, kind=result.kind)
    if result.status == health.SKIPPED:  # ran fine, but nothing proves the fix: the incident stays with people
        await note(session, execution, now, f"{execution.runbook_title} v{execution.runbook_version} on "
                   f"{execution.asset_name} finished without a health check ({result.detail}); the incident stays "
                   "open for a technician to confirm", event="unverified", health=result.status)
    elif result.passed:
        await outcomes.self_heal(session, clock=ctx.clock, execution=execution)
    else:
        await outcomes.escalate(session, clock=ctx.clock, execution=execution,
                                reason=f"health check failed: {result.detail}")
    events.execution_updated(session, execution)


async def _health(ctx: JobContext, sm: SM, plan: Plan) -> health.HealthResult:
    await plan.recorder.system(f"health check: {plan.spec.health_check.kind if plan.spec.health_check else ''}…")
    result = await health.check_now(plan.spec, target=plan.target, executor=plan.executor, params=plan.params)
    await plan.recorder.system(f"health check {result.status}: {result.detail.splitlines()[0][:300]}")
    async with sm() as session:
        execution = await lock_execution(session, plan.execution_id)
        assert execution is not None
        await _store_health(session, ctx, execution, result)
        await _commit(session, ctx)
    return result


def rollback_applies(spec: specs.RunbookSpec, os: str, result_status: str, health_failed: bool) -> bool:
    """A rollback runs when the runbook has one for the OS and the run reached the host (it ran and failed or
    timed out, or it succeeded but its health check failed) — never for a run that was not delivered."""
    reached = result_status in (states.FAILED, states.TIMED_OUT) or (result_status == states.SUCCEEDED
                                                                     and health_failed)
    return reached and bool(spec.rollback.get(os))  # type: ignore[call-overload]


async def run_rollback(ctx: JobContext, sm: SM, *, execution_id: str, spec: specs.RunbookSpec, target: Target,
                       executor: Executor, params: dict[str, Any], recorder: OutputRecorder) -> None:
    """Run the rollback steps on the same target and store ``execution.rollback`` (+ timeline, audit)."""
    script, shell = specs.render_script(spec, target.os, params, rollback=True)
    recorder.new_phase()
    recorder.mark_running = False
    await recorder.system("rollback: running the runbook's rollback steps")
    result = await run_command(executor, target, Command(
        script=script, shell=shell, timeout_seconds=float(spec.timeout_seconds),
        delivery_timeout_seconds=float(spec.delivery_timeout_seconds)), recorder)
    code = f" (exit {result.exit_code})" if result.exit_code is not None else ""
    await recorder.system(f"rollback {result.status}{code}" + (f": {result.error}" if result.error else ""))
    now = ctx.clock.now()
    async with sm() as session:
        execution = await lock_execution(session, execution_id)
        assert execution is not None
        execution.rollback, execution.updated_at = outcomes.rollback_record(result, at=now), now
        await _audit(session, ctx, execution, "rolled_back", status=result.status, exit_code=result.exit_code)
        await note(session, execution, now, f"Rollback of {outcomes.what(execution)} {result.status}{code}",
                   event="rollback", status=result.status, exit_code=result.exit_code,
                   output_tail={"stdout": outcomes.tail(result.stdout), "stderr": outcomes.tail(result.stderr)})
        events.execution_updated(session, execution)
        await _commit(session, ctx)


# --- the jobs ---------------------------------------------------------------------------------------------------
async def execute_job(ctx: JobContext, job: Job) -> None:
    settings, sm = _tools(ctx)
    plan = await _prepare(ctx, settings, sm, _execution_id(job))
    if plan is None:
        return
    try:
        result = await run_command(plan.executor, plan.target, plan.command, plan.recorder)
        if result.truncated:
            await plan.recorder.result_truncated()
        await plan.recorder.flush()
        health_failed = False
        if await _finish(ctx, sm, plan, result):
            health_failed = not (await _health(ctx, sm, plan)).passed
        if rollback_applies(plan.spec, plan.target.os, result.status, health_failed):
            await run_rollback(ctx, sm, execution_id=plan.execution_id, spec=plan.spec, target=plan.target,
                               executor=plan.executor, params=plan.params, recorder=plan.recorder)
    finally:
        await plan.recorder.close()


async def verify_job(ctx: JobContext, job: Job) -> None:
    """The ``alert_resolved`` check is due: passed if the incident's alerts cleared since the run started."""
    settings, sm = _tools(ctx)
    execution_id = _execution_id(job)
    async with sm() as session:
        execution = await lock_execution(session, execution_id)
        if execution is None or execution.health.get("status") != health.PENDING:
            return  # decided already (a repeated job does nothing)
        incident = await sla.locked_incident(session, execution.incident_id) if execution.incident_id else None
        result = health.alert_resolved(incident, since=execution.started_at or execution.dispatched_at)
        await _store_health(session, ctx, execution, result)
        spec_version = execution.runbook_version_id
        params, company_id, asset_id = dict(execution.params), execution.company_id, execution.asset_id or ""
        first_seq = await next_seq(session, execution.id)
        await _commit(session, ctx)
    if result.passed:
        return
    async with sm() as session:
        _, spec = await runbooks.get_version(session, version_id=spec_version)
        try:
            target = await access.resolve_target(session, settings=settings, company_id=company_id,
                                                 asset_id=asset_id)
            executor = executor_for(target.executor, settings)
        except (DomainError, ExecutorUnavailable) as exc:
            log.warning("remediation.rollback_unreachable", execution_id=execution_id, error=str(exc)[:300])
            return
    if not rollback_applies(spec, target.os, states.SUCCEEDED, True):
        return
    recorder = OutputRecorder(sm, ctx.publish, ctx.clock, execution_id=execution_id, company_id=company_id,
                              first_seq=first_seq)
    recorder.mark_running = False
    try:
        await run_rollback(ctx, sm, execution_id=execution_id, spec=spec, target=target, executor=executor,
                           params=params, recorder=recorder)
    finally:
        await recorder.close()
