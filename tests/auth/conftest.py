"""Fixtures for these tests (see tests/auth/helpers.py)."""

from tests.auth.helpers import cheap_argon2  # noqa: F401
