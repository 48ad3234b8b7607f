"""The engines: pool sizing per mode, the statement timeout behind PgBouncer, the models in DB_SCHEMA."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import QueuePool

from app.db import Database, direct_engine, pooled_engine, slots_limit
from app.models import User
from app.settings import Settings
from ops.migrate.migrator import migrate
from tests.support import TestDatabase

URL = "postgresql://app:pw@127.0.0.1:6432/app"


def _pool(settings: Settings) -> QueuePool:
    pool = pooled_engine(settings).sync_engine.pool
    assert isinstance(pool, QueuePool)
    return pool


def test_behind_pgbouncer_the_pool_holds_a_connection_per_slot() -> None:
    """A pool smaller than the concurrency limit is grown to it (no reconnect per request)."""
    settings = Settings(database_url=URL, db_pool_size=2, db_max_overflow=0, db_semaphore_limit=7)  # type: ignore[arg-type]
    assert 7 == _pool(settings).size()
    assert 7 == slots_limit(settings)


def test_direct_the_pool_is_the_configured_budget_and_limits_the_slots() -> None:
    """Direct to Postgres the configured pool is kept exactly, and slots never exceed it."""
    settings = Settings(
        database_url=URL,  # type: ignore[arg-type]
        db_pool_mode="direct",
        db_pool_size=2,
        db_max_overflow=1,
        db_semaphore_limit=7,
    )
    assert 2 == _pool(settings).size()
    assert 3 == slots_limit(settings)


def test_statement_timeout_applies_inside_transactions_behind_pgbouncer(database: TestDatabase) -> None:
    """Behind PgBouncer a slow statement is cancelled by the per-transaction SET LOCAL timeout."""
    settings = Settings(
        database_url=database.pooled_url,  # type: ignore[arg-type]
        db_schema=database.schema,
        db_statement_timeout_ms=200,
    )

    async def run() -> tuple[str, str]:
        engine = pooled_engine(settings)
        try:
            async with engine.connect() as connection:
                shown = str((await connection.execute(text("SHOW statement_timeout"))).scalar())
                await connection.rollback()
                try:
                    await connection.execute(text("SELECT pg_sleep(2)"))
                except DBAPIError as exc:
                    return shown, type(exc.orig).__name__
                return shown, "no error"
        finally:
            await engine.dispose()

    assert ("200ms", "QueryCanceled") == asyncio.run(run())


def test_direct_engine_reaches_postgres_with_a_session_timeout(database: TestDatabase) -> None:
    """The admin engine connects to Postgres itself (not PgBouncer), its timeout a session setting."""
    settings = Settings(
        database_url=database.pooled_url,  # type: ignore[arg-type]
        direct_database_url=database.direct_url,  # type: ignore[arg-type]
        db_statement_timeout_ms=1500,
    )

    async def run() -> tuple[str, int]:
        engine = direct_engine(settings)
        try:
            async with engine.connect() as connection:
                timeout = str((await connection.execute(text("SHOW statement_timeout"))).scalar())
                port = int((await connection.execute(text("SELECT inet_server_port()"))).scalar_one())
                return timeout, port
        finally:
            await engine.dispose()

    assert ("1500ms", make_url(database.direct_url).port) == asyncio.run(run())


def test_sessions_find_the_models_in_db_schema_without_search_path(database: TestDatabase) -> None:
    """The pooled sessions and the direct engine reach the models in DB_SCHEMA, whatever search_path is."""
    schema = "tenant_x"  # not the role's name, so the default search_path ("$user", public) misses it
    migrate(database.target(schema), progress=lambda _: None)
    settings = Settings(
        database_url=database.pooled_url,  # type: ignore[arg-type]
        direct_database_url=database.direct_url,  # type: ignore[arg-type]
        db_schema=schema,
    )

    async def run() -> tuple[int, int]:
        db = Database(settings)
        direct = direct_engine(settings)
        try:
            async with db.session() as session:
                session.add(User(email="someone@example.com"))
                await session.commit()
                pooled_count = (await session.execute(select(func.count()).select_from(User))).scalar_one()
            async with direct.connect() as connection:
                direct_count = (await connection.execute(select(func.count()).select_from(User))).scalar_one()
            return pooled_count, direct_count
        finally:
            await db.dispose()
            await direct.dispose()

    assert (1, 1) == asyncio.run(run())
