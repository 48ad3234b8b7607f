"""The schema fingerprint: equal for equal schemas whatever their names, and a readable diff."""

from __future__ import annotations

import psycopg
from sqlalchemy import create_engine, pool

from ops.migrate.fingerprint import Fingerprint, diff, fingerprint
from tests.support import TestDatabase
from tests.support.migrate import apply_legacy


def _fingerprints(database: TestDatabase, *schemas: str) -> list[Fingerprint]:
    engine = create_engine(database.direct_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            return [fingerprint(connection, schema) for schema in schemas]
    finally:
        engine.dispose()


def test_same_ddl_in_two_schemas_gives_equal_fingerprints(
    database: TestDatabase, sql_conn: psycopg.Connection
) -> None:
    """The legacy schema built in two differently named schemas fingerprints the same."""
    sql_conn.execute("CREATE SCHEMA other")
    apply_legacy(sql_conn, database.schema)
    apply_legacy(sql_conn, "other")
    mine, other = _fingerprints(database, database.schema, "other")
    assert mine == other
    assert mine.digest == other.digest
    assert 5 == len(mine.relations)
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
    expected, actual = _fingerprints(database, database.schema, "other")
    assert [
        "differs    column events.title: expected text NULL, found character varying(200) NULL",
        "differs    column usage_events.route: expected text NOT NULL, found text NOT NULL DEFAULT '/'::text",
        "missing    constraint oauth_tokens_user_id_provider_key on oauth_tokens: UNIQUE (user_id, provider)",
        "unexpected index ix_users_name on users: USING btree (name)",
        "missing    index oauth_tokens_user_id_provider_key on oauth_tokens: "
        "UNIQUE USING btree (user_id, provider)",
    ] == diff(expected, actual)


def test_empty_schema_has_an_empty_fingerprint(database: TestDatabase) -> None:
    """A schema with no tables is empty; the migrator builds it from base."""
    (empty,) = _fingerprints(database, database.schema)
    assert Fingerprint() == empty
    assert empty.is_empty
