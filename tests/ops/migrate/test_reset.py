"""db.reset: the schema dropped and rebuilt from the migrations (then seeded), everything outside it
kept, the schema's owner, grants and default privileges given back; refused without the
confirmations each environment needs, and when sessions hold its tables, with nothing dropped."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from app.urls import libpq_dsn
from ops.errors import UserError
from ops.local.native import LocalEnv
from ops.migrate.lock import Timeouts
from ops.migrate.migrator import current, head_revision, migrate
from ops.migrate.reset import reset_schema
from ops.migrate.seed import seed
from ops.migrate.target import DatabaseTarget
from tests.support import TestDatabase
from tests.support.tasks import run_task


def _quiet(_: str) -> None:
    """Progress sink."""


def _table_count(conn: psycopg.Connection, schema: str) -> int:
    row = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = %s", (schema,)).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture(name="reader")
def _reader(local_env: LocalEnv) -> Iterator[str]:
    """A role of the test's own (roles are cluster-wide), dropped afterwards."""
    name = f"reader_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq_dsn(local_env.admin_url()), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'reader-pw'").format(sql.Identifier(name)))
    yield name
    with psycopg.connect(libpq_dsn(local_env.admin_url()), autocommit=True) as admin:
        for database in [
            row[0] for row in admin.execute("SELECT datname FROM pg_database WHERE datallowconn")
        ]:
            with psycopg.connect(libpq_dsn(local_env.admin_url(database)), autocommit=True) as conn:
                conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
        admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def test_reset_rebuilds_the_schema_and_keeps_everything_around_it(
    target: DatabaseTarget, sql_conn: psycopg.Connection, database: TestDatabase, reader: str
) -> None:
    """After reset + migrate: the schema is at head and empty of data, objects made by hand are gone,
    another schema of the database is untouched, and the schema's grants, default privileges and
    comment still hold (the reader can read a table the migrations just created)."""
    migrate(target, progress=_quiet)
    seed(target, progress=_quiet)
    schema, role = sql.Identifier(target.schema), sql.Identifier(reader)
    sql_conn.execute(sql.SQL("CREATE TABLE {}.scratch (id int)").format(schema))
    sql_conn.execute(
        sql.SQL("CREATE VIEW {}.demo_users AS SELECT email FROM {}.users").format(schema, schema)
    )
    sql_conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, role))
    sql_conn.execute(
        sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(schema, role)
    )
    sql_conn.execute(sql.SQL("COMMENT ON SCHEMA {} IS 'the app''s tables'").format(schema))
    sql_conn.execute("CREATE SCHEMA keepme")
    sql_conn.execute("CREATE TABLE keepme.notes AS SELECT 'precious' AS note")

    reset_schema(target, progress=_quiet)
    assert 0 == _table_count(sql_conn, target.schema)
    migrate(target, progress=_quiet)

    assert head_revision() == current(target).revision
    assert [("precious",)] == sql_conn.execute("SELECT note FROM keepme.notes").fetchall()
    names = {
        row[0]
        for row in sql_conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (target.schema,))
    }
    assert "scratch" not in names
    assert "users" in names
    assert [(0,)] == sql_conn.execute(sql.SQL("SELECT count(*) FROM {}.users").format(schema)).fetchall()
    comment = sql_conn.execute("SELECT obj_description(%s::regnamespace, 'pg_namespace')", (target.schema,))
    assert [("the app's tables",)] == comment.fetchall()
    reader_url = database.direct_url.replace("app:", f"{reader}:", 1).rsplit("@", 1)[1]
    with psycopg.connect(
        libpq_dsn(f"postgresql://{reader}:reader-pw@{reader_url}"), autocommit=True
    ) as as_reader:
        assert [(0,)] == as_reader.execute(sql.SQL("SELECT count(*) FROM {}.users").format(schema)).fetchall()


