"""The app's settings: URL normalisation, one-line errors naming the variable, secrets never shown."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.settings import SettingsError, load_settings

REPO = Path(__file__).resolve().parents[2]
VARIABLES = ("DATABASE_URL", "DIRECT_DATABASE_URL", "DB_SCHEMA", "DB_POOL_MODE", "DB_SEMAPHORE_LIMIT")


@pytest.fixture(name="env")
def _env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A clean environment for the app's variables."""
    for variable in VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    return monkeypatch


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "postgresql+psycopg2"])
def test_urls_are_normalised_to_psycopg(env: pytest.MonkeyPatch, scheme: str) -> None:
    """postgres://, postgresql:// and other drivers' URLs become postgresql+psycopg:// URLs."""
    env.setenv("DATABASE_URL", f"{scheme}://app:pw@pgbouncer:6432/app")
    env.setenv("DIRECT_DATABASE_URL", f"{scheme}://app:pw@postgres:5432/app")
    settings = load_settings()
    assert "postgresql+psycopg://app:pw@pgbouncer:6432/app" == settings.database_url.get_secret_value()
    assert "postgresql+psycopg://app:pw@postgres:5432/app" == settings.direct_url()


def test_a_missing_database_url_is_one_line_naming_it(env: pytest.MonkeyPatch) -> None:
    """Without DATABASE_URL the error says to set it."""
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "DATABASE_URL: is not set: export it" == str(caught.value)


def test_bad_values_are_named_without_echoing_the_password(env: pytest.MonkeyPatch) -> None:
    """Each bad variable is named in one line, and a URL's password never appears in the message."""
    env.setenv("DATABASE_URL", "mysql://app:hunter2@db:3306/app")
    env.setenv("DB_SCHEMA", "Bad-Schema")
    env.setenv("DB_SEMAPHORE_LIMIT", "lots")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message
    assert "hunter2" not in message
    assert message.startswith("DATABASE_URL: not a PostgreSQL URL (scheme 'mysql')")
    assert "DB_SCHEMA: must be a lower-case SQL identifier" in message
    assert "DB_SEMAPHORE_LIMIT: " in message


def test_the_direct_url_is_required_for_admin_work_behind_pgbouncer(env: pytest.MonkeyPatch) -> None:
    """Behind PgBouncer without DIRECT_DATABASE_URL, asking for the direct URL says what to set."""
    env.setenv("DATABASE_URL", "postgresql://app:pw@pgbouncer:6432/app")
    with pytest.raises(SettingsError, match="DIRECT_DATABASE_URL is not set"):
        load_settings().direct_url()
    env.setenv("DB_POOL_MODE", "direct")
    assert "postgresql+psycopg://app:pw@pgbouncer:6432/app" == load_settings().direct_url()


def test_the_secret_is_masked_in_the_settings_repr(env: pytest.MonkeyPatch) -> None:
    """Printing or logging the settings object shows no password."""
    env.setenv("DATABASE_URL", "postgresql://app:hunter2@pgbouncer:6432/app")
    assert "hunter2" not in repr(load_settings())


@pytest.mark.usefixtures("subprocesses")
def test_the_server_refuses_to_start_with_one_line(env: pytest.MonkeyPatch) -> None:
    """uvicorn with a bad DATABASE_URL exits non-zero, its last line naming the variable."""
    env.setenv("DATABASE_URL", "mysql://app:hunter2@db:3306/app")
    done = subprocess.run(
        [sys.executable, "-c", "from app.main import create_app; create_app()"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert 1 == done.returncode
    assert (
        "error: DATABASE_URL: not a PostgreSQL URL (scheme 'mysql'): set DATABASE_URL to "
        "postgresql://user:password@host:port/db" == done.stderr.strip()
    )
