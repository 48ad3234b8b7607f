"""The verified stamp on drifted copies: what production databases drift by (a trigger missing, a
function changed, a collation, row level security, an INVALID index, sequence bounds, UNLOGGED)
is refused with a line naming the object, and a refused stamp changes nothing, byte for byte."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from app.urls import libpq_dsn
from ops.local.native import LocalEnv
from ops.migrate import revisions
from ops.migrate.migrator import SchemaMismatchError, migrate, stamp
from ops.migrate.revisions import MIGRATIONS_DIR, head_revision, script_directory
from ops.migrate.target import DatabaseTarget
from tests.support import TestDatabase
from tests.support.migrate import apply_legacy, version
from tests.support.revisions import write_revision

BASELINE = "0001_baseline"

# Drifts of the legacy schema, each run with search_path set to the schema, and the line's start.
LEGACY_DRIFTS = {
    "column collation": (
        'ALTER TABLE users ALTER COLUMN email TYPE text COLLATE "C"',
        'differs    column users.email: collation expected none, found "C"',
    ),
    "row level security": (
        "ALTER TABLE users ENABLE ROW LEVEL SECURITY",
        "differs    table users: row level security expected none, found enabled",
    ),
    "forced row level security": (
        "ALTER TABLE users FORCE ROW LEVEL SECURITY",
        "differs    table users: forced row level security expected none, found yes",
    ),
    "an INVALID index": (
        "INVALID ix_sessions_user_id",
        "differs    index ix_sessions_user_id on sessions: valid expected none, found INVALID",
    ),
    "a sequence's MAXVALUE": (
        "ALTER TABLE users ALTER COLUMN id SET MAXVALUE 1000000",
        "differs    sequence users_id_seq: maximum expected 9223372036854775807, found 1000000",
    ),
    "a sequence's CYCLE": (
        "ALTER SEQUENCE users_id_seq CYCLE",
        "differs    sequence users_id_seq: cycle expected no, found yes",
    ),
    "UNLOGGED": (
        "ALTER TABLE usage_events SET UNLOGGED",
        "differs    table usage_events: persistence expected none, found unlogged",
    ),
    "an extra trigger": (
        "CREATE FUNCTION stamp_now() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$; "
        "CREATE TRIGGER users_stamp BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION stamp_now()",
        "unexpected trigger users_stamp on users: CREATE TRIGGER users_stamp BEFORE UPDATE ON users",
    ),
    "a deferrable foreign key": (
        "ALTER TABLE sessions ALTER CONSTRAINT sessions_user_id_fkey DEFERRABLE INITIALLY DEFERRED",
        "differs    constraint sessions_user_id_fkey on sessions: definition expected FOREIGN KEY",
    ),
    "a NOT VALID check": (
        "ALTER TABLE events DROP CONSTRAINT events_end_after_start_check; ALTER TABLE events ADD "
        "CONSTRAINT events_end_after_start_check CHECK (end_ts >= start_ts) NOT VALID",
        "differs    constraint events_end_after_start_check on events: definition expected CHECK "
        "(end_ts >= start_ts), found CHECK (end_ts >= start_ts) NOT VALID",
    ),
}


def _quiet(_: str) -> None:
    """Progress sink for tests that only look at the result."""


def _drift(database: TestDatabase, schema: str, statements: str) -> None:
    """Apply a drift by hand, as the app role (or as the superuser, for an INVALID index)."""
    if statements.startswith("INVALID "):
        # What a failed or cancelled CREATE INDEX CONCURRENTLY leaves in the catalog.
        index = statements.split()[1]
        with psycopg.connect(libpq_dsn(database.admin_url), autocommit=True) as admin:
            admin.execute(
                "UPDATE pg_index SET indisvalid = false WHERE indexrelid = %s::regclass",
                (f"{schema}.{index}",),
            )
        return
    with psycopg.connect(libpq_dsn(database.direct_url), autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        conn.execute(statements.encode())


def _pg_dump(database: TestDatabase, local_env: LocalEnv) -> bytes:
    """The whole database, schema and data, as pg_dump writes it, without its random \\restrict key;
    as the superuser, whom row level security (forced, here) does not hide rows from."""
    url = make_url(database.admin_url)
    argv = [str(local_env.binaries.pg_bindir / "pg_dump"), "-h", str(url.host), "-p", str(url.port)]
    argv += ["-U", str(url.username), url.database or ""]
    environ = {**os.environ, "PGPASSWORD": url.password or ""}
    dump = subprocess.run(argv, env=environ, capture_output=True, check=True).stdout
    return b"\n".join(
        line for line in dump.split(b"\n") if not line.startswith((b"\\restrict", b"\\unrestrict"))
    )


@pytest.mark.parametrize("drift", list(LEGACY_DRIFTS))
def test_a_drifted_legacy_copy_is_refused_naming_the_drift(
    drift: str, target: DatabaseTarget, database: TestDatabase, sql_conn: psycopg.Connection
) -> None:
    """db.migrate on an unversioned legacy copy drifted by hand: refused, the drift named, no version."""
    apply_legacy(sql_conn, target.schema)
    statements, line = LEGACY_DRIFTS[drift]
    _drift(database, target.schema, statements)
    with pytest.raises(SchemaMismatchError, match="does not match revision 0001_baseline") as refused:
        migrate(target, progress=_quiet)
    assert any(found.startswith(line) for found in refused.value.diff), refused.value.diff
    assert [] == version(sql_conn, target.schema)


def test_a_refused_stamp_leaves_the_drifted_copy_byte_identical(
    target: DatabaseTarget, database: TestDatabase, sql_conn: psycopg.Connection, local_env: LocalEnv
) -> None:
    """A verified stamp of a copy drifted every way at once is refused, and pg_dump sees no change."""
    apply_legacy(sql_conn, target.schema)
    sql_conn.execute(
        sql.SQL("INSERT INTO {}.users (email, name) VALUES ('kept@example.com', 'Kept')").format(
            sql.Identifier(target.schema)
        )
    )
    for statements, _ in LEGACY_DRIFTS.values():
        _drift(database, target.schema, statements)
    before = _pg_dump(database, local_env)
    with pytest.raises(SchemaMismatchError) as refused:
        stamp(target, BASELINE, progress=_quiet)
    assert len(LEGACY_DRIFTS) <= len(refused.value.diff)
    assert before == _pg_dump(database, local_env)
    assert [] == version(sql_conn, target.schema)


# A revision on top of head with one object of the kinds the legacy schema lacks.
EVERY_KIND_UPGRADE = '''
op.execute("""
CREATE TYPE event_kind AS ENUM ('meeting', 'focus', 'travel');
CREATE DOMAIN positive_minutes AS integer CONSTRAINT positive_minutes_check CHECK (VALUE > 0);
ALTER TABLE users ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;
CREATE TRIGGER users_touch_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE VIEW upcoming_events AS SELECT id, user_id, start_ts FROM events WHERE start_ts > now();
CREATE POLICY own_events ON events USING (user_id = current_setting('app.user_id')::bigint);
""")
'''
EVERY_KIND_DOWNGRADE = '''
op.execute("""
DROP POLICY own_events ON events;
DROP VIEW upcoming_events;
DROP TRIGGER users_touch_updated_at ON users;
DROP FUNCTION touch_updated_at();
ALTER TABLE users DROP COLUMN updated_at;
DROP DOMAIN positive_minutes;
DROP TYPE event_kind;
""")
'''

EVERY_KIND = "9999_every_kind"
KIND_DRIFTS = {
    "the updated_at trigger missing": (
        "DROP TRIGGER users_touch_updated_at ON users",
        "missing    trigger users_touch_updated_at on users: CREATE TRIGGER users_touch_updated_at",
    ),
    "a trigger disabled": (
        "ALTER TABLE users DISABLE TRIGGER users_touch_updated_at",
        "differs    trigger users_touch_updated_at on users: enabled expected none, found disabled",
    ),
    "a function body changed": (
        "CREATE OR REPLACE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "NEW.updated_at := clock_timestamp(); RETURN NEW; END $$",
        "differs    function touch_updated_at(): body expected",
    ),
    "an enum label added": (
        "ALTER TYPE event_kind ADD VALUE 'holiday'",
        "differs    enum event_kind: labels expected 'meeting', 'focus', 'travel', found 'meeting', "
        "'focus', 'travel', 'holiday'",
    ),
    "a domain check dropped": (
        "ALTER DOMAIN positive_minutes DROP CONSTRAINT positive_minutes_check",
        "missing    constraint positive_minutes_check on positive_minutes: CHECK (VALUE > 0)",
    ),
    "a view changed": (
        "CREATE OR REPLACE VIEW upcoming_events AS SELECT id, user_id, start_ts FROM events "
        "WHERE start_ts > now() - interval '1 day'",
        "differs    view upcoming_events: definition expected",
    ),
    "a policy loosened": (
        "ALTER POLICY own_events ON events USING (true)",
        "differs    policy own_events on events: using expected",
    ),
}


@pytest.fixture(name="every_kind_scripts", scope="module")
def _every_kind_scripts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the migrations with a revision on top of head that adds every kind, one for the
    module: its head schema is then built once (the schema cache keys it by the copy's files and
    path), not once per case."""
    scripts = tmp_path_factory.mktemp("every_kind") / "migrations"
    shutil.copytree(MIGRATIONS_DIR, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    write_revision(
        scripts / "versions",
        EVERY_KIND,
        head_revision(),
        EVERY_KIND_UPGRADE,
        downgrade=EVERY_KIND_DOWNGRADE,
        doc="Test-only: one object of each kind the legacy schema lacks.",
    )
    return scripts


@pytest.fixture(name="every_kind")
def _every_kind(every_kind_scripts: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The migrations with the every-kind revision on top, for one test; the revision's id."""
    monkeypatch.setattr(revisions, "MIGRATIONS_DIR", every_kind_scripts)
    script_directory.cache_clear()
    return EVERY_KIND


@pytest.mark.parametrize("drift", list(KIND_DRIFTS))
def test_a_stamp_on_a_drifted_copy_of_every_kind_is_refused(
    drift: str,
    every_kind: str,
    target: DatabaseTarget,
    database: TestDatabase,
    sql_conn: psycopg.Connection,
) -> None:
    """Built by the migrations, its version dropped, drifted by hand: a verified stamp refuses."""
    migrate(target, progress=_quiet)
    sql_conn.execute(sql.SQL("DROP TABLE {}.alembic_version").format(sql.Identifier(target.schema)))
    stamp(target, every_kind, progress=_quiet)  # undrifted: verified, stamped
    assert [every_kind] == version(sql_conn, target.schema)
    sql_conn.execute(sql.SQL("DROP TABLE {}.alembic_version").format(sql.Identifier(target.schema)))
    statements, line = KIND_DRIFTS[drift]
    _drift(database, target.schema, statements)
    with pytest.raises(SchemaMismatchError, match=f"does not match revision {every_kind}") as refused:
        stamp(target, every_kind, progress=_quiet)
    assert any(found.startswith(line) for found in refused.value.diff), refused.value.diff
    assert [] == version(sql_conn, target.schema)
