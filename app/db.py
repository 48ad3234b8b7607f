"""Engines and connections: pooled (through PgBouncer, transaction pooling) and direct (admin work).

Nothing here relies on session state, because behind PgBouncer a connection is lent per transaction.
FastAPI is not imported here (its route parameters are in `app.deps`): the smoke checks use this
module's engine, and FastAPI's import is most of a process's start-up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.concurrency import DbSlots
from app.settings import Settings

# Server connections are recycled by PgBouncer (server_lifetime); client connections to PgBouncer
# are recycled well before any idle timeout a proxy or NAT on the way could apply.
_POOL_RECYCLE_S = 300


def _connect_args(settings: Settings, *, direct: bool) -> dict[str, Any]:
    args: dict[str, Any] = {
        # PgBouncer 1.18 cannot follow prepared statements across transactions: never prepare.
        "prepare_threshold": None,
        "connect_timeout": settings.db_connect_timeout_s,
    }
    if direct and settings.db_statement_timeout_ms:
        # A direct connection is ours for its lifetime, so a session setting at startup is safe.
        args["options"] = f"-c statement_timeout={settings.db_statement_timeout_ms}"
    return args


def _set_local_statement_timeout(engine: AsyncEngine, timeout_ms: int) -> None:
    """Bound every transaction with SET LOCAL: it dies with the transaction, so it is pooling-safe."""

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Connection) -> None:
        # Autocommit work (the health checks) has no transaction to scope it to; it runs under its
        # own deadline instead. Measured: the extra statement costs ~40% of a SELECT 1's throughput.
        if connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            return
        connection.exec_driver_sql(f"SET LOCAL statement_timeout = {int(timeout_ms)}")


def _iam_tokens_as_passwords(engine: AsyncEngine, settings: Settings) -> None:
    """DB_IAM_AUTH: every new connection logs in with the service account's current access token."""
    from app.iamauth import AccessTokens

    tokens = AccessTokens(settings.gce_metadata_host)

    @event.listens_for(engine.sync_engine, "do_connect")
    def _token(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        # A blocking call on the event loop's thread, but once an hour (cached), a few ms each.
        cparams["password"] = tokens.get()


def _pool_size(settings: Settings) -> int:
    if settings.db_pool_mode == "pgbouncer-transaction":
        # Every slot of the concurrency limit can hold a connection to PgBouncer: a QueuePool closes
        # its overflow connections at checkin, and each reconnect pays a SCRAM handshake (measured:
        # a pool smaller than the limit reconnected on every third /healthz/db request).
        return max(settings.db_pool_size, settings.db_semaphore_limit)
    # Direct to Postgres, the pool is part of the connection budget (stacks/budget.py): exact.
    return settings.db_pool_size


def slots_limit(settings: Settings) -> int:
    """Requests allowed on the database at once: more than the pool holds would only move the
    wait from the slot (bounded, then 503) to the pool (pool_timeout, then an error)."""
    return min(settings.db_semaphore_limit, _pool_size(settings) + settings.db_max_overflow)


def _in_db_schema(settings: Settings) -> dict[str, Any]:
    """Execution options naming DB_SCHEMA in every model statement (the models are unqualified)."""
    # Imported here: `import app.main` stays free of the models (cold start); engines need them.
    from app.models import schema_execution_options

    return schema_execution_options(settings.db_schema)


def pooled_engine(settings: Settings) -> AsyncEngine:
    """The engine requests use: DATABASE_URL, through PgBouncer in `pgbouncer-transaction` mode."""
    behind_pgbouncer = settings.db_pool_mode == "pgbouncer-transaction"
    # Client-side pool behind PgBouncer, chosen by measurement (bench/health_load.py prints it):
    # a NullPool opens a new client connection per checkout and pays PgBouncer's SCRAM handshake
    # each time, 11-20x slower for short queries than a small QueuePool of connections to PgBouncer.
    # Pre-ping is off: it cost 10-43% of the throughput in our runs, and a PgBouncer restart costs
    # the requests in flight only, since SQLAlchemy invalidates the whole pool on the first
    # disconnect error.
    engine = create_async_engine(
        settings.database_url.get_secret_value(),
        pool_size=_pool_size(settings),
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_s,
        pool_recycle=_POOL_RECYCLE_S,
        pool_pre_ping=False,
        connect_args=_connect_args(settings, direct=not behind_pgbouncer),
        # DB_SCHEMA is named in each statement: search_path would not survive transaction pooling.
        execution_options=_in_db_schema(settings),
    )
    if behind_pgbouncer and settings.db_statement_timeout_ms:
        _set_local_statement_timeout(engine, settings.db_statement_timeout_ms)
    if settings.db_iam_auth:
        _iam_tokens_as_passwords(engine, settings)
    return engine


def direct_engine(settings: Settings) -> AsyncEngine:
    """An engine straight to Postgres for admin work (DIRECT_DATABASE_URL), small and pre-pinged."""
    return create_async_engine(
        settings.direct_url(),
        pool_size=1,
        max_overflow=1,
        pool_pre_ping=True,
        connect_args=_connect_args(settings, direct=True),
        execution_options=_in_db_schema(settings),
    )


class Database:
    """One process's database access: the pooled engine, sessions, and the concurrency limit."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = pooled_engine(settings)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.slots = DbSlots(slots_limit(settings), settings.db_semaphore_max_wait_ms / 1000)

    @asynccontextmanager
    async def connection(self, *, autocommit: bool = False) -> AsyncIterator[AsyncConnection]:
        """A pooled connection once a slot is free; raises DbBusy after the maximum wait."""
        async with self.slots.slot(), self.engine.connect() as connection:
            if autocommit:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
            yield connection

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """An ORM session once a slot is free; raises DbBusy after the maximum wait."""
        async with self.slots.slot(), self.sessions() as session:
            yield session

    async def dispose(self) -> None:
        """Close the pool's connections (at shutdown)."""
        await self.engine.dispose()
