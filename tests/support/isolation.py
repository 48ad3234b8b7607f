"""The session environment left as found: a test module that leaves the session's own database at
another revision than the shipped head (a downgrade, a revision of its own) breaks every later module
of its test process that migrates that database, far from the cause. tests/conftest.py checks after
each module that used the session environment and fails that module's teardown, naming it."""

from __future__ import annotations

import psycopg
from psycopg import sql

from app.urls import libpq_dsn


def revision_left_behind(direct_url: str, schema: str, head: str) -> str | None:
    """What is wrong with `schema`'s migration state at `direct_url`, or None when it is unmigrated
    (no alembic_version) or at `head`."""
    with psycopg.connect(libpq_dsn(direct_url), autocommit=True) as conn:
        table = conn.execute("SELECT to_regclass(%s)", (f"{schema}.alembic_version",)).fetchone()
        query = sql.SQL("SELECT version_num FROM {}.alembic_version").format(sql.Identifier(schema))
        revisions = [] if table is None or table[0] is None else [row[0] for row in conn.execute(query)]
    if revisions in ([], [head]):
        return None
    return (
        f"left the session environment's schema {schema} at revision {', '.join(revisions) or 'none'} "
        f"(the shipped head is {head}): a test must leave the session environment as it found it "
        "(a test that migrates elsewhere takes a `database` of its own)"
    )
