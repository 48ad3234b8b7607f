"""Many clients repeating statements through PgBouncer's transaction pooling, as the app's engine does."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.db import pooled_engine
from tests.support import TestDatabase
from tests.support.app import settings_for

CLIENTS = 20
STATEMENTS = 50


async def _hammer(engine: AsyncEngine, statements: int = STATEMENTS) -> list[str]:
    """Each client holds one connection and runs the same parameterised statement in many transactions."""
    errors: list[str] = []

    async def client(number: int) -> None:
        async with engine.connect() as connection:
            for i in range(statements):
                try:
                    result = await connection.execute(
                        text("SELECT CAST(:n AS integer) + CAST(:i AS integer)"), {"n": number, "i": i}
                    )
                    assert number + i == result.scalar()
                    await connection.commit()
                except Exception as exc:  # counted: the test is about how many there are
                    errors.append(type(exc).__name__)
                    await connection.rollback()

    try:
        await asyncio.gather(*(client(n) for n in range(CLIENTS)))
    finally:
        await engine.dispose()
    return errors


def test_twenty_clients_repeating_statements_through_pgbouncer_get_no_errors(
    database: TestDatabase, script_dir: Path
) -> None:
    """20 clients x 50 repeated statements on the app's pooled engine through PgBouncer: zero errors."""
    settings = settings_for(database, script_dir, db_pool_size=CLIENTS, db_max_overflow=0)
    assert [] == asyncio.run(_hammer(pooled_engine(settings)))


def test_the_same_load_with_prepared_statements_breaks(database: TestDatabase) -> None:
    """Control: letting psycopg prepare (as by default) fails behind transaction pooling, so the test can."""
    connect_args: dict[str, Any] = {"prepare_threshold": 0}
    engine = create_async_engine(
        database.pooled_url, pool_size=CLIENTS, max_overflow=0, connect_args=connect_args
    )
    errors = asyncio.run(_hammer(engine, statements=10))  # a few repeats already break it
    assert errors, "expected prepared-statement errors behind PgBouncer 1.18"
