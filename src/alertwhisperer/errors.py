"""Domain errors raised by services; api.py modules and the app map them to HTTP answers."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status_code = 400
    code = "error"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(DomainError):
    """Missing, or outside the caller's scope (never reveal which)."""

    status_code = 404
    code = "not_found"


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class Invalid(DomainError):
    status_code = 422
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.field = field


class Unauthenticated(DomainError):
    status_code = 401
    code = "unauthenticated"


class Throttled(DomainError):
    status_code = 429
    code = "throttled"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
