"""Fixtures for the chat tests: cheap password hashing (see tests/auth/helpers.py) and a real server."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
import uvicorn
from fastapi import FastAPI

from tests.auth.helpers import cheap_argon2  # noqa: F401


@pytest.fixture
async def server_url(app: FastAPI) -> AsyncIterator[str]:
    """Serve the test app with uvicorn on a free loopback port (the app's lifespan already ran): real HTTP and
    real WebSockets."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning", ws="websockets-sansio"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()
