"""The test harness: one throwaway Postgres + PgBouncer for the session, a fresh database per test.

Started through ops/localenv.py itself, on free ports in a temp dir, and always stopped, even when a
test fails or the run is interrupted.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import shutil
import signal
import uuid
from collections.abc import Iterator
from types import FrameType

import psycopg
import pytest
from psycopg import sql

from app.urls import libpq_dsn
from ops.local.native import LocalEnv
from ops.local.throwaway import make_state_root, throwaway_config, write_stack_file

# Tests import these from here as well as from ops.local.throwaway.
__all__ = [
    "TestDatabase",
    "create_database",
    "drop_database",
    "make_state_root",
    "throwaway_config",
    "write_stack_file",
]


@dataclasses.dataclass(frozen=True)
class TestDatabase:
    """A fresh database owned by the app role, with its (empty) schema, dropped after the test."""

    __test__ = False  # not a test class, despite the name

    name: str
    direct_url: str
    pooled_url: str
    admin_url: str
    schema: str

    def environ(self) -> dict[str, str]:
        """The app's settings for this database, for a subprocess's environment."""
        return {
            "DATABASE_URL": self.pooled_url,
            "DIRECT_DATABASE_URL": self.direct_url,
            "DB_SCHEMA": self.schema,
        }


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # pytest then tears every fixture down, as on Ctrl-C


def pytest_configure(config: pytest.Config) -> None:
    """SIGTERM (a cancelled CI job, `kill`) stops the run like Ctrl-C: every environment is stopped.

    Installed for the whole run, not by one fixture: a test's own environment started before the
    session one (or without it) must be torn down too.
    """
    signal.signal(signal.SIGTERM, _interrupt)


@pytest.fixture(name="local_env", scope="session")
def _local_env() -> Iterator[LocalEnv]:
    """The session's Postgres + PgBouncer, on free ports, torn down whatever happens."""
    root = make_state_root("pgstack-tests-")
    config = throwaway_config()
    stack_file = write_stack_file(root / "Pulumi.local.yaml", config)
    env = LocalEnv(config, root / "state")
    saved = {key: os.environ.get(key) for key in ("PGSTACK_STACK_FILE", "PGSTACK_STATE_DIR")}
    os.environ["PGSTACK_STACK_FILE"] = str(stack_file)
    os.environ["PGSTACK_STATE_DIR"] = str(env.state_dir)
    atexit.register(env.down)  # a crash outside pytest's teardown still stops the processes
    try:
        env.up()
        yield env
    finally:
        env.down()
        shutil.rmtree(root, ignore_errors=True)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def create_database(env: LocalEnv, name: str) -> TestDatabase:
    """A new database owned by the app role, with the configured schema."""
    cfg = env.config
    with psycopg.connect(libpq_dsn(env.admin_url()), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(cfg.user))
        )
    with psycopg.connect(libpq_dsn(env.direct_url(name)), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(cfg.schema)))
    return TestDatabase(
        name=name,
        direct_url=env.direct_url(name),
        pooled_url=env.pooled_url(name),
        admin_url=env.admin_url(name),
        schema=cfg.schema,
    )


def drop_database(env: LocalEnv, name: str) -> None:
    """Drop a test database, closing whatever still holds it (PgBouncer's server connections)."""
    with psycopg.connect(libpq_dsn(env.admin_url()), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(name="database")
def _database(local_env: LocalEnv) -> Iterator[TestDatabase]:
    """A fresh, empty database for one test."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    db = create_database(local_env, name)
    try:
        yield db
    finally:
        drop_database(local_env, name)
