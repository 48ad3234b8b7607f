"""The health endpoints against the harness's real PgBouncer and Postgres."""

from __future__ import annotations

import asyncio
from pathlib import Path

from app.main import create_app
from tests.support import TestDatabase
from tests.support.app import FIRST_REVISION, HEAD_REVISION, served, serving, settings_for, stamp


def test_healthz_answers_without_touching_the_database(database: TestDatabase, script_dir: Path) -> None:
    """/healthz answers 200 even when the database URL points nowhere."""
    settings = settings_for(database, script_dir, database_url="postgresql://app:pw@127.0.0.1:1/nowhere")

    async def call() -> tuple[int, object]:
        async with served(settings) as client:
            response = await client.get("/healthz")
            return response.status_code, response.json()

    assert (200, {"status": "ok"}) == asyncio.run(call())


def test_healthz_db_selects_one_through_pgbouncer(database: TestDatabase, script_dir: Path) -> None:
    """/healthz/db answers {"db_ok": true} through the pooled URL."""

    async def call() -> tuple[int, object]:
        async with served(settings_for(database, script_dir)) as client:
            response = await client.get("/healthz/db")
            return response.status_code, response.json()

    assert (200, {"db_ok": True}) == asyncio.run(call())


def test_healthz_db_reports_an_unreachable_database(database: TestDatabase, script_dir: Path) -> None:
    """/healthz/db answers 503 with the driver's reason, and no password, when it cannot connect."""
    settings = settings_for(database, script_dir, database_url="postgresql://app:s3cret@127.0.0.1:1/app")

    async def call() -> tuple[int, dict[str, object]]:
        async with served(settings) as client:
            response = await client.get("/healthz/db")
            return response.status_code, response.json()

    status, body = asyncio.run(call())
    assert 503 == status
    assert False is body["db_ok"]
    assert "OperationalError" in str(body["reason"])
    assert "s3cret" not in str(body)


def _readyz(database: TestDatabase, script_dir: Path) -> tuple[int, dict[str, object]]:
    async def call() -> tuple[int, dict[str, object]]:
        async with served(settings_for(database, script_dir)) as client:
            response = await client.get("/readyz")
            return response.status_code, response.json()

    return asyncio.run(call())


def test_readyz_is_ready_at_head(database: TestDatabase, script_dir: Path) -> None:
    """/readyz answers 200 with both checks ok when the database is stamped at the shipped head."""
    stamp(database, HEAD_REVISION)
    assert (200, {"ok": ["database", "migrations"], "failing": {}, "revision": HEAD_REVISION}) == _readyz(
        database, script_dir
    )


def test_readyz_says_the_database_is_behind_head(database: TestDatabase, script_dir: Path) -> None:
    """/readyz answers 503 naming both revisions when the database is one migration behind."""
    stamp(database, FIRST_REVISION)
    status, body = _readyz(database, script_dir)
    assert 503 == status
    assert ["database"] == body["ok"]
    assert (
        f"database at {FIRST_REVISION}, the app expects {HEAD_REVISION}: run the migrations"
        == body["failing"]["migrations"]  # type: ignore[index]
    )


def test_readyz_says_an_unmigrated_database_is_not_ready(database: TestDatabase, script_dir: Path) -> None:
    """/readyz answers 503 when the schema has no alembic_version table at all."""
    stamp(database, None)
    status, body = _readyz(database, script_dir)
    assert 503 == status
    assert "is not migrated" in body["failing"]["migrations"]  # type: ignore[index]


def test_readyz_reports_unreadable_shipped_migrations(database: TestDatabase, tmp_path: Path) -> None:
    """/readyz answers 503 when the image's migrations cannot be read, though the database is fine."""
    stamp(database, HEAD_REVISION)
    status, body = _readyz(database, tmp_path / "missing")
    assert 503 == status
    assert ["database"] == body["ok"]
    assert "cannot read the migrations shipped" in body["failing"]["migrations"]  # type: ignore[index]


def test_concurrent_healthz_db_requests_share_one_ping(database: TestDatabase, script_dir: Path) -> None:
    """Requests arriving while a ping is in flight share it; sequential requests each ping again."""

    async def call() -> tuple[list[int], int, int]:
        app = create_app(settings_for(database, script_dir))
        async with serving(app) as client:
            burst = await asyncio.gather(*(client.get("/healthz/db") for _ in range(20)))
            after_burst = app.state.ping.pings
            for _ in range(3):
                await client.get("/healthz/db")
            return [r.status_code for r in burst], after_burst, app.state.ping.pings - after_burst

    statuses, burst_pings, sequential_pings = asyncio.run(call())
    assert [200] * 20 == statuses
    assert burst_pings < 20
    assert 3 == sequential_pings
