"""The harness itself: the session environment answers directly and through PgBouncer."""

from __future__ import annotations

import psycopg

from app.urls import libpq_dsn
from ops.localenv import LocalEnv
from tests.conftest import TestDatabase


def test_fresh_database_is_reachable_directly_and_pooled(database: TestDatabase) -> None:
    """A per-test database answers on the direct URL and through PgBouncer, owned by the app role."""
    for url in (database.direct_url, database.pooled_url):
        with psycopg.connect(libpq_dsn(url), prepare_threshold=None) as conn:
            row = conn.execute(
                "SELECT current_database(), pg_get_userbyid(datdba) FROM pg_database "
                "WHERE datname = current_database()"
            ).fetchone()
            assert (database.name, "app") == row


def test_session_env_reports_both_processes(local_env: LocalEnv) -> None:
    """The session environment shows Postgres and PgBouncer running on their configured ports."""
    status = local_env.status()
    assert status.running
    assert local_env.config.postgres_port == status.postgres.port
    assert local_env.config.pgbouncer_port == status.pgbouncer.port
