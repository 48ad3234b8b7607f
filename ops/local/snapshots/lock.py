"""One snapshot operation at a time per cluster, a background copy or drop included: a session
advisory lock, beside the migrator's."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import psycopg

from ops.errors import UserError

# The advisory lock key of snapshot operations: "ps" and a constant, beside the migrator's "pg".
LOCK = (0x7073, 1)
LOCK_WAIT_MS = 600_000  # how long an operation waits for the one before it


@contextlib.contextmanager
def one_at_a_time(conn: psycopg.Connection, progress: Callable[[str], None]) -> Iterator[None]:
    """Hold the snapshots' lock on `conn` while the block runs, saying so when it has to wait."""
    row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", LOCK).fetchone()
    if not (row and row[0]):
        progress("waiting for another snapshot operation (or a copy in the background) to finish")
        conn.execute(f"SET lock_timeout = {LOCK_WAIT_MS}")
        try:
            conn.execute("SELECT pg_advisory_lock(%s, %s)", LOCK)
        except psycopg.errors.LockNotAvailable:
            raise UserError(
                f"another snapshot operation has been running for {LOCK_WAIT_MS // 1000} s: "
                "let it finish, then retry"
            ) from None
        finally:
            conn.execute("SET lock_timeout = 0")
    try:
        yield
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s, %s)", LOCK)


def wait_for_unlock(conn: psycopg.Connection, timeout_s: float) -> None:
    """Return once nobody holds the snapshots' lock (a lock_timeout error after `timeout_s`)."""
    conn.execute(f"SET lock_timeout = {int(timeout_s * 1000)}")
    conn.execute("SELECT pg_advisory_lock(%s, %s)", LOCK)
    conn.execute("SELECT pg_advisory_unlock(%s, %s)", LOCK)