def test_reset_names_the_sessions_holding_the_schema(
    target: DatabaseTarget, sql_conn: psycopg.Connection, database: TestDatabase
) -> None:
    """A transaction holding a table of the schema blocks the drop: the reset fails within the lock
    timeout naming that session, and nothing is dropped."""
    migrate(target, progress=_quiet)
    with psycopg.connect(libpq_dsn(database.direct_url), application_name="busy-app") as holder:
        holder.execute(f'SELECT count(*) FROM "{target.schema}".users')  # noqa: S608 - test schema
        with pytest.raises(UserError) as caught:
            reset_schema(target, progress=_quiet, timeouts=Timeouts(lock_timeout="500ms"))
        holder.rollback()
    message = str(caught.value)
    assert message.startswith(f"schema {target.schema!r} is in use, nothing was dropped")
    assert "busy-app (app@127.0.0.1, idle in transaction" in message
    assert _table_count(sql_conn, target.schema) >= 5


def _invoke(*args: str, **environ: str) -> subprocess.CompletedProcess[str]:
    return run_task(*args, environ=environ)


def test_reset_refuses_without_the_confirmations(
    database: TestDatabase, sql_conn: psycopg.Connection, target: DatabaseTarget
) -> None:
    """Without --yes; for another env without --yes-really; for production without the database's
    name (or with a wrong one): one line each, exit 1, nothing dropped. With all of them, it runs,
    and a cloud stack that does not ask for seed data gets none."""
    migrate(target, progress=_quiet)
    elsewhere = database.environ()
    refusals = [
        (("db.reset",), {}, "rerun with --yes"),
        (("db.reset", "--env", "staging", "--yes"), elsewhere, "add --yes-really"),
        (("db.reset", "--env", "prod", "--yes", "--yes-really"), elsewhere, "--confirm-production"),
        (
            ("db.reset", "--env", "prod", "--yes", "--yes-really", "--confirm-production", "app"),
            elsewhere,
            "(got 'app')",
        ),
    ]
    for args, environ, expected in refusals:
        result = _invoke(*args, **environ)
        assert 1 == result.returncode, args
        assert expected in result.stderr
        assert 1 == len(result.stderr.splitlines()), result.stderr
        assert "nothing was dropped" in result.stderr
        assert _table_count(sql_conn, target.schema) >= 5
    sql_conn.execute(f'INSERT INTO "{target.schema}".users (email) VALUES (%s)', ("kept@example.com",))  # noqa: S608
    confirmed = _invoke(
        "db.reset",
        "--env",
        "prod",
        "--yes",
        "--yes-really",
        "--confirm-production",
        database.name,
        **elsewhere,
    )
    assert 0 == confirmed.returncode, confirmed.stderr
    assert f"dropping schema {target.schema!r}: 7 tables" in confirmed.stdout  # 5 + alembic_version + history
    assert head_revision() == current(target).revision
    users = sql_conn.execute(f'SELECT count(*) FROM "{target.schema}".users').fetchall()  # noqa: S608
    assert [(0,)] == users  # prod's stack does not seed


def test_local_reset_migrates_and_seeds_and_keeps_other_databases(
    local_env: LocalEnv, database: TestDatabase
) -> None:
    """`invoke db.reset --yes` on the local environment rebuilds its schema at head with the seed
    data, which the app's runtime role reads and writes through PgBouncer at once (its default
    privileges survived the drop); another database of the cluster (here the test's own) is untouched."""
    with psycopg.connect(libpq_dsn(database.direct_url), autocommit=True) as conn:
        conn.execute("CREATE TABLE untouched AS SELECT 1 AS one")
    result = _invoke("db.reset", "--yes")
    assert 0 == result.returncode, result.stderr
    assert "seeded " in result.stdout
    with psycopg.connect(libpq_dsn(local_env.direct_url()), autocommit=True) as conn:
        row = conn.execute(f'SELECT count(*) FROM "{local_env.config.schema}".users').fetchone()  # noqa: S608
    assert row is not None and 3 == row[0]
    schema = sql.Identifier(local_env.config.schema)
    with psycopg.connect(libpq_dsn(local_env.pooled_url()), autocommit=True, prepare_threshold=None) as app:
        assert [(3,)] == app.execute(sql.SQL("SELECT count(*) FROM {}.users").format(schema)).fetchall()
        app.execute(sql.SQL("INSERT INTO {}.usage_events (route) VALUES ('after reset')").format(schema))
    with psycopg.connect(libpq_dsn(database.direct_url), autocommit=True) as conn:
        assert [(1,)] == conn.execute("SELECT one FROM untouched").fetchall()
