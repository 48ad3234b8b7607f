"""Postgres or PgBouncer going away while the app runs: quick 503s, then 200s again without a restart.

These tests stop processes, so they use a private environment, never the session's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from ops.local.native import LocalEnv
from tests.support import TestDatabase
from tests.support.app import HEAD_REVISION, served, settings_for, stamp

TIMEOUT_MS = 1000
ENDPOINTS = ("/healthz/db", "/readyz")


async def _statuses(client: httpx.AsyncClient) -> dict[str, tuple[int, float]]:
    """Each DB endpoint's status and how long it took to answer."""
    answers = {}
    for path in ENDPOINTS:
        started = time.perf_counter()
        response = await client.get(path)
        answers[path] = (response.status_code, time.perf_counter() - started)
    return answers


async def _until_all_ok(client: httpx.AsyncClient, within_s: float) -> dict[str, int]:
    deadline = time.monotonic() + within_s
    while True:
        statuses = {path: status for path, (status, _) in (await _statuses(client)).items()}
        if set(statuses.values()) == {200} or time.monotonic() > deadline:
            return statuses
        await asyncio.sleep(0.2)


def _outage(env: LocalEnv, database: TestDatabase, script_dir: Path, stop: Callable[[], object]) -> None:
    stamp(database, HEAD_REVISION)
    settings = settings_for(database, script_dir, health_timeout_ms=TIMEOUT_MS)

    async def scenario() -> tuple[dict[str, int], dict[str, tuple[int, float]], dict[str, int]]:
        async with served(settings) as client:
            before = await _until_all_ok(client, within_s=5)
            await asyncio.to_thread(stop)
            during = await _statuses(client)
            await asyncio.to_thread(env.up)
            after = await _until_all_ok(client, within_s=15)
            return before, during, after

    before, during, after = asyncio.run(scenario())
    assert {"/healthz/db": 200, "/readyz": 200} == before
    for path, (status, elapsed) in during.items():
        assert 503 == status, path
        assert elapsed < TIMEOUT_MS / 1000 + 0.5, f"{path} took {elapsed:.2f} s"
    assert {"/healthz/db": 200, "/readyz": 200} == after


def test_postgres_stopped_and_restarted(
    private_env: LocalEnv, private_database: TestDatabase, script_dir: Path
) -> None:
    """Postgres stopped: both DB endpoints answer 503 within their timeout; restarted: 200 again."""
    _outage(private_env, private_database, script_dir, private_env.stop_postgres)


def test_pgbouncer_restarted(private_env: LocalEnv, private_database: TestDatabase, script_dir: Path) -> None:
    """PgBouncer stopped: both DB endpoints answer 503 within their timeout; restarted: 200 again."""
    _outage(private_env, private_database, script_dir, private_env.stop_pgbouncer)
