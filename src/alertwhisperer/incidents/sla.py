"""Job handlers of this domain."""

from __future__ import annotations

from alertwhisperer.jobs.worker import Registry


def register(registry: Registry) -> None:
    """Add this domain's job handlers to the worker's registry."""
