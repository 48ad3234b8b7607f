"""The local environment's two roles, its database and its schema, made by the superuser and the
owner; the same for both runtimes (native processes, the Docker stack's containers).

Idempotent, and the upgrade path of an environment from before the runtime role: the owner, the
database, the schema and the data stay; the runtime role is added. The runtime role's password is
set on every run from where the runtime keeps it (a file, the stack's output), so they never
disagree. Its privileges are the migrator's business (ops/migrate/grants.py), run right after.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from psycopg import sql

from ops.local.scram import scram_verifier
from stacks.config import LocalConfig

Progress = Callable[[str], None]


def ensure_roles(
    admin: psycopg.Connection,
    config: LocalConfig,
    owner_password: str,
    runtime_password: str,
    progress: Progress,
) -> None:
    """As the superuser (autocommit, any database): the owner and the runtime role, the database."""
    owner, runtime = config.roles.owner, config.roles.runtime
    for role, password, why in (
        (owner, owner_password, "the owner: migrations, admin work"),
        (runtime, runtime_password, "the app's: DML only"),
    ):
        # A SCRAM verifier, not the plaintext: the password never reaches the server's logs.
        verifier = sql.Literal(scram_verifier(password))
        if admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
            progress(f"postgres: creating role {role} ({why})")
            admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), verifier))
        elif role == runtime:
            admin.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), verifier))
    if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (config.database,)).fetchone() is None:
        progress(f"postgres: creating database {config.database}")
        admin.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(config.database), sql.Identifier(owner)
            )
        )


def ensure_schema(owner: psycopg.Connection, config: LocalConfig) -> None:
    """As the owner, in the database: DB_SCHEMA, owned by the owner."""
    owner.execute(
        sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(
            sql.Identifier(config.schema), sql.Identifier(config.roles.owner)
        )
    )
