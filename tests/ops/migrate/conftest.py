"""Fixtures for the migration tests: a DatabaseTarget per fresh database, direct SQL access,
the legacy bootstrap applied by hand, and the migrator run as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from app.urls import libpq_dsn
from ops.migrate.revisions import MIGRATIONS_DIR, script_directory
from ops.migrate.target import DatabaseTarget
from tests.conftest import TestDatabase

REPO_ROOT = Path(__file__).resolve().parents[3]
SLOW_VERSIONS = Path(__file__).resolve().parent / "slow_versions"


@pytest.fixture(name="target")
def _target(database: TestDatabase) -> DatabaseTarget:
    """The fresh test database as the migrator sees it."""
    return DatabaseTarget.from_urls("test", database.direct_url, database.pooled_url, database.schema)


@pytest.fixture(name="sql_conn")
def _sql_conn(database: TestDatabase) -> Iterator[psycopg.Connection]:
    """An autocommit psycopg connection to the test database as the app role."""
    with psycopg.connect(libpq_dsn(database.direct_url), autocommit=True) as conn:
        yield conn


@pytest.fixture(name="fresh_scripts", autouse=True)
def _fresh_scripts() -> Iterator[None]:
    """Re-read the script directory around each test (some tests add revision directories)."""
    script_directory.cache_clear()
    yield
    script_directory.cache_clear()


def apply_legacy(conn: psycopg.Connection, schema: str) -> None:
    """Bootstrap the schema the pre-Alembic way: run migrations/legacy/*.sql by hand."""
    conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
    for script in sorted((MIGRATIONS_DIR / "legacy").glob("*.sql")):
        conn.execute(script.read_text().encode())
    conn.execute("RESET search_path")


def version(conn: psycopg.Connection, schema: str) -> list[str]:
    """The rows of alembic_version (empty when the table is missing)."""
    exists = conn.execute("SELECT to_regclass(%s)", (f"{schema}.alembic_version",)).fetchone()
    if exists is None or exists[0] is None:
        return []
    query = sql.SQL("SELECT version_num FROM {}.alembic_version").format(sql.Identifier(schema))
    return [row[0] for row in conn.execute(query)]


def history_rows(conn: psycopg.Connection, schema: str) -> list[tuple[str, str, bool]]:
    """(action, revision, success) of every history row, oldest first."""
    query = sql.SQL("SELECT action, revision, success FROM {}.pgstack_migration_history ORDER BY id").format(
        sql.Identifier(schema)
    )
    return [(row[0], row[1], row[2]) for row in conn.execute(query)]


def migrator_env(database: TestDatabase, **extra: str) -> dict[str, str]:
    """Environment for a `python -m ops.migrate` subprocess aimed at the test database."""
    return {**os.environ, **database.environ(), **extra}


def start_migrator(database: TestDatabase, *args: str, **extra: str) -> subprocess.Popen[str]:
    """Start `python -m ops.migrate` against the test database."""
    return subprocess.Popen(
        [sys.executable, "-m", "ops.migrate", *args],
        cwd=REPO_ROOT,
        env=migrator_env(database, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
