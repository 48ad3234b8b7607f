"""The throwaway database db.compat builds the old schema in, owned by the owner role, with the
runtime role's privileges: the own database of a throwaway cluster (copied from a pristine cluster
kept in db.compat's cache instead of made by initdb each run; deleted with the cluster), or a fresh
database in a cluster handed in (as the tests' session cluster), dropped afterwards."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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
    """A throwaway database in a cluster that outlives the block, dropped afterwards."""
    scratch = create(env, template)
    try:
        yield scratch
    finally:
        drop(env, scratch.name)


def own_database(env: LocalEnv) -> Scratch:
    """A throwaway cluster's own database, made by its `up` as `create` makes one (owned by the
    owner role, with the schema and the runtime role's privileges) and deleted with the cluster: a
    second database would only copy template1's files again (~300 files: a second or more on a busy
    disk), to be dropped with the rest."""
    cfg = env.config
    return Scratch(cfg.database, env.direct_url(), env.pooled_url(), cfg.schema, cfg.roles.runtime)


def pristine_cache(cache: Path) -> Path | None:
    """The cache of pristine clusters (ops/local/pristine.py) under db.compat's `cache`, made on first
    use; None when Postgres's service user could not reach it (run as root from a checkout under a
    private directory): then the throwaway cluster runs initdb, as it always can (its own directory
    is a temp one the service user reaches)."""
    path = (cache / "pristine").resolve()  # through a link: the directory the service user must reach
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)
    if os.geteuid() == 0 and not all(parent.stat().st_mode & 0o001 for parent in path.parents):
        return None
    return path


# The cluster is deleted after the run: what only protects data against a crash of the machine is
# turned off, so the job's commits and the checkpoint at its stop write no more than they must.
UNSYNCED = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


@contextlib.contextmanager
def throwaway_cluster(pristine: Path | None = None) -> Iterator[LocalEnv]:
    """A Postgres + PgBouncer of db.compat's own, on free ports, stopped and deleted afterwards; its
    cluster a copy of the one in `pristine` (a pristine_cache()) when given. Not durable: `up` does
    not wait for the new cluster's files to reach the disk (seconds on a busy disk) for a cluster
    deleted when the run ends."""
    with throwaway.throwaway_env("pgstack-compat-", pristine=pristine, durable=False) as env:
        with psycopg.connect(libpq_dsn(env.admin_url()), autocommit=True) as conn:
            for name, value in UNSYNCED.items():
                conn.execute(
                    sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value))
                )
            conn.execute("SELECT pg_reload_conf()")
        yield env
