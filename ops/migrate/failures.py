"""What a failed revision or stamp says, in one line: a lock wait, a timeout, a failure inside an
autocommit block (where nothing is rolled back, and an INVALID index may be left)."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError

from app.dberrors import error_line, sqlstate
from ops.migrate.concurrent import committed_before_block, raised_in_block
from ops.migrate.lock import Timeouts
from ops.migrate.waits import WAITED_NOTE


def failure_message(exc: DBAPIError, revision: str, timeouts: Timeouts, what: str = "revision") -> str:
    """A revision (or stamp) that failed in its transaction, which rolled it back."""
    state, first = sqlstate(exc), error_line(exc)
    if state == "55P03":
        return (
            f"{what} {revision} could not get a lock within lock_timeout={timeouts.lock_timeout} "
            f"({first}): another transaction holds the table; let it finish (see pg_stat_activity) "
            f"and retry, nothing was applied for this {what}"
        )
    if state == "57014":
        return (
            f"{what} {revision} exceeded statement_timeout={timeouts.statement_timeout}: raise "
            "MIGRATE_STATEMENT_TIMEOUT or make the revision cheaper; it was rolled back"
        )
    return f"{what} {revision} failed and was rolled back: {first}"


def block_failure_message(exc: DBAPIError, revision: str, timeouts: Timeouts, leftovers: list[str]) -> str:
    """A failure inside the revision's autocommit block, where nothing is rolled back."""
    state, first = sqlstate(exc), error_line(exc)
    waited = [
        note.removeprefix(WAITED_NOTE)
        for note in getattr(exc, "__notes__", ())
        if note.startswith(WAITED_NOTE)
    ]
    if waited:
        pid = waited[0].split()[1]
        cause = (
            f"waited MIGRATE_CONCURRENT_WAIT_S={timeouts.concurrent_wait_s:g}s in its autocommit block for "
            f"{waited[0]} and was cancelled: end that session (SELECT pg_terminate_backend({pid})) or "
            "let its transaction finish"
        )
    elif state == "57014":
        cause = (
            f"exceeded MIGRATE_CONCURRENT_STATEMENT_TIMEOUT={timeouts.concurrent_statement_timeout} "
            "in its autocommit block (raise it for a big table)"
        )
    elif state == "55P03":
        cause = (
            f"could not get a lock within lock_timeout={timeouts.lock_timeout} in its autocommit block "
            f"({first}): a long transaction held it up"
        )
    else:
        cause = f"failed in its autocommit block: {first}"
    left = f"; it left INVALID index {', '.join(leftovers)} behind (db.check lists it)" if leftovers else ""
    if committed_before_block(exc):
        # Alembic committed the revision's earlier statements as the block began: they stay, and a
        # rerun, from the top of the revision, meets them again.
        return (
            f"revision {revision} {cause}{left}; it is not recorded as applied, but its statements "
            "before the autocommit block were committed when the block began and stay: undo them by "
            "hand (or make them idempotent: IF NOT EXISTS) before rerunning `db.migrate`, which runs "
            "the revision again from the top"
        )
    return (
        f"revision {revision} {cause}{left}; it is not recorded as applied: rerun `db.migrate` once the "
        "cause is gone, it runs again from the top (the template's pattern drops an invalid index first)"
    )


def run_failure(exc: DBAPIError, revision: str, timeouts: Timeouts, leftovers: list[str]) -> str:
    if raised_in_block(exc):
        return block_failure_message(exc, revision, timeouts, leftovers)
    return failure_message(exc, revision, timeouts)
