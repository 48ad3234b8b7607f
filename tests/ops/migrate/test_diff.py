"""`db.diff A B`: two databases, a database and `head`, two revisions; grouped lines, JSON, exit 1 on
a difference, one-line errors for bad operands, and never a password in the output."""

from __future__ import annotations

import json
import subprocess

import psycopg
import pytest
from invoke.context import Context
from invoke.exceptions import Exit
from psycopg import sql
from sqlalchemy.engine import make_url

from cli.db import schema as db_tasks
from ops.migrate.compare import Options
from ops.migrate.diff import Database, Revision, diff
from ops.migrate.migrator import migrate
from ops.migrate.revisions import head_revision
from ops.migrate.target import DatabaseTarget
from tests.support import TestDatabase
from tests.support.migrate import migrator_env
from tests.support.tasks import run_task


def _quiet(_: str) -> None:
    """Progress sink for tests that only look at the result."""


def _invoke(database: TestDatabase, *args: str) -> subprocess.CompletedProcess[str]:
    """`invoke db.diff ...` as a user runs it, with the test database's settings exported."""
    return run_task("db.diff", *args, environ=migrator_env(database))


def test_a_migrated_database_equals_head_and_exits_0(database: TestDatabase, target: DatabaseTarget) -> None:
    """`db.diff head staging` (an env read from the environment) after db.migrate: no differences."""
    migrate(target, progress=_quiet)
    done = _invoke(database, "head", "staging")
    assert 0 == done.returncode, done.stdout + done.stderr
    assert done.stdout.startswith(f"A: head = {head_revision()} (built in a throwaway schema)\nB: staging (")
    assert "no differences (fingerprint " in done.stdout


def test_a_hand_made_change_is_grouped_by_object_and_exits_1(
    database: TestDatabase, target: DatabaseTarget, sql_conn: psycopg.Connection
) -> None:
    """A URL against head: the drift listed under its object, exit 1, the password masked."""
    migrate(target, progress=_quiet)
    schema = sql.Identifier(target.schema)
    sql_conn.execute(sql.SQL("ALTER TABLE {}.users ENABLE ROW LEVEL SECURITY").format(schema))
    sql_conn.execute(sql.SQL("ALTER TABLE {}.users ADD COLUMN nickname text").format(schema))
    sql_conn.execute(sql.SQL("DROP INDEX {}.ix_usage_events_ts").format(schema))
    done = _invoke(database, "head", database.direct_url, "--schema", target.schema)
    assert 1 == done.returncode, done.stderr
    password = make_url(database.direct_url).password
    assert password
    assert password not in done.stdout + done.stderr
    assert done.stdout.splitlines()[2:] == [
        "3 differences (missing: in A only; unexpected: in B only; differs: A's value, then B's):",
        "table usage_events",
        "  missing    index ix_usage_events_ts: btree (ts)",
        "table users",
        "  differs    row level security expected none, found enabled",
        "  unexpected column nickname: text NULL",
    ]


def test_json_lists_every_difference_with_full_values(
    database: TestDatabase, target: DatabaseTarget, sql_conn: psycopg.Connection
) -> None:
    """--json: the sides, each difference's properties, and both sides' extensions."""
    migrate(target, progress=_quiet)
    sql_conn.execute(sql.SQL("ALTER TABLE {}.events SET UNLOGGED").format(sql.Identifier(target.schema)))
    done = _invoke(database, "head", "staging", "--json")
    assert 1 == done.returncode, done.stderr
    report = json.loads(done.stdout)
    assert not report["equal"]
    assert {"a": {}, "b": {}} == report["extensions"]  # the legacy schema uses none
    (difference,) = report["differences"]
    assert "differs" == difference["change"]
    assert "table events" == difference["object"]
    assert ["persistence"] == difference["properties"]
    assert "unlogged" == difference["found"]["persistence"]
    assert "differs    table events: persistence expected none, found unlogged" == difference["line"]


def test_two_revisions_show_what_a_branch_adds(database: TestDatabase) -> None:
    """`db.diff 0002 head`: built on the local database, the later revision's column is unexpected."""
    done = _invoke(database, "0002", "head")
    assert 1 == done.returncode, done.stderr
    assert "A: 0002 = 0002_events_user_start_index (built in a throwaway schema)" in done.stdout
    assert "  unexpected column last_login_at: timestamp with time zone NULL" in done.stdout


def test_two_databases_and_the_opt_ins(
    database: TestDatabase, target: DatabaseTarget, sql_conn: psycopg.Connection
) -> None:
    """Two live schemas: a comment is equal by default and a difference with --comments."""
    other = DatabaseTarget.from_urls("other", database.direct_url, None, "other")
    migrate(target, progress=_quiet)
    migrate(other, progress=_quiet)
    sql_conn.execute(sql.SQL("COMMENT ON TABLE {}.users IS 'people'").format(sql.Identifier("other")))
    a, b = Database("mine", target), Database("other", other)
    assert diff(a, b).equal
    report = diff(a, b, Options(comments=True))
    assert ["differs    table users: comment expected none, found people"] == [
        difference.line() for difference in report.differences
    ]
    assert diff(Revision("head", head_revision()), b).equal


@pytest.mark.parametrize(
    ("operands", "message"),
    [
        (
            ("head", "stagin"),
            "error: B 'stagin' is not `local`, a URL, `head`, `base` or a revision of this code (see "
            "`invoke db.history`), so it was taken for an environment: --env 'stagin' is neither "
            "`local` nor a stack of this project (prod, staging): did you mean 'staging'?",
        ),
        (("9999_nope", "head"), "error: A '9999_nope' is not `local`, a URL"),
        (
            ("head", "postgresql://app:secret@127.0.0.1:notaport/db"),
            "error: B is not a usable PostgreSQL URL",
        ),
    ],
    ids=["unknown-env", "unknown-revision", "bad-url"],
)
def test_bad_operands_are_one_line_errors(
    operands: tuple[str, str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operand that names nothing: one line saying what it could be, exit 1, no traceback."""
    monkeypatch.delenv("DIRECT_DATABASE_URL", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(Exit) as failed:
        db_tasks.diff(Context(), *operands)
    assert 1 == failed.value.code
    assert str(failed.value.message).startswith(message), failed.value.message
    assert "secret" not in str(failed.value.message)
    assert "\n" not in str(failed.value.message)


def test_a_schema_that_does_not_exist_is_a_one_line_error(database: TestDatabase) -> None:
    """A URL with a mistyped --schema: said so, rather than every object reported missing."""
    done = _invoke(database, "head", database.direct_url, "--schema", "apps")
    assert 1 == done.returncode
    assert done.stderr.startswith("error: schema 'apps' does not exist in postgresql+psycopg://app:***@")
    assert 1 == len(done.stderr.strip().splitlines())
