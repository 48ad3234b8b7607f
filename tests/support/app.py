"""Helpers for the app's tests: settings for a test database, a test script directory, the app served
in-process.

The in-process app runs its real lifespan (engines, slots, head revision) behind httpx's ASGI transport,
so its requests reach the real PgBouncer and Postgres of the harness.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
from fastapi import FastAPI
from psycopg import sql

from app.main import create_app
from app.settings import Settings
from app.urls import libpq_dsn
from tests.support import TestDatabase
from tests.support.revisions import write_revision

FIRST_REVISION = "a1first"
HEAD_REVISION = "b2second"


def write_script_directory(root: Path) -> Path:
    """A two-revision Alembic script directory (a1first -> b2second), independent of migrations/."""
    versions = root / "versions"
    versions.mkdir(parents=True)
    for revision, down in ((FIRST_REVISION, None), (HEAD_REVISION, FIRST_REVISION)):
        write_revision(versions, revision, down, doc=f"Test revision {revision}.")
    return root


def settings_for(database: TestDatabase, script_dir: Path, **overrides: Any) -> Settings:
    """The app's settings for a test database, with any field replaced."""
    values: dict[str, Any] = {
        "database_url": database.pooled_url,
        "direct_database_url": database.direct_url,
        "db_schema": database.schema,
        "migrations_dir": script_dir,
        **overrides,
    }
    return Settings(**values)


def stamp(database: TestDatabase, revision: str | None) -> None:
    """Write <schema>.alembic_version as Alembic does (None: drop the table)."""
    table = sql.Identifier(database.schema, "alembic_version")
    with psycopg.connect(libpq_dsn(database.direct_url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
        if revision is not None:
            conn.execute(sql.SQL("CREATE TABLE {} (version_num varchar(32) PRIMARY KEY)").format(table))
            conn.execute(sql.SQL("INSERT INTO {} VALUES (%s)").format(table), (revision,))


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan started, and a client that calls it in-process."""
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
                yield client
    finally:
        # The app's log handlers hold this test's captured stdout: drop them with it.
        for name in ("app", "uvicorn", "uvicorn.error"):
            logging.getLogger(name).handlers.clear()


@asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """`serving(create_app(settings))`."""
    async with serving(create_app(settings)) as client:
        yield client
