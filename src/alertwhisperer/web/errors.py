from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from alertwhisperer.errors import DomainError


def wants_html(request: Request) -> bool:
    return False


def html_error(request: Request, exc: DomainError) -> JSONResponse:
    raise NotImplementedError
