"""The concurrency limit: N requests use the database at once, the rest get 503 + Retry-After in time."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
from sqlalchemy import text

from app.deps import DbConnection
from app.main import create_app
from tests.support import TestDatabase
from tests.support.app import serving, settings_for

SLOTS = 3
EXTRA = 2
QUERY_S = 1.0
MAX_WAIT_MS = 300


def test_requests_beyond_the_limit_get_503_after_the_maximum_wait(
    database: TestDatabase, script_dir: Path
) -> None:
    """With N slots and N+M slow requests, N succeed and M answer 503 with Retry-After after the wait."""
    settings = settings_for(
        database, script_dir, db_semaphore_limit=SLOTS, db_semaphore_max_wait_ms=MAX_WAIT_MS
    )
    app = create_app(settings)

    @app.get("/slow")
    async def slow(connection: DbConnection) -> dict[str, bool]:
        await connection.execute(text("SELECT pg_sleep(:s)"), {"s": QUERY_S})
        return {"slept": True}

    async def timed(client: httpx.AsyncClient) -> tuple[int, str | None, float]:
        started = time.perf_counter()
        response = await client.get("/slow")
        return response.status_code, response.headers.get("retry-after"), time.perf_counter() - started

    async def run() -> list[tuple[int, str | None, float]]:
        async with serving(app) as client:
            return await asyncio.wait_for(
                asyncio.gather(*(timed(client) for _ in range(SLOTS + EXTRA))), timeout=10
            )

    results = asyncio.run(run())
    succeeded = [r for r in results if r[0] == 200]
    refused = [r for r in results if r[0] == 503]
    assert SLOTS == len(succeeded)
    assert EXTRA == len(refused)
    assert all(retry_after == "1" for _, retry_after, _ in refused)
    # Refused after the maximum wait, well before the slow queries end: no request hung.
    assert all(MAX_WAIT_MS / 1000 <= elapsed < QUERY_S for _, _, elapsed in refused)
    assert all(QUERY_S <= elapsed < QUERY_S + 2 for _, _, elapsed in succeeded)
