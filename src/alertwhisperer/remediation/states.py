"""The one normalised state machine of an execution, whatever executor runs it.

    queued ─────────────► dispatched ─► running ─► succeeded | failed | timed_out
    pending_approval ─► approved ─┘ │               (health check and rollback follow a finished run)
        │      └──────► expired     └─► undeliverable (never reached the target: no route, refused, unreachable)
        └─► cancelled (rejected, withdrawn)   any non-final ─► cancelled | expired

``queued``: allowed to run without an approval (low risk + auto_approve, policy permitting). ``expired``: the
approval's deadline passed before the run started (checked at execution time). ``dispatched``: handed to the
executor — from here on it is never started again (at most once per approval, even across a worker crash).
"""

from __future__ import annotations

from alertwhisperer.errors import Conflict

QUEUED = "queued"
PENDING_APPROVAL = "pending_approval"
APPROVED = "approved"
DISPATCHED = "dispatched"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
TIMED_OUT = "timed_out"
CANCELLED = "cancelled"
EXPIRED = "expired"
UNDELIVERABLE = "undeliverable"

STATUSES: tuple[str, ...] = (QUEUED, PENDING_APPROVAL, APPROVED, DISPATCHED, RUNNING, SUCCEEDED, FAILED,
                             TIMED_OUT, CANCELLED, EXPIRED, UNDELIVERABLE)
FINAL: frozenset[str] = frozenset({SUCCEEDED, FAILED, TIMED_OUT, CANCELLED, EXPIRED, UNDELIVERABLE})
WAITING: frozenset[str] = frozenset({QUEUED, PENDING_APPROVAL, APPROVED})  # not handed to an executor yet
IN_FLIGHT: frozenset[str] = frozenset({DISPATCHED, RUNNING})

TRANSITIONS: dict[str, frozenset[str]] = {
    QUEUED: frozenset({DISPATCHED, CANCELLED, EXPIRED, UNDELIVERABLE}),
    PENDING_APPROVAL: frozenset({APPROVED, CANCELLED, EXPIRED}),
    APPROVED: frozenset({DISPATCHED, CANCELLED, EXPIRED, UNDELIVERABLE}),
    DISPATCHED: frozenset({RUNNING, SUCCEEDED, FAILED, TIMED_OUT, UNDELIVERABLE, CANCELLED}),
    RUNNING: frozenset({SUCCEEDED, FAILED, TIMED_OUT, CANCELLED}),
}


def can_move(current: str, wanted: str) -> bool:
    return wanted in TRANSITIONS.get(current, frozenset())


def check_move(current: str, wanted: str) -> None:
    """Raise ``Conflict`` naming both statuses when ``current → wanted`` is not a transition of the machine."""
    if not can_move(current, wanted):
        raise Conflict(f"execution is {current}; it cannot become {wanted}",
                       details={"status": current, "wanted": wanted})
