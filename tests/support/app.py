"""Helpers for the app's tests: settings for a test database, a test script directory, the app served
in-process.

The in-process app runs its real lifespan (engines, slots, head revision) behind httpx's ASGI transport,
so its requests reach the real PgBouncer and Postgres of the harness. `ThreadedApp` serves it over
real HTTP instead, under uvicorn in a thread: the smoke checks' app where its process is not the
subject.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
from fastapi import FastAPI
from psycopg import sql

from app.main import create_app
from app.settings import Settings, load_settings
from app.urls import libpq_dsn
from ops.errors import UserError
from ops.local.processes import free_port
from ops.smoke.appserver import START_TIMEOUT_S, STOP_TIMEOUT_S, StartedApp
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


class ThreadedApp(StartedApp):
    """ops.smoke.appserver.StartedApp's stand-in where the app's process is not what a test tests
    (the smoke checks): the same app (`create_app` on `environ` added to ours, read now) under the
    same uvicorn, on a free port of this machine, in a thread of the test process, which already
    holds its imports (a process of its own costs ~1 s of CPU to start). Its log lines are dropped:
    nothing reads them, and in a task run in process its stdout is the task's (tests/app/test_main.py,
    test_appserver.py and test_settings.py start the real process)."""

    def __init__(self, environ: dict[str, str]) -> None:
        self.environ = environ
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._failure = ""
        import uvicorn  # here: every test process loads this module while collecting

        app = create_app(load_settings({**os.environ, **environ}))
        for name in ("app", "uvicorn", "uvicorn.error"):
            logging.getLogger(name).handlers[:] = [logging.NullHandler()]
        # As the image's command: one worker, no access log; uvicorn's own logging config left alone.
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, access_log=False, log_config=None,
            timeout_graceful_shutdown=int(STOP_TIMEOUT_S),
        )  # fmt: skip
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name=f"app-{self.port}", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            self._server.run()  # in a thread uvicorn installs no signal handlers
        except BaseException as exc:
            self._failure = f"{type(exc).__name__}: {exc}"

    def url(self) -> str:
        """The base URL once uvicorn serves; UserError if it stopped or did not start in time."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive():
                raise UserError(f"the app stopped at start-up: {self._failure or 'no reason given'}")
            if time.monotonic() > deadline:
                raise UserError(f"the app did not answer {self.base_url} within {START_TIMEOUT_S:.0f} s")
            time.sleep(0.01)
        return self.base_url

    @property
    def stopped(self) -> bool:
        return not self._thread.is_alive()

    def stop(self) -> None:
        """A graceful shutdown (the lifespan's end: the pools disposed), waited for."""
        self._server.should_exit = True
        # uvicorn gives open requests STOP_TIMEOUT_S, as the app's process gets before it is killed
        # (ops/smoke/appserver.py); a thread cannot be killed, so one still alive after that fails.
        self._thread.join(STOP_TIMEOUT_S + 5)
        if self._thread.is_alive():
            raise AssertionError(
                f"the app in thread {self._thread.name} did not stop within {STOP_TIMEOUT_S + 5:.0f} s"
            )
        for name in ("app", "uvicorn", "uvicorn.error"):
            logging.getLogger(name).handlers.clear()
