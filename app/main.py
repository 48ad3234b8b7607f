"""The FastAPI app: the factory `create_app` (`uvicorn --factory app.main:create_app`: Cloud Run,
`invoke app.serve`) and, for FastAPI's convention, a module-level `app` (`uvicorn app.main:app`,
`fastapi run`).

Importing this module reads no settings and opens nothing: `app` is built from the environment on
first access (PEP 562's module `__getattr__`), so a bad environment fails there, at start-up, with
one line, and the import stays cheap (part of every cold start).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from app.concurrency import DbBusy
from app.db import Database
from app.health import SharedPing, read_head_revisions
from app.health import router as health_router
from app.logs import RequestLogMiddleware, configure_logging
from app.settings import Settings, SettingsError, get_settings

log = logging.getLogger("app")

# Declared for type checkers and readers; not assigned, so `__getattr__` below builds it when read.
app: FastAPI


def __getattr__(name: str) -> FastAPI:
    """`app`, built by `create_app()` from the environment on first access and kept."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    built = create_app()  # a bad environment: SystemExit with one line, as from the factory
    globals()["app"] = built  # later reads find the global and never come back here
    return built


def __dir__() -> list[str]:
    """The module's names, `app` included before it is built: `fastapi run` looks for it in dir()."""
    return sorted({*globals(), "app"})


def _head_revisions(settings: Settings) -> frozenset[str] | str:
    """The shipped head(s), or why they could not be read (then /readyz reports it)."""
    try:
        heads = read_head_revisions(settings.migrations_dir)
    except Exception as exc:  # reported by /readyz, the app still serves liveness
        return f"cannot read the migrations shipped in {settings.migrations_dir}: {exc}"
    return heads or f"no migration scripts in {settings.migrations_dir}"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; a bad environment exits with one line naming the variable."""
    if settings is None:
        try:
            settings = get_settings()
        except SettingsError as exc:
            raise SystemExit(f"error: {exc}") from None
    configure_logging(settings)
    heads = _head_revisions(settings)
    if isinstance(heads, str):
        log.warning("%s", heads)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database(settings)
        app.state.database = database
        app.state.ping = SharedPing(database)
        app.state.head_revisions = heads
        log.info(
            "serving with %s pooling, %d database slots, head %s",
            settings.db_pool_mode,
            database.slots.limit,
            heads if isinstance(heads, str) else ", ".join(sorted(heads)),
        )
        try:
            yield
        finally:
            await database.dispose()

    app = FastAPI(title="pgstack", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.include_router(health_router)
    app.add_exception_handler(DbBusy, _database_busy)  # type: ignore[arg-type]  # Starlette types handlers loosely
    app.add_middleware(RequestLogMiddleware, project=settings.google_cloud_project)
    return app


async def _database_busy(_: Request, exc: DbBusy) -> JSONResponse:
    """503 + Retry-After when no database slot freed up in time: the client retries, nothing hangs."""
    return JSONResponse(
        {"detail": f"database busy: {exc}"},
        status_code=503,
        headers={"Retry-After": str(exc.retry_after_s)},
    )
