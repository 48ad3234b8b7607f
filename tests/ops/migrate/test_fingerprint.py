"""The schema fingerprint and its comparison: every kind of object a schema holds is seen (missing,
unexpected, changed), harmless differences compare equal, and the opt-ins compare what is
ignored by default.

Each case compares two schemas built side by side in one database (per module): the expected one
and the found one, from the same base plus the case's statements. A schema is built and read once
per module, and shared by the cases that start from the same statements (a kind's object is the
expected side of one case and the found side of another): 168 schemas for 361 sides. Every
read is on one connection kept for the module (a connection per read would pay a backend's start
and the warming of its catalog caches, ~4x the read itself).
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Connection, create_engine, pool

from app.urls import libpq_dsn
from ops.local.native import LocalEnv
from ops.migrate.compare import Options, compare, digest, lines, render
from ops.migrate.fingerprint import Fingerprint, fingerprint, same_spelling
from tests.ops.migrate.fingerprint_cases import BASE, FUNCTION_FIRST, HARMLESS, KINDS, Kind
from tests.support import TestDatabase, create_database, drop_database
from tests.support.migrate import apply_legacy

_counter = itertools.count()


@pytest.fixture(name="catalog_db", scope="module")
def _catalog_db(local_env: LocalEnv) -> Iterator[TestDatabase]:
    """One database for the module's cases: each case builds its own two schemas in it."""
    name = f"test_kinds_{uuid.uuid4().hex[:8]}"
    database = create_database(local_env, name)
    with psycopg.connect(libpq_dsn(database.direct_url), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION citext SCHEMA public")
    try:
        yield database
    finally:
        drop_database(local_env, name)


@pytest.fixture(name="reader", scope="module")
def _reader(catalog_db: TestDatabase) -> Iterator[Connection]:
    """The connection every case of the module reads its fingerprints on."""
    engine = create_engine(catalog_db.direct_url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        yield connection
    engine.dispose()


@pytest.fixture(name="conn", scope="module")
def _conn(catalog_db: TestDatabase) -> Iterator[psycopg.Connection]:
    """The connection the module's schemas are built on (autocommit: each build is committed, seen
    by the reader's next transaction)."""
    with psycopg.connect(libpq_dsn(catalog_db.direct_url), autocommit=True) as conn:
        yield conn


class Schemas:
    """The module's schemas, each built once and read once: the cases that start from the same
    statements (and the same copy: a case that compares two separate builds asks for copy 1) share
    one schema and its fingerprint (no case changes a schema after building it)."""

    def __init__(self, conn: psycopg.Connection, reader: Connection) -> None:
        self.conn, self.reader = conn, reader
        self.built: dict[tuple[tuple[str, ...], int], str] = {}
        self.read: dict[str, Fingerprint] = {}

    def get(self, *steps: str, copy: int = 0) -> str:
        """The schema holding BASE then `steps` (empty steps aside); built on first use."""
        key = (tuple(step for step in steps if step), copy)
        if key not in self.built:
            self.built[key] = _build(self.conn, *key[0])
        return self.built[key]

    def fingerprints(self, *schemas: str) -> list[Fingerprint]:
        """The fingerprints of `schemas` (built by `get`), each read on its first use."""
        unread = [schema for schema in dict.fromkeys(schemas) if schema not in self.read]
        self.read.update(zip(unread, _fingerprints(self.reader, *unread), strict=True))
        return [self.read[schema] for schema in schemas]

    def diff(self, expected: str, found: str) -> list[str]:
        """The comparison's lines, expected first (default options)."""
        want, have = self.fingerprints(expected, found)
        return lines(compare(want, have))


@pytest.fixture(name="schemas", scope="module")
def _schemas(conn: psycopg.Connection, reader: Connection) -> Schemas:
    return Schemas(conn, reader)


def _build(conn: psycopg.Connection, *steps: str) -> str:
    """A new schema holding BASE then `steps` (run with search_path set to it); its name."""
    schema = f"kind_{next(_counter)}_{uuid.uuid4().hex[:6]}"
    conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
    for step in (BASE, *steps):
        if step == "INVALID":
            _invalid_index(conn)
        elif step:
            conn.execute(step.replace("{s}", schema).encode())
    conn.execute("RESET search_path")
    return schema


def _invalid_index(conn: psycopg.Connection) -> None:
    """What a cancelled or failed CREATE INDEX CONCURRENTLY leaves: the index, marked INVALID."""
    conn.execute("DROP INDEX notes_body_idx")
    conn.execute("INSERT INTO accounts (id, email) VALUES (1, 'a@example.com')")
    conn.execute("INSERT INTO notes (id, account_id) VALUES (5, 1)")
    with pytest.raises(psycopg.errors.DivisionByZero):
        conn.execute("CREATE INDEX CONCURRENTLY notes_body_idx ON notes ((1 / (id - 5)))")


def _fingerprints(reader: Connection, *schemas: str) -> list[Fingerprint]:
    try:
        return [fingerprint(reader, schema) for schema in schemas]
    finally:
        reader.rollback()  # the next read is a new transaction: it sees what was built since


def _read(database: TestDatabase, *schemas: str) -> list[Fingerprint]:
    """The fingerprints of `schemas` in a test's own database, on a connection of their own."""
    engine = create_engine(database.direct_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            return _fingerprints(connection, *schemas)
    finally:
        engine.dispose()


def _named(subject: str, found: list[str], change: str | None = None) -> bool:
    """True when a line (of `change`, if given) is about `subject`."""
    return any(f" {subject}:" in line and (change is None or line.startswith(change)) for line in found)


def _names_object(name: str, found: list[str]) -> bool:
    """True when a line's subject names the object `name` (itself or one of its members)."""
    pattern = re.compile(rf"(?<!\w){re.escape(name)}(?!\w)")
    return any(pattern.search(line.split(": ", 1)[0]) for line in found)


CASES = [pytest.param(kind, id=kind.name) for kind in KINDS]
CHANGES = [
    pytest.param(kind, change, id=f"{kind.name}-{number}")
    for kind in KINDS
    for number, change in enumerate(kind.changes)
]


@pytest.mark.parametrize("kind", CASES)
def test_a_missing_kind_is_named(kind: Kind, schemas: Schemas) -> None:
    """Expected holds the object (or property), found does not: a line names it; the same build
    in a third schema is equal."""
    expected, found = schemas.get(kind.setup, kind.create), schemas.get(kind.setup)
    assert [] == schemas.diff(expected, schemas.get(kind.setup, kind.create, copy=1))
    differences = schemas.diff(expected, found)
    assert _named(kind.subject, differences, "missing" if kind.is_object else None), differences


@pytest.mark.parametrize("kind", CASES)
def test_an_extra_kind_is_named(kind: Kind, schemas: Schemas) -> None:
    """Found holds an object (or property) that expected does not: a line names it."""
    differences = schemas.diff(schemas.get(kind.setup), schemas.get(kind.setup, kind.create))
    assert _named(kind.subject, differences, "unexpected" if kind.is_object else None), differences


@pytest.mark.parametrize(("kind", "change"), CHANGES)
def test_a_changed_kind_is_named(kind: Kind, change: str, schemas: Schemas) -> None:
    """Both hold the object, changed on one side: a line names it."""
    steps = (kind.setup, kind.create)
    differences = schemas.diff(schemas.get(*steps), schemas.get(*steps, change))
    assert _names_object(kind.object_name, differences), differences


@pytest.mark.parametrize("case", list(HARMLESS))
def test_harmless_differences_compare_equal(case: str, schemas: Schemas) -> None:
    """Comments, grants, storage, column order, equivalent spellings: equal by default."""
    found_steps, expected_steps = HARMLESS[case]
    extra = FUNCTION_FIRST if "balance_of" in found_steps else ""
    # The found side is a build of its own even where both sides run the same statements (a
    # function whose search_path names its own schema: the names differ, the schemas compare equal).
    expected, found = schemas.get(extra, expected_steps), schemas.get(extra, found_steps, copy=1)
    want, have = schemas.fingerprints(expected, found)
    assert [] == lines(compare(want, have))
    assert digest(want) == digest(have)


@pytest.mark.parametrize(
    ("options", "steps", "line"),
    [
        (
            Options(privileges=True),
            "GRANT SELECT ON accounts TO PUBLIC",
            "differs    table accounts: privileges expected app=arwdDxt/app, found =r/app app=arwdDxt/app",
        ),
        (
            Options(comments=True),
            "COMMENT ON COLUMN accounts.email IS 'login'",
            "differs    column accounts.email: comment expected none, found login",
        ),
        (
            Options(storage=True),
            "ALTER TABLE accounts SET (fillfactor = 70)",
            "differs    table accounts: storage parameters expected none, found fillfactor=70",
        ),
        (
            Options(storage=True),
            "CREATE STATISTICS notes_stats ON account_id, id FROM notes",
            "unexpected statistics notes_stats: (d, f, m) ON id, account_id FROM notes",
        ),
        (
            Options(column_order=True),
            "ALTER TABLE notes DROP COLUMN body; ALTER TABLE notes ADD COLUMN body text; "
            "ALTER TABLE notes DROP COLUMN account_id; ALTER TABLE notes ADD COLUMN account_id bigint NOT "
            "NULL "
            "REFERENCES accounts (id)",
            "differs    column notes.account_id: position expected 2, found 3",
        ),
    ],
    ids=["privileges", "comments", "storage", "statistics", "column-order"],
)
def test_the_opt_ins_compare_what_is_ignored_by_default(
    options: Options, steps: str, line: str, schemas: Schemas
) -> None:
    """Each option makes its kind of difference visible; without it the schemas are equal."""
    want, have = schemas.fingerprints(schemas.get(), schemas.get(steps))
    assert [] == lines(compare(want, have))
    assert line in lines(compare(want, have, options))


def test_owners_are_compared_only_with_privileges(
    catalog_db: TestDatabase, reader: Connection, conn: psycopg.Connection
) -> None:
    """A table owned by another role (as environments' roles differ): equal unless --privileges."""
    expected, found = _build(conn), _build(conn)
    with psycopg.connect(libpq_dsn(catalog_db.admin_url), autocommit=True) as admin:
        admin.execute(
            sql.SQL("ALTER TABLE {} OWNER TO {}").format(
                sql.Identifier(found, "notes"), sql.Identifier(catalog_db.runtime_role)
            )
        )
    want, have = _fingerprints(reader, expected, found)
    assert [] == lines(compare(want, have))
    owner_lines = [line for line in lines(compare(want, have, Options(privileges=True))) if "owner" in line]
    assert [f"differs    table notes: owner expected app, found {catalog_db.runtime_role}"] == [
        line.split(";")[0] for line in owner_lines
    ]


def test_extension_versions_are_reported_and_compared_only_when_asked() -> None:
    """Two fingerprints whose extension differs only in version: equal unless asked."""
    key = ("extension", "citext", "", "")
    older = Fingerprint({key: {"kind": "extension", "schema": "public", "version": "1.5"}})
    newer = Fingerprint({key: {"kind": "extension", "schema": "public", "version": "1.6"}})
    assert [] == compare(older, newer)
    assert ["differs    extension citext: version expected 1.5, found 1.6"] == lines(
        compare(older, newer, Options(extension_versions=True))
    )
    assert "--extension-versions" == Options(extension_versions=True).describe()


def test_same_ddl_in_two_schemas_gives_equal_fingerprints(
    database: TestDatabase, sql_conn: psycopg.Connection
) -> None:
    """The legacy schema built in two differently named schemas fingerprints the same."""
    sql_conn.execute("CREATE SCHEMA other")
    apply_legacy(sql_conn, database.schema)
    apply_legacy(sql_conn, "other")
    mine, other = _read(database, database.schema, "other")
    assert [] == compare(mine, other)  # the configured schema's runtime-role grants aside
    assert digest(mine) == digest(other)
    assert 5 == sum(1 for key in mine.entries if key[0] == "relation" and not key[2] and "seq" not in key[1])
    assert not mine.is_empty


def test_diff_names_each_difference_in_one_line(database: TestDatabase, sql_conn: psycopg.Connection) -> None:
    """Changed type, dropped constraint, new index and default each show as one readable line."""
    sql_conn.execute("CREATE SCHEMA other")
    apply_legacy(sql_conn, database.schema)
    apply_legacy(sql_conn, "other")
    sql_conn.execute("ALTER TABLE other.events ALTER COLUMN title TYPE varchar(200)")
    sql_conn.execute("ALTER TABLE other.oauth_tokens DROP CONSTRAINT oauth_tokens_user_id_provider_key")
    sql_conn.execute("CREATE INDEX ix_users_name ON other.users (name)")
    sql_conn.execute("ALTER TABLE other.usage_events ALTER COLUMN route SET DEFAULT '/'")
    expected, actual = _read(database, database.schema, "other")
    differences = compare(expected, actual)
    assert [
        "differs    column events.title: type expected text, found character varying(200)",
        "missing    constraint oauth_tokens_user_id_provider_key on oauth_tokens: UNIQUE (user_id, provider)",
        "missing    index oauth_tokens_user_id_provider_key on oauth_tokens: UNIQUE btree (user_id, "
        "provider)",
        "differs    column usage_events.route: default expected none, found '/'::text",
        "unexpected index ix_users_name on users: btree (name)",
    ] == lines(differences)
    assert render(differences).splitlines()[:2] == [
        "table events",
        "  differs    column title: type expected text, found character varying(200)",
    ]


def test_empty_schema_has_an_empty_fingerprint(database: TestDatabase) -> None:
    """A schema with no objects is empty (the migrator builds it from base); a missing one too."""
    empty, missing = _read(database, database.schema, "no_such_schema")
    assert empty.is_empty
    assert Fingerprint() == missing
    assert [] == compare(empty, missing)


def test_equivalent_spellings_are_normalised_outside_quotes_only() -> None:
    """CURRENT_TIMESTAMP becomes now(); a string or a quoted identifier holding the word does not."""
    assert "now() > '2000-01-01'::timestamp" == same_spelling("CURRENT_TIMESTAMP > '2000-01-01'::timestamp")
    assert "'CURRENT_TIMESTAMP'::text" == same_spelling("'CURRENT_TIMESTAMP'::text")
    assert '"CURRENT_TIMESTAMP"' == same_spelling('"CURRENT_TIMESTAMP"')
    assert "CURRENT_TIMESTAMP(3)" == same_spelling("CURRENT_TIMESTAMP(3)")  # rounds: not the same
    assert "now() + x.transaction_timestamp()" == same_spelling(
        "transaction_timestamp() + x.transaction_timestamp()"
    )
    assert "pg_catalog.now()" == same_spelling("CURRENT_TIMESTAMP", now="pg_catalog.now()")
