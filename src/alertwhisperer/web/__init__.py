"""Server-rendered console (Jinja2 + HTMX)."""

from __future__ import annotations

from fastapi import FastAPI


def mount_web(app: FastAPI) -> None:
    return None
