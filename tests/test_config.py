"""Settings: production mode refuses unsafe defaults (each named); the secret key is generated once, 0600."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from alertwhisperer.config import Settings, UnsafeConfigurationError
from alertwhisperer.main import create_app

SAFE = {"env": "production", "secret_key": "s" * 48, "demo": False, "local_executor_enabled": False,
        "cookie_secure": True}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in [k for k in os.environ if k.startswith("ALERTWHISPERER_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no stray .env


def _prod(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(**{**SAFE, "data_dir": tmp_path, **overrides})  # type: ignore[arg-type]


def test_safe_production_settings_start(tmp_path: Path) -> None:
    create_app(_prod(tmp_path))


@pytest.mark.parametrize(("override", "named"), [
    ({"secret_key": None}, "ALERTWHISPERER_SECRET_KEY must be set explicitly"),
    ({"secret_key": "short"}, "at least 32 characters"),
    ({"demo": True}, "ALERTWHISPERER_DEMO=false"),
    ({"local_executor_enabled": True}, "ALERTWHISPERER_LOCAL_EXECUTOR_ENABLED=false"),
    ({"cookie_secure": False}, "ALERTWHISPERER_COOKIE_SECURE=true"),
])
def test_production_refuses_each_unsafe_default_by_name(tmp_path: Path, override: dict[str, object],
                                                        named: str) -> None:
    with pytest.raises(UnsafeConfigurationError) as exc:
        create_app(_prod(tmp_path, **override))
    message = str(exc.value)
    assert "refusing to start in production mode" in message
    assert named in message
    assert message.count("\n  - ") == 1  # only the one problem is reported


def test_all_problems_are_listed_at_once(tmp_path: Path) -> None:
    settings = Settings(env="production", data_dir=tmp_path)
    with pytest.raises(UnsafeConfigurationError) as exc:
        create_app(settings)
    assert str(exc.value).count("\n  - ") == 4


def test_a_persisted_generated_secret_is_still_refused_in_production(tmp_path: Path) -> None:
    Settings(data_dir=tmp_path).resolve_secret()  # development run generated one
    with pytest.raises(UnsafeConfigurationError, match="SECRET_KEY"):
        create_app(_prod(tmp_path, secret_key=None))


def test_environment_variables_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERTWHISPERER_ENV", "production")
    monkeypatch.setenv("ALERTWHISPERER_DATA_DIR", str(tmp_path))
    settings = Settings()
    assert settings.env == "production"
    assert settings.db_url == f"sqlite+aiosqlite:///{tmp_path.resolve() / 'alertwhisperer.db'}"
    with pytest.raises(UnsafeConfigurationError):
        settings.resolve_secret().check_production()


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("ALERTWHISPERER_ACCESS_TOKEN_MINUTES=5\nALERTWHISPERER_ENV=test\n")
    settings = Settings()
    assert settings.access_token_minutes == 5 and settings.env == "test"


def test_secret_is_generated_once_and_persisted_privately(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = Settings(data_dir=data).resolve_secret()
    path = data / "secret_key"
    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.secret_generated
    assert len(first.secret()) >= 32
    second = Settings(data_dir=data).resolve_secret()
    assert second.secret() == first.secret()  # tokens survive a restart
    assert path.read_text().strip() == first.secret()
    explicit = Settings(data_dir=data, secret_key="e" * 40).resolve_secret()
    assert explicit.secret() == "e" * 40 and not explicit.secret_generated


def test_serve_refuses_production_defaults_with_exit_2(tmp_path: Path) -> None:
    exe = str(Path(sys.executable).parent / "alertwhisperer")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTWHISPERER_")}
    env.update(ALERTWHISPERER_ENV="production", ALERTWHISPERER_DATA_DIR=str(tmp_path))
    proc = subprocess.run([exe, "serve", "--port", "1"], capture_output=True, text=True, env=env, timeout=60,
                          cwd=tmp_path)
    assert proc.returncode == 2
    assert "refusing to start in production mode" in proc.stderr
    for name in ("SECRET_KEY", "DEMO", "LOCAL_EXECUTOR_ENABLED", "COOKIE_SECURE"):
        assert name in proc.stderr
