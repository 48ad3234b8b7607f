"""The throwaway database db.compat builds the old schema in: a fresh database in a local cluster (a
throwaway one of its own, or one handed in, as the tests' session cluster), owned by the owner role,
with the runtime role's privileges, dropped afterwards."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
from psycopg import sql

from app.urls import libpq_dsn
from ops.local import throwaway
from ops.local.native import LocalEnv
from ops.migrate.grants import grant_runtime
from ops.migrate.target import DatabaseTarget


@dataclass(frozen=True)
class Scratch:
    """One throwaway database: the owner's direct URL, the runtime role's pooled URL, the schema."""

    name: str
    direct_url: str
    pooled_url: str
    schema: str
    runtime_role: str

    def environ(self) -> dict[str, str]:
        """The settings the old code's app and migration job read."""
        return {
            "DATABASE_URL": self.pooled_url,
            "DIRECT_DATABASE_URL": self.direct_url,
            "DB_SCHEMA": self.schema,
            "DB_RUNTIME_ROLE": self.runtime_role,
        }

    def target(self) -> DatabaseTarget:
        """The database as this tree's migrator sees it."""
        return DatabaseTarget.from_urls(
            "compat", self.direct_url, self.pooled_url, self.schema, runtime_role=self.runtime_role
        )


def create(env: LocalEnv, template: str | None = None) -> Scratch:
    """A new database: empty with its schema and grants, or a copy of `template` (which holds both)."""
    cfg = env.config
    name = f"compat_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(libpq_dsn(env.admin_url()), autocommit=True) as conn:
        statement = sql.SQL("CREATE DATABASE {} OWNER {}").format(
            sql.Identifier(name), sql.Identifier(cfg.roles.owner)
        )
        if template is not None:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        conn.execute(statement)
    scratch = Scratch(name, env.direct_url(name), env.pooled_url(name), cfg.schema, cfg.roles.runtime)
    if template is None:
        with psycopg.connect(libpq_dsn(scratch.direct_url), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(cfg.schema)))
        grant_runtime(scratch.target())
    return scratch


def drop(env: LocalEnv, name: str) -> None:
    """Drop a throwaway database, closing whatever still holds it (PgBouncer's server connections)."""
    with psycopg.connect(libpq_dsn(env.admin_url()), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextlib.contextmanager
def scratch_database(env: LocalEnv, template: str | None = None) -> Iterator[Scratch]:
    """A throwaway database for the length of the block."""
    scratch = create(env, template)
    try:
        yield scratch
    finally:
        drop(env, scratch.name)


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[LocalEnv]:
    """A Postgres + PgBouncer of db.compat's own, on free ports, stopped and deleted afterwards."""
    with throwaway.throwaway_env("pgstack-compat-") as env:
        yield env
