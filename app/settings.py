"""The app's one settings object, read from the environment (Cloud Run, the migration job, tests).

Bad values fail at start-up with one line naming the variable; URLs are secrets and never printed.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.identifiers import IDENTIFIER_RULE, is_identifier
from app.urls import UnsafeURLError, to_psycopg_url

PoolMode = Literal["pgbouncer-transaction", "direct"]


class SettingsError(ValueError):
    """An environment variable is missing or invalid; the message names it and says what to set."""


def _normalised(value: SecretStr, variable: str) -> SecretStr:
    """The URL rewritten to the psycopg 3 dialect; the error never echoes the value (a password)."""
    try:
        url = to_psycopg_url(value.get_secret_value())
    except Exception as exc:  # make_url's own message quotes the whole URL, password included
        safe = isinstance(exc, UnsafeURLError) or str(exc).startswith("not a PostgreSQL URL")
        reason = str(exc) if safe else "not a valid URL"
        raise ValueError(f"{reason}: set {variable} to postgresql://user:password@host:port/db") from None
    if not url.host or not url.database:
        raise ValueError(f"needs a host and a database name: set {variable} to postgresql://...")
    return SecretStr(url.render_as_string(hide_password=False))


class Settings(BaseSettings):
    """Every knob of the app; each field is the upper-case environment variable of the same name."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    # The runtime role's URL (through PgBouncer in transaction mode, or Cloud SQL's address with
    # DB_POOL_MODE=direct): what requests use. The runtime role may read and write the tables,
    # not change them (ops/migrate/grants.py).
    database_url: SecretStr
    # The owner's URL to Postgres itself: migrations and admin work, never PgBouncer. Read by the
    # migrator and the tasks, which share these settings; the app itself never needs it, and the
    # service is not given it (the migration job is).
    direct_database_url: SecretStr | None = None
    db_schema: str = "app"
    # `pgbouncer-transaction` when DATABASE_URL goes through PgBouncer (no session state may be
    # relied on), `direct` when it reaches Postgres itself.
    db_pool_mode: PoolMode = "pgbouncer-transaction"
    # Client-side pool (connections to PgBouncer, or to Postgres in `direct` mode; see app/db.py).
    db_pool_size: int = Field(default=7, ge=1, le=1000)
    db_max_overflow: int = Field(default=3, ge=0, le=1000)
    db_pool_timeout_s: float = Field(default=10.0, gt=0, le=300)
    db_connect_timeout_s: int = Field(default=3, ge=1, le=60)
    # At most this many requests use the database at once per process (seed 001's DB_SEM_*).
    db_semaphore_limit: int = Field(default=7, ge=1, le=10000)
    db_semaphore_max_wait_ms: int = Field(default=5000, ge=0, le=600_000)
    db_statement_timeout_ms: int = Field(default=5000, ge=0, le=3_600_000)
    # Budget of each health check; no check may outlive it.
    health_timeout_ms: int = Field(default=2000, ge=50, le=60_000)
    # The Alembic scripts shipped with the app: /readyz compares the database with their head.
    migrations_dir: Path = Path(__file__).resolve().parents[1] / "migrations"
    # Cloud SQL IAM database authentication: each new connection's password is the service
    # account's access token from the metadata server (app/iamauth.py), not one from the URL.
    db_iam_auth: bool = False
    gce_metadata_host: str = Field(default="metadata.google.internal", min_length=1)
    # Set by Cloud Run: switches logs to Cloud Logging's JSON and names the trace's project.
    k_service: str | None = None
    google_cloud_project: str | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("database_url")
    @classmethod
    def _pooled_url(cls, value: SecretStr) -> SecretStr:
        return _normalised(value, "DATABASE_URL")

    @field_validator("direct_database_url")
    @classmethod
    def _direct_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        return _normalised(value, "DIRECT_DATABASE_URL")

    @field_validator("db_schema")
    @classmethod
    def _schema(cls, value: str) -> str:
        if not is_identifier(value):
            raise ValueError(f"must be {IDENTIFIER_RULE}")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    def direct_url(self) -> str:
        """The URL for migrations and admin work: DIRECT_DATABASE_URL, or a direct DATABASE_URL."""
        if self.direct_database_url is not None:
            return self.direct_database_url.get_secret_value()
        if self.db_pool_mode == "direct":
            return self.database_url.get_secret_value()
        raise SettingsError(
            "DIRECT_DATABASE_URL is not set: migrations and admin work must bypass PgBouncer; "
            "set it to the Postgres URL (or DB_POOL_MODE=direct if DATABASE_URL is direct)"
        )

    @property
    def on_cloud_run(self) -> bool:
        """True on Cloud Run, which sets K_SERVICE in every container."""
        return bool(self.k_service)


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Read the environment now (or `environ`, the caller's copy of it), `overrides` winning; a bad
    or missing variable raises SettingsError in one line."""
    values: dict[str, object] = {}
    if environ is not None:
        fields = Settings.model_fields
        values = {key.lower(): value for key, value in environ.items() if key.lower() in fields}
    try:
        return Settings(**{**values, **overrides})  # type: ignore[arg-type]  # pydantic validates
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            variable = "_".join(str(part) for part in error["loc"]).upper() or "environment"
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "missing":
                message = "is not set: export it"
            problems.append(f"{variable}: {message}")
        raise SettingsError("; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once (`get_settings.cache_clear()` after changing the env)."""
    return load_settings()
