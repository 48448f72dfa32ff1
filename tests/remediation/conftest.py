"""Fixtures of the remediation tests. The real OpenSSH server (``sshd``) lives in ``tests/remediation/sshd.py``."""

from __future__ import annotations

from tests.remediation.sshd import sshd  # noqa: F401  (fixture)
