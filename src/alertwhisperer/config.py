"""Settings from the environment / ``.env`` (prefix ``ALERTWHISPERER_``).

No settings object is built at import time: call :func:`get_settings` (cached) or build
``Settings(...)`` explicitly (tests do).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["development", "test", "production"]

SECRET_FILE_NAME = "secret_key"  # noqa: S105
MIN_SECRET_LENGTH = 32


class UnsafeConfigurationError(RuntimeError):
    """Raised at start when production mode meets an unsafe default."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ALERTWHISPERER_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    env: Environment = "development"
    data_dir: Path = Field(default_factory=lambda: Path(os.environ.get("ALERTWHISPERER_DATA_DIR", "./data")))
    database_url: str | None = None
    secret_key: SecretStr | None = None
    demo: bool = Field(default=True, description="Seed demo data on first run (refused in production)")
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None
    redis_url: str | None = None
    log_level: str = "INFO"
    log_json: bool = True

    access_token_minutes: int = 30
    refresh_token_days: int = 7
    password_min_length: int = 12
    login_max_failures: int = 5
    login_failure_window_seconds: int = 900
    cookie_secure: bool = False
    local_executor_enabled: bool = True
    sns_confirm_host_pattern: str = r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$"
    sns_confirm_allow_http: bool = Field(default=False, description="tests only: confirm over plain http")
    embedded_worker: bool = Field(default=True, description="the server runs the job worker itself")
    web_processes: int = Field(default=1, ge=1, le=64, description=(
        "HTTP server processes sharing the port; more than one needs Redis (exact rate limits and live "
        "events across processes) — the job worker still runs once"))
    worker_process: bool = Field(default=True, description=(
        "run the embedded worker as a supervised child process (default) rather than inside the server "
        "process: correlation then never competes with accepting webhooks for the interpreter lock"))
    worker_nice: int = Field(default=10, ge=0, le=19, description=(
        "CPU priority offset of the worker process: under load, accepting alerts wins, processing catches up"))

    # Outgoing email (notifications). No host: email notifications are not sent (the delivery log says why).
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "Alert Whisperer <alerts@localhost>"
    smtp_security: Literal["none", "starttls", "ssl"] = "starttls"
    smtp_timeout: float = Field(default=15.0, gt=0, le=300, description="seconds for connecting and each command")
    apprise_timeout: float = Field(default=20.0, gt=0, le=300, description="seconds for one Apprise notification")

    # The optional AI advisor of the remediation decision engine (off by default; it can only suggest).
    advisor_provider: Literal["off", "anthropic", "openai", "bedrock", "gemini"] = "off"
    advisor_model: str = ""
    advisor_api_key: SecretStr | None = None
    advisor_base_url: str | None = Field(default=None, description="OpenAI-compatible servers (local models too)")
    advisor_region: str = "us-east-1"  # Bedrock
    advisor_timeout: float = Field(default=8.0, gt=0, le=120, description="seconds before the rules decide alone")

    # Filled in by resolve(); True when the secret key was generated and persisted by us.
    secret_generated: bool = False

    @model_validator(mode="after")
    def _defaults(self) -> Settings:
        if self.database_url is None:
            self.database_url = f"sqlite+aiosqlite:///{(self.data_dir / 'alertwhisperer.db').resolve()}"
        return self

    @property
    def db_url(self) -> str:
        assert self.database_url is not None
        return self.database_url

    @property
    def hub_dir(self) -> Path:
        """Where the processes of this installation meet (the socket hub without Redis).

        Unix socket paths are limited to 107 bytes: a deep data directory meets under the temp directory
        instead, in a folder named after a hash of the data directory (still one per installation)."""
        path = self.data_dir.resolve() / "run" / "hub"
        if len(str(path)) > 80:
            digest = hashlib.sha256(str(path).encode()).hexdigest()[:16]
            path = Path(tempfile.gettempdir()) / f"alertwhisperer-hub-{digest}"
        return path

    @property
    def is_sqlite(self) -> bool:
        return self.db_url.startswith("sqlite")

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def secret(self) -> str:
        if self.secret_key is None:
            raise UnsafeConfigurationError("secret key not resolved; call resolve_secret() first")
        return self.secret_key.get_secret_value()

    def resolve_secret(self) -> Settings:
        """Generate and persist a secret key under the data directory when none is configured."""
        if self.secret_key is not None:
            return self
        path = self.data_dir / SECRET_FILE_NAME
        if path.exists():
            value = path.read_text().strip()
        else:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            value = secrets.token_urlsafe(48)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(value + "\n")
        self.secret_key = SecretStr(value)
        self.secret_generated = True
        return self

    def check_production(self) -> None:
        """Refuse unsafe defaults when running in production mode, naming each problem."""
        if self.env != "production":
            return
        problems: list[str] = []
        if self.secret_key is None or self.secret_generated:
            problems.append("ALERTWHISPERER_SECRET_KEY must be set explicitly (a generated key is refused)")
        elif len(self.secret_key.get_secret_value()) < MIN_SECRET_LENGTH:
            problems.append(f"ALERTWHISPERER_SECRET_KEY must be at least {MIN_SECRET_LENGTH} characters")
        if self.demo:
            problems.append("demo data is refused: set ALERTWHISPERER_DEMO=false")
        if self.local_executor_enabled:
            problems.append("the local executor is refused: set ALERTWHISPERER_LOCAL_EXECUTOR_ENABLED=false")
        if not self.cookie_secure:
            problems.append("cookies must be Secure behind HTTPS: set ALERTWHISPERER_COOKIE_SECURE=true")
        if problems:
            raise UnsafeConfigurationError(
                "refusing to start in production mode:\n  - " + "\n  - ".join(problems)
            )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings().resolve_secret()
