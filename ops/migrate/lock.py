"""The migrator's own direct connection: refuses PgBouncer, takes the session advisory lock first
(waiting a bounded time and naming the holder), then sets the migration timeouts."""

from __future__ import annotations

import math
import os
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from app.dberrors import error_line
from app.identifiers import IDENTIFIER_RULE, is_identifier
from app.urls import mask_url, to_psycopg_url
from ops.errors import UserError
from ops.migrate.connect import open_connection
from ops.migrate.history import applied_by
from ops.migrate.target import DatabaseTarget

# First half of the two-int advisory lock key: "pg" in ASCII, so the lock is recognisable in
# pg_locks; the second half is derived from the schema, so two schemas migrate independently.
LOCK_CLASS = 0x7067
_MAX_LOCK_TIMEOUT_MS = 2**31 - 1  # the largest lock_timeout Postgres accepts (about 24 days)
# One wait for the lock, before the waiter lets go and queues again: below Postgres's default
# deadlock_timeout (1 s), so a concurrent index build of the holder never sees a deadlock.
_LOCK_WAIT_SLICE_MS = 250


@dataclass(frozen=True)
class Timeouts:
    """Postgres durations (`'5s'`, `'15min'`) for migration statements, and the lock wait.

    `concurrent_statement_timeout` replaces `statement_timeout` inside a revision's autocommit block
    (CREATE INDEX CONCURRENTLY and friends): such a build may rightly take hours, and it blocks no
    one while it runs.
    """

    lock_timeout: str = "5s"
    statement_timeout: str = "15min"
    lock_wait_s: float = 120.0
    concurrent_statement_timeout: str = "2h"
    # How long, in all, an autocommit block's statement may wait for other sessions' transactions
    # (a concurrent build's "waiting for ..." phases) before it is cancelled, naming the session.
    concurrent_wait_s: float = 300.0
    # How long the first connection retries a server it cannot reach (a cold network); 0: once.
    connect_timeout_s: float = 120.0

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Timeouts:
        """Defaults overridden by MIGRATE_LOCK_TIMEOUT, MIGRATE_STATEMENT_TIMEOUT, MIGRATE_LOCK_WAIT_S,
        MIGRATE_CONCURRENT_STATEMENT_TIMEOUT, MIGRATE_CONCURRENT_WAIT_S and MIGRATE_CONNECT_TIMEOUT_S
        in `environ` (the edge's os.environ)."""
        return cls(
            lock_timeout=environ.get("MIGRATE_LOCK_TIMEOUT", cls.lock_timeout),
            statement_timeout=environ.get("MIGRATE_STATEMENT_TIMEOUT", cls.statement_timeout),
            lock_wait_s=_seconds(environ, "MIGRATE_LOCK_WAIT_S", cls.lock_wait_s),
            connect_timeout_s=_seconds(environ, "MIGRATE_CONNECT_TIMEOUT_S", cls.connect_timeout_s),
            concurrent_statement_timeout=environ.get(
                "MIGRATE_CONCURRENT_STATEMENT_TIMEOUT", cls.concurrent_statement_timeout
            ),
            concurrent_wait_s=_seconds(environ, "MIGRATE_CONCURRENT_WAIT_S", cls.concurrent_wait_s),
        )


def _seconds(environ: Mapping[str, str], variable: str, default: float) -> float:
    value = environ.get(variable)
    try:
        seconds = float(value) if value else default
    except ValueError:
        seconds = math.nan
    if not 0 <= seconds < math.inf:
        raise UserError(f"{variable} must be a number of seconds, 0 or more (got {value!r})")
    return seconds


def lock_key(schema: str) -> int:
    """Second half of the advisory lock key: a positive int4 derived from the schema name."""
    return zlib.crc32(schema.encode()) & 0x7FFFFFFF


def refuse_pooled(target: DatabaseTarget) -> None:
    """A migration through PgBouncer would lose its session (lock, search_path): refuse it."""
    if target.pooled_url is None:
        return
    direct, pooled = make_url(target.direct_url), make_url(target.pooled_url)
    if (direct.host, direct.port or 5432) == (pooled.host, pooled.port or 5432):
        raise UserError(
            f"the direct URL {mask_url(target.direct_url)} goes through PgBouncer "
            "(same host and port as DATABASE_URL): set DIRECT_DATABASE_URL to Postgres itself "
            "(locally the postgresPort of the stack file, on Cloud SQL the Auth Proxy)"
        )


def _holder(connection: Connection, schema: str) -> str:
    row = connection.execute(
        text(
            "SELECT a.pid, a.application_name, a.usename, a.backend_start "
            "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :cls "
            "AND l.objid = :key AND l.database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())"
        ),
        {"cls": LOCK_CLASS, "key": lock_key(schema)},
    ).first()
    if row is None:
        return "another session (it may have just finished)"
    started = row.backend_start.strftime("%H:%M:%S %Z") if row.backend_start else "?"
    name = row.application_name or "unnamed client"
    return f"pid {row.pid} ({name}, user {row.usename}, connected at {started})"


