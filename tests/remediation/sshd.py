"""A real OpenSSH sshd on a loopback port for the SSH executor tests (scaffold; filled in by its owner)."""

from __future__ import annotations

import pytest


@pytest.fixture
def sshd() -> None:
    pytest.skip("sshd fixture not built yet")
