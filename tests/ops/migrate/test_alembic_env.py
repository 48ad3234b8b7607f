"""migrations/env.py as the Alembic ecosystem drives it: a Connection or an Engine handed over in
`config.attributes["connection"]`, pytest-alembic's built-in tests, and the plain `alembic` CLI
keeping the verified-stamp promise (a stamp verifies; an upgrade of an unversioned schema is
refused in favour of `db.migrate`)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alembic import command
from alembic.config import Config, main
from psycopg import sql
from pytest_alembic.tests import (
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)
from sqlalchemy import Engine, create_engine, pool

from ops.migrate.revisions import alembic_config as make_alembic_config
from ops.migrate.revisions import applied_chain, head_revision
from stacks.stackfile import REPO_ROOT
from tests.support import TestDatabase
from tests.support.inprocess import run_in_process
from tests.support.migrate import apply_legacy, history_rows, migrator_env, version

__all__ = [  # pytest-alembic's built-in tests, collected here against a fresh database each
    "test_model_definitions_match_ddl",
    "test_single_head_revision",
    "test_up_down_consistency",
    "test_upgrade",
]

ALEMBIC = str(Path(sys.executable).parent / "alembic")


@pytest.fixture(name="alembic_engine")
def _alembic_engine(database: TestDatabase) -> Iterator[Engine]:
    """pytest-alembic's database: the test's fresh one, as an Engine (env.py takes it as is)."""
    engine = create_engine(database.direct_url, poolclass=pool.NullPool)
    yield engine
    engine.dispose()


@pytest.fixture(name="alembic_config")
def _alembic_config(database: TestDatabase) -> Config:
    """pytest-alembic's configuration: the migrator's own, aimed at the test database's schema."""
    return make_alembic_config(schema=database.schema)


def _alembic_main(argv: list[str]) -> None:
    """What the `alembic` executable runs: its CLI's entry point on ARGV[1:]."""
    main(argv=argv[1:], prog="alembic")


def _alembic(database: TestDatabase, *args: str) -> subprocess.CompletedProcess[str]:
    """The plain `alembic` CLI, as the seed documents teach it, with the test database exported: its
    entry point in this process (what env.py makes of the CLI's commands is the subject here; the
    executable itself runs in test_checks and test_template)."""
    return run_in_process(_alembic_main, [ALEMBIC, *args], migrator_env(database), cwd=REPO_ROOT, timeout=120)


def test_env_takes_an_engine_or_a_connection(database: TestDatabase, sql_conn: psycopg.Connection) -> None:
    """The cookbook's shape: an Engine upgrades to head; a Connection then downgrades on it."""
    engine = create_engine(database.direct_url, poolclass=pool.NullPool)
    try:
        command.upgrade(make_alembic_config(connection=engine, schema=database.schema), "head")
        assert [head_revision()] == version(sql_conn, database.schema)
        with engine.connect() as connection:
            command.downgrade(make_alembic_config(connection=connection, schema=database.schema), "0002")
        assert ["0002_events_user_start_index"] == version(sql_conn, database.schema)
    finally:
        engine.dispose()
    revisions = len(applied_chain(head_revision()))
    expected = ["baseline"] + ["upgrade"] * (revisions - 1) + ["downgrade"] * (revisions - 2)
    assert expected == [row[0] for row in history_rows(sql_conn, database.schema)]


def test_plain_alembic_stamp_of_a_wrong_schema_is_refused_with_the_diff(
    database: TestDatabase, sql_conn: psycopg.Connection
) -> None:
    """`alembic stamp head` on an unversioned `users` of two columns: refused, each difference named."""
    sql_conn.execute(
        sql.SQL("CREATE TABLE {}.users (id bigint PRIMARY KEY, email text)").format(
            sql.Identifier(database.schema)
        )
    )
    done = _alembic(database, "stamp", "head")
    assert 0 != done.returncode
    # Alembic prints the differences (stderr) then FAILED: and the refusal (stdout).
    assert f"FAILED: schema 'app' does not match revision {head_revision()}" in done.stdout
    assert "nothing was stamped" in done.stdout
    assert "-x unverified=yes" in done.stdout
    assert "  missing    table sessions: table (members 4 columns, " in done.stderr
    assert "sequence sessions_id_seq" not in done.stderr  # it goes with its table
    assert "  differs    column users.email: not null expected yes, found no" in done.stderr
    assert [] == version(sql_conn, database.schema)


def test_plain_alembic_stamp_of_the_right_schema_is_verified_and_recorded(
    database: TestDatabase, sql_conn: psycopg.Connection
) -> None:
    """`alembic stamp 0001_baseline` on the legacy schema: stamped, the history says verified."""
    apply_legacy(sql_conn, database.schema)
    done = _alembic(database, "stamp", "0001_baseline")
    assert 0 == done.returncode, done.stderr
    assert ["0001_baseline"] == version(sql_conn, database.schema)
    query = sql.SQL("SELECT action, description FROM {}.pgstack_migration_history").format(
        sql.Identifier(database.schema)
    )
    ((action, description),) = sql_conn.execute(query).fetchall()
    assert "stamp" == action
    assert " - verified stamp, fingerprint " in description


def test_an_unverified_plain_stamp_is_an_explicit_choice_recorded_in_the_history(
    database: TestDatabase, sql_conn: psycopg.Connection
) -> None:
    """`alembic -x unverified=yes stamp head` on a wrong schema: stamped, and the history says so."""
    sql_conn.execute(sql.SQL("CREATE TABLE {}.users (id bigint)").format(sql.Identifier(database.schema)))
    done = _alembic(database, "-x", "unverified=yes", "stamp", "head")
    assert 0 == done.returncode, done.stderr
    assert [head_revision()] == version(sql_conn, database.schema)
    query = sql.SQL("SELECT description FROM {}.pgstack_migration_history").format(
        sql.Identifier(database.schema)
    )
    ((description,),) = sql_conn.execute(query).fetchall()
    assert description.endswith(" - UNVERIFIED stamp (alembic -x unverified=yes)")


def test_plain_alembic_upgrade_of_an_unversioned_schema_points_to_db_migrate(
    database: TestDatabase, sql_conn: psycopg.Connection
) -> None:
    """`alembic upgrade head` over the legacy tables: refused before replaying anything."""
    apply_legacy(sql_conn, database.schema)
    done = _alembic(database, "upgrade", "head")
    assert 0 != done.returncode
    assert "FAILED: schema 'app' has tables but no version: `alembic upgrade` would replay " in done.stdout
    assert "Run `invoke db.migrate`" in done.stdout
    assert [] == version(sql_conn, database.schema)
    assert [] == history_rows(sql_conn, database.schema)
