"""Pool sizing: behind PgBouncer every slot keeps a connection; direct, the budget is exact."""

from __future__ import annotations

from sqlalchemy.pool import QueuePool

from app.db import pooled_engine, slots_limit
from app.settings import Settings

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
