"""The two roles on real Postgres and PgBouncer: the runtime role uses the tables and cannot change
them; a new revision's table is usable at once; Cloud SQL's extra role powers are taken away."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from app.urls import libpq_dsn
from ops.errors import UserError
from ops.local.native import LocalEnv
from ops.migrate import revisions
from ops.migrate.migrator import migrate
from ops.migrate.target import DatabaseTarget
from tests.support import TestDatabase, clone_database, drop_database
from tests.support.migrate import use_extra_versions
from tests.support.revisions import write_revision


def _quiet(_: str) -> None:
    pass


def _in(schema: str, statement: str) -> sql.Composed:
    """`statement` with {schema} filled in as a quoted identifier."""
    return sql.SQL(statement).format(schema=sql.Identifier(schema))


def _runtime(database: TestDatabase, *, autocommit: bool = True) -> psycopg.Connection:
    """The app's connection: the runtime role, through PgBouncer."""
    assert make_url(database.pooled_url).username == database.runtime_role
    return psycopg.connect(libpq_dsn(database.pooled_url), autocommit=autocommit, prepare_threshold=None)


@pytest.fixture(name="migrated")
def _migrated(database: TestDatabase, target: DatabaseTarget) -> TestDatabase:
    """The test database at head."""
    migrate(target, progress=_quiet)
    return database


@pytest.fixture(name="refusing", scope="module")
def _refusing(local_env: LocalEnv, database_template: str) -> Iterator[TestDatabase]:
    """One database at head for the module's refused statements (a copy and a migration each would
    cost more than the statement): a refused statement changes nothing, and one that got through
    fails its own case and is rolled back, so it does not fail the next ones too."""
    name = f"test_refusing_{uuid.uuid4().hex[:8]}"
    database = clone_database(local_env, database_template, name)
    try:
        migrate(database.target(), progress=_quiet)
        yield database
    finally:
        drop_database(local_env, name)


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE {schema}.intruder (id int)",
        "DROP TABLE {schema}.users",
        "ALTER TABLE {schema}.users ADD COLUMN intruder text",
        "TRUNCATE {schema}.users",
        "CREATE INDEX intruder ON {schema}.users (email)",
    ],
)
def test_the_runtime_role_is_refused_ddl_through_pgbouncer(refusing: TestDatabase, statement: str) -> None:
    """CREATE / DROP / ALTER (and TRUNCATE, CREATE INDEX) fail for the app's role: Postgres refuses them."""
    with _runtime(refusing, autocommit=False) as conn:
        try:
            with pytest.raises(psycopg.errors.InsufficientPrivilege) as caught:
                conn.execute(_in(refusing.schema, statement))
        finally:
            conn.rollback()
    assert "permission denied" in str(caught.value) or "must be owner" in str(caught.value)


