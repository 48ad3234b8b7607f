"""Which database an operation works on: the local environment, or a cloud one from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass

from app.urls import mask_url, to_psycopg_url
from ops.errors import UserError

LOCAL = "local"


@dataclass(frozen=True)
class DatabaseTarget:
    """The URLs (with passwords: mask before printing) and schema of one environment's database."""

    env: str
    direct_url: str
    pooled_url: str | None
    schema: str

    def __repr__(self) -> str:
        pooled = mask_url(self.pooled_url) if self.pooled_url else None
        return (
            f"DatabaseTarget(env={self.env!r}, direct_url={mask_url(self.direct_url)!r}, "
            f"pooled_url={pooled!r}, schema={self.schema!r})"
        )

    def environ(self) -> dict[str, str]:
        """The app's settings for this target, for a subprocess's environment."""
        values = {"DIRECT_DATABASE_URL": self.direct_url, "DB_SCHEMA": self.schema}
        values["DATABASE_URL"] = self.pooled_url or self.direct_url
        return values


def _checked(variable: str, value: str, env: str) -> str:
    try:
        return to_psycopg_url(value).render_as_string(hide_password=False)
    except Exception as exc:  # any parse failure is the user's URL, reported in one line
        raise UserError(f"{variable} for --env {env} is not a usable Postgres URL: {exc}") from None


def target_for(env: str) -> DatabaseTarget:
    """`local` reads the local environment; any other name reads DIRECT_DATABASE_URL and friends."""
    if env == LOCAL:
        from ops.runtime import local_target  # the runtime module builds on this one

        return local_target()
    direct = os.environ.get("DIRECT_DATABASE_URL")
    if not direct:
        raise UserError(
            f"--env {env} needs DIRECT_DATABASE_URL (e.g. through the Cloud SQL Auth Proxy: "
            "postgresql://USER:PASSWORD@127.0.0.1:5432/DB); export it and retry"
        )
    pooled = os.environ.get("DATABASE_URL")
    return DatabaseTarget(
        env=env,
        direct_url=_checked("DIRECT_DATABASE_URL", direct, env),
        pooled_url=_checked("DATABASE_URL", pooled, env) if pooled else None,
        schema=os.environ.get("DB_SCHEMA", "app"),
    )
