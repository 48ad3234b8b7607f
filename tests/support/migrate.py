"""Helpers for the migration tests: direct SQL on a test database (the legacy bootstrap applied by
hand, alembic_version, the history rows) and the migrator run as the job runs it (start_migrator:
a real subprocess; run_job_command: in this process unless told otherwise)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from ops.migrate import revisions
from ops.migrate.revisions import EXTRA_VERSIONS_VARIABLE, MIGRATIONS_DIR
from stacks.stackfile import REPO_ROOT
from tests.support import TestDatabase
from tests.support.inprocess import in_process_default, job_main, run_in_process

# A revision that sleeps, kept out of migrations/ (PGSTACK_EXTRA_VERSIONS adds it) for the lock tests.
SLOW_VERSIONS = Path(__file__).resolve().parents[1] / "ops" / "migrate" / "slow_versions"


def use_extra_versions(monkeypatch: pytest.MonkeyPatch, *directories: Path) -> None:
    """Revision directories on top of migrations/versions for one test, as an entry point sets them:
    in this process, and through PGSTACK_EXTRA_VERSIONS in the tasks and jobs it starts. Undone
    after the test (the caller clears revisions.script_directory's cache then, as before). No
    directories: none, whatever an earlier call of the same test added."""
    monkeypatch.setenv(EXTRA_VERSIONS_VARIABLE, os.pathsep.join(map(str, directories)))
    monkeypatch.setattr(revisions, "EXTRA_VERSIONS", tuple(map(str, directories)))
    revisions.script_directory.cache_clear()


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


def run_job_command(
    database: TestDatabase, *args: str, process: bool = False
) -> subprocess.CompletedProcess[str]:
    """The job's command as the plan gives it (direct URL only), against a real test database: with
    exactly that environment, in this process (tests.support.inprocess) unless `process` is set or
    PGSTACK_TEST_TASKS=process. Its output is what the tests replay as the job's logs."""
    env = {
        "DIRECT_DATABASE_URL": database.direct_url,
        "DB_SCHEMA": database.schema,
        "DB_POOL_MODE": "direct",
        "PATH": "/usr/bin:/bin",
    }
    if not process and in_process_default():
        return run_in_process(job_main, ["ops.migrate", *args], env, cwd=REPO_ROOT, timeout=120)
    return subprocess.run(
        [sys.executable, "-m", "ops.migrate", *args],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


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
