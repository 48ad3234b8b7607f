"""Copying a database inside the cluster (`CREATE DATABASE ... TEMPLATE`), with its progress
reported from a second connection while the copy runs."""

from __future__ import annotations

import threading
from collections.abc import Callable

import psycopg
from psycopg import sql

from app.urls import libpq_dsn
from ops.local.snapshots.quiesce import Quiescer
from ops.local.snapshots.snapshot import human_size, snapshot_database, spare_database

PROGRESS_EVERY_S = 1.0
_ATTEMPTS = 5  # sessions that connect between the quieting and the copy are ended this many times


def file_copy(conn: psycopg.Connection) -> sql.Composable:
    """The copy strategy to append to a CREATE DATABASE ... TEMPLATE."""
    # Postgres 15's default strategy copies block by block through the WAL: for a database
    # of a gigabyte, far slower than copying its files (and a gigabyte of WAL).
    return sql.SQL(" STRATEGY FILE_COPY") if conn.info.server_version >= 150000 else sql.SQL("")


def spare_statement(conn: psycopg.Connection, database: str, name: str) -> str:
    """The statement that makes the spare (ready) copy of `database`'s snapshot `name` (run in the
    background)."""
    spare, snapshot = spare_database(database, name), snapshot_database(database, name)
    return (
        sql.SQL("CREATE DATABASE {} TEMPLATE {}{} ALLOW_CONNECTIONS false")
        .format(sql.Identifier(spare), sql.Identifier(snapshot), file_copy(conn))
        .as_string(conn)
    )


def copy_database(
    conn: psycopg.Connection,
    statement: sql.Composed,
    size: int,
    *,
    admin_url: str,
    every_s: float,
    quiescer: Quiescer,
    database: str,
    force: bool = False,
    retry_busy: bool = False,
) -> None:
    """Run a CREATE DATABASE ... TEMPLATE of `database` (`size` bytes), printing how far the copy
    got every `every_s` or so. With `retry_busy`, sessions that connected to `database` since it was
    quieted are refused (or with `force` ended) and the copy retried; otherwise they are named."""
    done = threading.Event()
    before = [row[0] for row in conn.execute("SELECT pg_ls_dir('base')")]  # the databases there now
    watcher = threading.Thread(
        target=_watch,
        args=(admin_url, size, set(before), done),
        kwargs={"every_s": every_s, "progress": quiescer.progress},
        daemon=True,
    )
    watcher.start()
    try:
        for attempt in range(_ATTEMPTS):
            try:
                conn.execute(statement)
            except psycopg.errors.ObjectInUse:
                # A session connected between our check and the copy (55006).
                if not retry_busy or attempt == _ATTEMPTS - 1:
                    raise
                quiescer.clear_latecomers(conn, database, force)
            else:
                return
    except psycopg.errors.ObjectInUse:
        raise quiescer.blocked(conn, database) from None
    finally:
        done.set()
        watcher.join(5)


def _watch(
    admin_url: str,
    size: int,
    before: set[str],
    done: threading.Event,
    *,
    every_s: float,
    progress: Callable[[str], None],
) -> None:
    """Report the bytes written under base/ by new databases until `done` (a second connection).

    Quiet for a copy that takes less than a tick; a line per tick while the figure moves.
    """
    if done.wait(every_s) or size <= 0:
        return
    shown = -1
    try:
        with psycopg.connect(libpq_dsn(admin_url), autocommit=True) as probe:
            while not done.is_set():
                now = {row[0] for row in probe.execute("SELECT pg_ls_dir('base')")}
                row = probe.execute(
                    "SELECT coalesce(sum((pg_stat_file('base/' || d || '/' || f, true)).size), 0) "
                    "FROM unnest(%s::text[]) AS d, pg_ls_dir('base/' || d, true, false) AS f",
                    (sorted(now - before),),
                ).fetchone()
                copied = min(int(row[0]) if row else 0, size)
                if copied != shown and not done.is_set():
                    # Nothing yet: Postgres starts a file copy with a checkpoint (and ends with one).
                    what = "checkpoint before the copy" if copied == 0 else "copied"
                    share = 100 * copied // size
                    progress(f"  {what}: {human_size(copied)} of {human_size(size)} ({share}%)")
                    shown = copied
                done.wait(every_s)
    except psycopg.Error:
        return  # progress is a courtesy: never the reason an operation fails
