"""The work a snapshot operation leaves behind (making a spare copy, dropping a replaced database),
run in a detached process of its own under the snapshots' lock, so the task returns at once."""

from __future__ import annotations

import contextlib
import os
import select

import psycopg

from app.urls import libpq_dsn
from ops.local.snapshots.ledger import TaskLedger
from ops.local.snapshots.lock import LOCK

BACKGROUND_START_S = 5.0  # how long a task waits for its background job to hold the lock


def run_in_background(
    admin_url: str, statements: list[str], ledger: TaskLedger | None = None, database: str = ""
) -> None:
    """Run `statements` in a detached process of their own, under the snapshots' lock; while it runs,
    it keeps a task record in `ledger` (one a SIGKILL leaves sends `env.up` looking for its work).

    Forked twice, so the process outlives this one, is nobody's zombie and costs no interpreter
    start-up; this returns once it holds the lock (or after a few seconds), so whatever snapshot
    operation comes next waits for it.
    """
    ready_read, ready_write = os.pipe()
    first = os.fork()
    if first:
        os.close(ready_write)
        os.waitpid(first, 0)  # the middle process exits as soon as it has forked the worker
        select.select([ready_read], [], [], BACKGROUND_START_S)
        os.close(ready_read)
        return
    try:  # the middle process: a session of its own (Ctrl-C in the terminal does not reach it)
        os.setsid()
        if os.fork() == 0:
            _detach(keep=ready_write)
            if ledger is not None:
                with contextlib.suppress(OSError):  # a record is a courtesy; the work is not
                    ledger.task_started(database, "a snapshot's background copy or drop")
            try:
                _run_locked(admin_url, statements, ready_write)
            finally:
                if ledger is not None:
                    ledger.task_ended()
    finally:
        os._exit(0)  # never run the parent's cleanup (atexit, pytest's teardown) in a child


def _detach(keep: int) -> None:
    """A background worker lets go of the terminal and every inherited descriptor but `keep`:
    a pipe it held open would keep `invoke db.restore | tee ...` waiting for it."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.closerange(3, keep)
    os.closerange(keep + 1, os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 1024)


def _run_locked(admin_url: str, statements: list[str], ready: int) -> None:
    """Run a background job's statements under the snapshots' lock; quietly, nobody is watching."""
    with (
        contextlib.suppress(psycopg.Error, OSError),
        psycopg.connect(
            libpq_dsn(admin_url), autocommit=True, application_name="pgstack-snapshot-background"
        ) as conn,
    ):
        conn.execute("SELECT pg_advisory_lock(%s, %s)", LOCK)
        os.write(ready, b"1")
        os.close(ready)
        for statement in statements:
            conn.execute(statement.encode())