def test_the_runtime_role_reads_and_writes_the_tables(migrated: TestDatabase) -> None:
    """DML on the app's tables and their sequences, SELECT on alembic_version, nothing on the history."""
    schema = migrated.schema
    with _runtime(migrated) as conn:
        row = conn.execute(
            _in(schema, "INSERT INTO {schema}.users (email) VALUES ('a@example.com') RETURNING id")
        ).fetchone()
        assert row is not None
        conn.execute(_in(schema, "UPDATE {schema}.users SET name = 'A' WHERE id = %s"), (row[0],))
        assert conn.execute(_in(schema, "SELECT count(*) FROM {schema}.users")).fetchone() == (1,)
        conn.execute(_in(schema, "DELETE FROM {schema}.users WHERE id = %s"), (row[0],))
        assert conn.execute(_in(schema, "SELECT count(*) FROM {schema}.alembic_version")).fetchone() == (1,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(_in(schema, "DELETE FROM {schema}.alembic_version"))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(_in(schema, "SELECT * FROM {schema}.pgstack_migration_history"))


# A test-only revision: a new table with a sequence; the revision gives nobody any privilege.
NEW_TABLE_UPGRADE = """
op.create_table(
    "widgets",
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
)
op.execute("CREATE SEQUENCE widget_serials")
"""
NEW_TABLE_DOWNGRADE = """
op.execute("DROP SEQUENCE widget_serials")
op.drop_table("widgets")
"""


@pytest.fixture(name="widgets_revision")
def _widgets_revision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A revision directory on top of migrations/versions holding one new table."""
    versions = tmp_path / "versions"
    versions.mkdir()
    head = revisions.head_revision()  # the shipped head, before the extra directory is seen
    doc = "Test-only revision: a new table with a sequence; the revision gives nobody any privilege."
    write_revision(
        versions, "0099_widgets_for_tests", head, NEW_TABLE_UPGRADE, downgrade=NEW_TABLE_DOWNGRADE, doc=doc
    )
    use_extra_versions(monkeypatch, versions)
    revisions.script_directory.cache_clear()
    yield versions
    revisions.script_directory.cache_clear()


def test_a_new_revisions_table_is_usable_by_the_app_right_after_migrate(
    database: TestDatabase, target: DatabaseTarget, widgets_revision: Path
) -> None:
    """No GRANT in the revision: the owner's default privileges give the app its table and sequence."""
    revision = (widgets_revision / "0099_widgets_for_tests.py").read_text()
    migrate(target, to=revision.split('down_revision = "')[1].split('"')[0], progress=_quiet)
    assert "GRANT" not in revision.upper()
    report = migrate(target, progress=_quiet)
    assert ["upgrade 0099_widgets_for_tests"] == report.actions
    schema = database.schema
    with _runtime(database) as conn:
        conn.execute(_in(schema, "INSERT INTO {schema}.widgets (name) VALUES ('first'), ('second')"))
        assert conn.execute(_in(schema, "SELECT max(id) FROM {schema}.widgets")).fetchone() == (2,)
        assert conn.execute(_in(schema, "SELECT nextval('{schema}.widget_serials')")).fetchone() == (1,)
        conn.execute(_in(schema, "UPDATE {schema}.widgets SET name = 'renamed' WHERE id = 1"))
        conn.execute(_in(schema, "DELETE FROM {schema}.widgets WHERE id = 2"))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(_in(schema, "DROP TABLE {schema}.widgets"))


def test_default_privileges_alone_make_the_owners_new_tables_usable(migrated: TestDatabase) -> None:
    """A table the owner creates by hand after the grants (no migrator run after it) is usable too:
    the default privileges do it, not a later GRANT ON ALL TABLES."""
    schema = migrated.schema
    with psycopg.connect(libpq_dsn(migrated.direct_url), autocommit=True) as owner:
        owner.execute(_in(schema, "CREATE TABLE {schema}.by_hand (id serial PRIMARY KEY, note text)"))
    with _runtime(migrated) as conn:
        conn.execute(_in(schema, "INSERT INTO {schema}.by_hand (note) VALUES ('ok')"))
        assert conn.execute(_in(schema, "SELECT note FROM {schema}.by_hand")).fetchone() == ("ok",)


@pytest.fixture(name="cloud_sql_like_roles")
def _cloud_sql_like_roles(migrated: TestDatabase, local_env: LocalEnv) -> Iterator[psycopg.Connection]:
    """Roles as Cloud SQL creates its users: CREATEROLE and CREATEDB, and a member of a group role
    (cloudsqlsuperuser); restored afterwards (roles are shared by the whole cluster)."""
    owner, runtime = local_env.config.roles.owner, migrated.runtime_role
    group = "cloudsqlsuperuser_like"
    with psycopg.connect(libpq_dsn(local_env.admin_url()), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(group)))
        admin.execute(sql.SQL("ALTER ROLE {} CREATEROLE CREATEDB").format(sql.Identifier(runtime)))
        admin.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(runtime)))
        try:
            yield admin
        finally:
            for statement in (
                "ALTER ROLE {owner} NOCREATEROLE",
                "ALTER ROLE {runtime} NOCREATEROLE NOCREATEDB",
                "REVOKE {group} FROM {runtime}",
                "DROP ROLE {group}",
            ):
                admin.execute(
                    sql.SQL(statement).format(
                        owner=sql.Identifier(owner),
                        runtime=sql.Identifier(runtime),
                        group=sql.Identifier(group),
                    )
                )


def _powers(admin: psycopg.Connection, role: str) -> tuple[bool, bool, int]:
    row = admin.execute(
        "SELECT rolcreaterole, rolcreatedb, (SELECT count(*) FROM pg_auth_members m WHERE m.member = r.oid) "
        "FROM pg_roles r WHERE rolname = %s",
        (role,),
    ).fetchone()
    assert row is not None
    return bool(row[0]), bool(row[1]), int(row[2])


def test_cloud_sql_powers_are_taken_from_the_runtime_role(
    migrated: TestDatabase,
    target: DatabaseTarget,
    local_env: LocalEnv,
    cloud_sql_like_roles: psycopg.Connection,
) -> None:
    """As on Cloud SQL, the owner has CREATEROLE: the migrator takes CREATEROLE, CREATEDB and the
    group membership from the runtime role (with CREATEROLE it could make itself the owner)."""
    admin = cloud_sql_like_roles
    admin.execute(sql.SQL("ALTER ROLE {} CREATEROLE").format(sql.Identifier(local_env.config.roles.owner)))
    assert (True, True, 1) == _powers(admin, migrated.runtime_role)
    lines: list[str] = []
    migrate(target, progress=lines.append)
    assert (False, False, 0) == _powers(admin, migrated.runtime_role)
    assert f"privileges: {migrated.runtime_role}: NOCREATEROLE NOCREATEDB" in lines
    assert f"privileges: {migrated.runtime_role}: no longer a member of cloudsqlsuperuser_like" in lines


def test_a_runtime_role_the_owner_cannot_fix_is_one_line(
    migrated: TestDatabase, target: DatabaseTarget, cloud_sql_like_roles: psycopg.Connection
) -> None:
    """Without CREATEROLE itself, the owner cannot strip the runtime role: one line saying what to run."""
    with pytest.raises(UserError) as caught:
        migrate(target, progress=_quiet)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"the owner may not change the runtime role '{migrated.runtime_role}'")
    assert f"run `ALTER ROLE {migrated.runtime_role} NOCREATEROLE NOCREATEDB` as an administrator" in message


def test_a_runtime_role_that_does_not_exist_is_one_line(database: TestDatabase) -> None:
    """DB_RUNTIME_ROLE naming no role stops the migration before any revision, saying what to create."""
    without_role = DatabaseTarget.from_urls("test", database.direct_url, None, database.schema)
    migrate(without_role, to="0001_baseline", progress=_quiet)  # the schema exists from here on
    target = DatabaseTarget.from_urls("test", database.direct_url, None, database.schema, "nobody_here")
    with pytest.raises(UserError, match=r"^the runtime role 'nobody_here' does not exist: create it"):
        migrate(target, progress=_quiet)