def _acquire(connection: Connection, schema: str, wait_s: float, progress: Callable[[str], None]) -> None:
    params = {"cls": LOCK_CLASS, "key": lock_key(schema)}
    if connection.execute(text("SELECT pg_try_advisory_lock(:cls, :key)"), params).scalar():
        return
    who = _holder(connection, schema)
    connection.rollback()
    if wait_s * 1000 < 1:  # lock_timeout=0 would mean waiting forever, the opposite of "do not wait"
        raise UserError(
            f"another migrator holds the migration lock on {schema!r} ({who}) and "
            "MIGRATE_LOCK_WAIT_S is 0: wait for it to finish, or stop it, then retry"
        )
    progress(f"waiting up to {wait_s:g}s for the migration lock on {schema!r}, held by {who}")
    # Postgres queues the waiter and wakes it when the lock frees (no polling), but in slices: a
    # waiting statement holds a snapshot, and CREATE INDEX CONCURRENTLY run by the lock's holder
    # waits for every older snapshot's transaction to end. One long wait would deadlock it; a
    # slice ends (and rolls back) well within that build's lock_timeout and deadlock_timeout.
    deadline = time.monotonic() + wait_s
    while True:
        left_ms = min(int((deadline - time.monotonic()) * 1000), _MAX_LOCK_TIMEOUT_MS)
        if left_ms < 1:
            raise UserError(
                f"another migrator still holds the migration lock on {schema!r} after {wait_s:g}s "
                f"({_holder(connection, schema)}): wait for it to finish, or stop it, then retry"
            )
        slice_ms = min(left_ms, _LOCK_WAIT_SLICE_MS)
        try:
            connection.execute(text("SELECT set_config('lock_timeout', :ms, false)"), {"ms": f"{slice_ms}ms"})
            connection.execute(text("SELECT pg_advisory_lock(:cls, :key)"), params)
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) != "55P03":
                raise
            connection.rollback()  # ends the transaction, its snapshot, and the slice's lock_timeout
            continue
        connection.commit()  # a session lock: it stays held across this and every later commit
        return


def _silent(_: str) -> None:
    """No progress to show: a single attempt."""


@contextmanager
def direct_connection(
    target: DatabaseTarget, connect_timeout_s: float = 0.0, progress: Callable[[str], None] | None = None
) -> Iterator[Connection]:
    """A plain direct connection (no lock), named so `pg_stat_activity` shows who it is.

    `connect_timeout_s` > 0: an unreachable server is retried up to that long (the migrator's first
    connection, see ops/migrate/connect.py); the read-only tasks try once and say so at once."""
    refuse_pooled(target)
    # The schema is spliced into DDL (CREATE SCHEMA, search_path): only plain identifiers pass.
    if not is_identifier(target.schema):
        raise UserError(f"DB_SCHEMA must be {IDENTIFIER_RULE}, got {target.schema!r}")
    url = to_psycopg_url(target.direct_url)
    name = f"pgstack-migrate {applied_by()} pid {os.getpid()}"[:63]
    hint = f"is the database up (`invoke env.up` locally, the Auth Proxy for --env {target.env})?" + (
        " MIGRATE_CONNECT_TIMEOUT_S bounds the wait" if connect_timeout_s > 0 else ""
    )
    engine, connection = open_connection(
        url, name, bound_s=connect_timeout_s, progress=progress or _silent, hint=hint
    )
    try:
        yield connection
    finally:
        connection.close()
        engine.dispose()


@contextmanager
def migration_connection(
    target: DatabaseTarget, timeouts: Timeouts, progress: Callable[[str], None]
) -> Iterator[Connection]:
    """A direct connection holding the schema's migration lock, with the migration timeouts set.

    The lock is session-level, so it spans Alembic's per-revision commits; closing the connection
    (or the process dying) releases it.
    """
    with direct_connection(target, timeouts.connect_timeout_s, progress) as connection:
        _acquire(connection, target.schema, timeouts.lock_wait_s, progress)
        try:
            connection.execute(
                text(
                    "SELECT set_config('lock_timeout', :lock, false), "
                    "set_config('statement_timeout', :stmt, false)"
                ),
                {"lock": timeouts.lock_timeout, "stmt": timeouts.statement_timeout},
            )
        except DBAPIError as exc:  # e.g. MIGRATE_LOCK_TIMEOUT=5 parsecs
            raise UserError(
                f"invalid migration timeout ({error_line(exc)}): use Postgres durations like 5s or 15min "
                "in MIGRATE_LOCK_TIMEOUT / MIGRATE_STATEMENT_TIMEOUT"
            ) from None
        # Postgres 14+: a backend whose migrator died (SIGKILL, lost VM) notices within a second,
        # even inside a long statement, and rolls back, releasing the migration lock.
        if (connection.dialect.server_version_info or (0,)) >= (14,):
            connection.execute(text("SET client_connection_check_interval = '1s'"))
        connection.commit()
        yield connection
