"""Which database an operation works on: its parsed direct and pooled URLs and its schema.

Built at the edge, once: from the app's settings (the environment) for a cloud database or the
migration job, or by a local runtime for the local one. Nothing below the edge reads the environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.urls import mask_url
from ops.errors import UserError

if TYPE_CHECKING:  # SQLAlchemy and pydantic load only when a target is built, not on `invoke --list`
    from sqlalchemy.engine import URL

    from app.settings import Settings

LOCAL = "local"
# Postgres caps identifiers at 63 bytes; a longer "role" is a mistake, not a role.
MAX_ROLE_BYTES = 63


@dataclass(frozen=True, repr=False)
class DatabaseTarget:
    """The URLs (with passwords: mask before printing) and schema of one environment's database.

    The direct URL logs in as the owner (migrations, admin work), the pooled one as the runtime role
    (the app). `pooled_url` is None where no pooler sits in front (the migration job,
    DB_POOL_MODE=direct). `runtime_role` is the role whose privileges the migrator keeps in order
    (ops/migrate/grants.py); None where it is not known (a cloud env without DB_RUNTIME_ROLE).
    """

    env: str
    direct_url: URL
    pooled_url: URL | None
    schema: str
    runtime_role: str | None = None

    @classmethod
    def from_urls(
        cls,
        env: str,
        direct: str | URL,
        pooled: str | URL | None,
        schema: str,
        runtime_role: str | None = None,
    ) -> DatabaseTarget:
        """Parse (and normalise to psycopg 3) the URLs; a bad one is a UserError naming which."""
        return cls(
            env,
            _parsed(direct, "direct", env),
            _parsed(pooled, "pooled", env) if pooled else None,
            schema,
            runtime_role,
        )

    def __repr__(self) -> str:
        pooled = mask_url(self.pooled_url) if self.pooled_url is not None else None
        return (
            f"DatabaseTarget(env={self.env!r}, direct_url={mask_url(self.direct_url)!r}, "
            f"pooled_url={pooled!r}, schema={self.schema!r}, runtime_role={self.runtime_role!r})"
        )

    @property
    def app_url(self) -> URL:
        """The URL the app uses: the pooled one, or the direct one where there is no pooler."""
        return self.pooled_url if self.pooled_url is not None else self.direct_url

    def environ(self) -> dict[str, str]:
        """The app's settings for this target, for a subprocess's environment (passwords included).

        DIRECT_DATABASE_URL and DB_RUNTIME_ROLE are the migrator's: the app ignores them.
        """
        variables = {
            "DATABASE_URL": self.app_url.render_as_string(hide_password=False),
            "DIRECT_DATABASE_URL": self.direct_url.render_as_string(hide_password=False),
            "DB_SCHEMA": self.schema,
            "DB_POOL_MODE": "pgbouncer-transaction" if self.pooled_url is not None else "direct",
        }
        if self.runtime_role:
            variables["DB_RUNTIME_ROLE"] = self.runtime_role
        return variables


def check_role_name(name: str, variable: str = "DB_RUNTIME_ROLE") -> str:
    """A role name as the environment gives it: any text Postgres accepts quoted (an IAM user has
    `@` and dots), refused when empty or too long."""
    if not name or "\x00" in name or len(name.encode()) > MAX_ROLE_BYTES:
        raise UserError(
            f"{variable} must be a Postgres role name of 1 to {MAX_ROLE_BYTES} bytes (got {name!r})"
        )
    return name


def _parsed(url: str | URL, which: str, env: str) -> URL:
    from app.urls import UnsafeURLError, to_psycopg_url

    try:
        return to_psycopg_url(url)
    except Exception as exc:  # any parse failure is the user's URL; make_url's message may quote it
        safe = isinstance(exc, UnsafeURLError) or str(exc).startswith("not a PostgreSQL URL")
        reason = str(exc) if safe else "not a valid URL"
        raise UserError(f"the {which} URL for --env {env} is not usable: {reason}") from None


def target_from_settings(env: str, settings: Settings, runtime_role: str | None = None) -> DatabaseTarget:
    """The target the app's settings describe: DIRECT_DATABASE_URL (or a direct DATABASE_URL),
    and DATABASE_URL as the pooled one unless DB_POOL_MODE=direct."""
    from app.settings import SettingsError

    try:
        direct = settings.direct_url()
    except SettingsError as exc:
        raise UserError(str(exc)) from None
    pooled = None if settings.db_pool_mode == "direct" else settings.database_url.get_secret_value()
    return DatabaseTarget.from_urls(env, direct, pooled, settings.db_schema, runtime_role)


def direct_url_missing(env: str) -> str:
    """What to do when `env`'s database is asked for and no DIRECT_DATABASE_URL is exported."""
    return (
        f"--env {env} needs DIRECT_DATABASE_URL (the Postgres URL, not PgBouncer's; e.g. through "
        "the Cloud SQL Auth Proxy: postgresql://USER:PASSWORD@127.0.0.1:5432/DB): export it and retry"
    )


def target_from_environment(env: str, environ: Mapping[str, str]) -> DatabaseTarget:
    """The edge's way in: the app's settings from `environ` (the caller's os.environ).

    Only DIRECT_DATABASE_URL is needed: without DATABASE_URL the target has no pooled URL, as in
    the migration job. DB_RUNTIME_ROLE names the app's role, whose privileges the migrator keeps
    in order. A missing or bad variable is one UserError naming it.
    """
    from app.settings import SettingsError, load_settings

    runtime_role = environ.get("DB_RUNTIME_ROLE") or None
    if runtime_role is not None:
        check_role_name(runtime_role)

    if not environ.get("DIRECT_DATABASE_URL") and environ.get("DB_POOL_MODE") != "direct":
        raise UserError(direct_url_missing(env))
    overrides: dict[str, object] = {}
    if not environ.get("DATABASE_URL"):
        overrides = {"database_url": environ["DIRECT_DATABASE_URL"], "db_pool_mode": "direct"}
    try:
        settings = load_settings(environ, **overrides)
    except SettingsError as exc:
        raise UserError(str(exc)) from None
    return target_from_settings(env, settings, runtime_role)
