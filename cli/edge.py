"""Where the tasks read the environment, once: which local runtime, which database target, which
migration timeouts, which squawk. Everything below takes these as arguments."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the runtimes and the migrator load only when a task needs them
    from ops.local.runtime import Runtime
    from ops.migrate.lock import Timeouts
    from ops.migrate.target import DatabaseTarget

LOCAL = "local"
PROJECT_ROOT = Path(__file__).resolve().parents[1]  # pyproject.toml holds the lint's settings
RUNTIME_HELP = (
    "where Postgres and PgBouncer run: `native` (processes under .local/), `docker` (the `local` "
    "Pulumi stack: containers) or `auto` (docker when the Pulumi CLI and a Docker engine both "
    "answer, native otherwise); default: $PGSTACK_RUNTIME, else native (`auto` for `up`)"
)
ENV_HELP = (
    "environment: `local` (default), or e.g. `staging` with DIRECT_DATABASE_URL (and DATABASE_URL "
    "for the pooled checks) exported"
)


def runtime(requested: str | None = None) -> Runtime:
    """The local runtime: --runtime, else $PGSTACK_RUNTIME, else native."""
    from ops.local.runtime import runtime_from_environ

    return runtime_from_environ(requested or None, os.environ)


def target(env: str, requested_runtime: str | None = None) -> DatabaseTarget:
    """`local`: the runtime's database; any other name: the app's settings from the environment."""
    if env == LOCAL:
        return runtime(requested_runtime).target()
    from ops.migrate.target import target_from_environment

    return target_from_environment(env, os.environ)


def timeouts(env: str | None = None) -> Timeouts:
    """The migration timeouts: MIGRATE_LOCK_TIMEOUT, MIGRATE_STATEMENT_TIMEOUT, MIGRATE_LOCK_WAIT_S,
    MIGRATE_CONCURRENT_STATEMENT_TIMEOUT and MIGRATE_CONNECT_TIMEOUT_S (the first connection's retries).

    For `--env local` the first connection is tried once unless MIGRATE_CONNECT_TIMEOUT_S is set:
    the local database is up or it is not (`invoke env.up`), no network is warming up.
    """
    from dataclasses import replace

    from ops.migrate.lock import Timeouts

    found = Timeouts.from_environ(os.environ)
    if env == LOCAL and not os.environ.get("MIGRATE_CONNECT_TIMEOUT_S"):
        return replace(found, connect_timeout_s=0.0)
    return found


def schema() -> str:
    """DB_SCHEMA, else the app's default: the schema the migrator would use."""
    from app.settings import Settings

    return os.environ.get("DB_SCHEMA") or str(Settings.model_fields["db_schema"].default)


def squawk() -> Path:
    """squawk beside this Python (the venv's), else on PATH."""
    from ops.lint.squawk import find_squawk

    return find_squawk(Path(sys.executable).parent, os.environ.get("PATH"))
