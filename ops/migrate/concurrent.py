"""Concurrent DDL in revisions: `with op.get_context().autocommit_block():` around CREATE INDEX
CONCURRENTLY (and friends), which Postgres refuses inside a transaction.

On the migrator's connection Alembic commits the revision's transaction, runs the block in
autocommit and begins a new transaction for the rest; the session's advisory lock stays held, and
the block runs under `concurrent_statement_timeout` instead of the per-revision `statement_timeout`.
Where the migrations run inside one outer transaction that is rolled back anyway (the scratch
schema db.check and a verified stamp build), the block runs in place with CONCURRENTLY dropped: on
a private, empty table the plain statement builds the same index.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, event, text
from sqlalchemy.exc import DBAPIError

from ops.migrate.lock import Timeouts
from ops.migrate.waits import WAITED_NOTE, WaitWatch

# Added to an error raised inside a block, so the migrator's one-line message can say so.
IN_BLOCK_NOTE = "raised in a revision's autocommit block"
# Added too when the revision wrote something before its block: Alembic committed it as the block
# began, so a rerun (from the top of the revision) meets it again.
COMMITTED_BEFORE_NOTE = "statements before the block were committed"

_INVALID_INDEXES = """
SELECT i.relname, c.relname
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class c ON c.oid = x.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :schema AND NOT x.indisvalid
ORDER BY 1
"""

# The statements that only run outside a transaction block because of CONCURRENTLY.
_CONCURRENTLY = re.compile(
    r"^(\s*(?:CREATE\s+(?:UNIQUE\s+)?INDEX|DROP\s+INDEX|REINDEX\s+\w+(?:\s+\([^)]*\))?)\s+)CONCURRENTLY\s+",
    re.IGNORECASE,
)


def raised_in_block(exc: BaseException) -> bool:
    """True for an error raised inside a revision's autocommit block on the migrator's connection."""
    return IN_BLOCK_NOTE in getattr(exc, "__notes__", ())


def committed_before_block(exc: BaseException) -> bool:
    """True when the revision whose block raised `exc` had written something before the block."""
    return COMMITTED_BEFORE_NOTE in getattr(exc, "__notes__", ())


def _wrote(connection: Connection) -> bool:
    """True when the open transaction has written anything (Postgres gives it an id only then)."""
    return bool(connection.execute(text("SELECT pg_current_xact_id_if_assigned() IS NOT NULL")).scalar())


def invalid_indexes(connection: Connection, schema: str) -> list[str]:
    """`index on table` for each INVALID index in `schema`: a concurrent build that failed (or one
    still running)."""
    rows = connection.execute(text(_INVALID_INDEXES), {"schema": schema})
    return [f"{index} on {table}" for index, table in rows]


def _set_statement_timeout(connection: Connection, value: str) -> None:
    connection.execute(text("SELECT set_config('statement_timeout', :value, false)"), {"value": value})


def _with_timeout(
    context: MigrationContext, connection: Connection, timeouts: Timeouts, progress: Callable[[str], None]
) -> Any:
    plain = context.autocommit_block

    @contextmanager
    def block() -> Iterator[None]:
        committed_before = _wrote(connection)
        # Alembic's block commits, then switches this same Connection object to autocommit.
        with plain():
            _set_statement_timeout(connection, timeouts.concurrent_statement_timeout)
            watch = WaitWatch.start(connection, timeouts.concurrent_wait_s, progress)
            try:
                yield
            except DBAPIError as exc:
                exc.add_note(IN_BLOCK_NOTE)
                if committed_before:
                    exc.add_note(COMMITTED_BEFORE_NOTE)
                if watch is not None and watch.cancelled_for is not None:
                    exc.add_note(WAITED_NOTE + watch.cancelled_for)
                raise
            finally:
                if watch is not None:
                    watch.stop()
                # A lost connection raises here too: the block's own error says what happened.
                with suppress(DBAPIError):
                    _set_statement_timeout(connection, timeouts.statement_timeout)

    return block


def _without_concurrently(
    conn: Connection, cursor: object, statement: str, parameters: object, *context: object
) -> tuple[str, object]:
    """SQLAlchemy's before_cursor_execute hook (conn, cursor, statement, parameters, context,
    executemany): the statement without CONCURRENTLY."""
    del conn, cursor, context
    return _CONCURRENTLY.sub(r"\1", statement, count=1), parameters


@contextmanager
def _in_place() -> Iterator[None]:
    yield


def _quiet(_: str) -> None:
    """No progress sink was passed: the watch's lines go nowhere, its bound still holds."""


@contextmanager
def autocommit_blocks(
    context: MigrationContext,
    connection: Connection,
    timeouts: Timeouts | None,
    in_outer_transaction: bool,
    progress: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """For one run of the migrations on `connection` (migrations/env.py): autocommit blocks get the
    concurrent statement timeout and a watch on their waits (ops/migrate/waits.py), when the
    migrator passed its `timeouts` (and `progress`), or run in place inside an outer transaction.
    `context` is the run's own, so its block is replaced for this run only."""
    if not in_outer_transaction:
        if timeouts is not None:
            block = _with_timeout(context, connection, timeouts, progress or _quiet)
            context.autocommit_block = block  # type: ignore[method-assign]
        yield
        return
    context.autocommit_block = _in_place  # type: ignore[method-assign]
    event.listen(connection, "before_cursor_execute", _without_concurrently, retval=True)
    try:
        yield
    finally:
        event.remove(connection, "before_cursor_execute", _without_concurrently)
