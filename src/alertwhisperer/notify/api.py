"""Routes (thin: validate, call the service, map errors)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api")
