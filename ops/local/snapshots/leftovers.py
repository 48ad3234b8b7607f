"""What a killed snapshot task leaves behind, found (`env.status`, the smoke check) and undone
(`env.up`): a PgBouncer pool still paused, a snapshot copied but never recorded, a restore's copy
or replaced database nobody will drop, a spare copy whose snapshot is gone.

SIGTERM and SIGINT clean up as they stop (ops/local/snapshots/interrupts.py); SIGKILL, a crash or a
lost terminal cannot. Nothing is undone while a snapshot operation holds the snapshots' lock: its
copy may still be running in Postgres after its process died, and is reported instead. Every
database dropped here is a copy whose source still exists, so no data is lost.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psycopg
from psycopg import sql

from app.identifiers import is_identifier
from app.urls import libpq_dsn
from ops.local.processes import pid_alive
from ops.local.snapshots.ledger import TaskLedger
from ops.local.snapshots.lock import LOCK
from ops.local.snapshots.quiesce import Console
from ops.local.snapshots.snapshot import PREFIX, REPLACED, RESTORING, SPARE

Progress = Callable[[str], None]

# The sessions holding the snapshots' lock, and the local process each belongs to (in its name).
_HOLDERS = """
SELECT a.pid, a.application_name, left(a.query, 60)
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s AND l.objsubid = 2
"""
_CLIENT_PID = re.compile(r"\bpid=(\d+)\b")


@dataclass(frozen=True)
class Leftover:
    """One thing a killed task left: what it is (one line), and how `env.up` undoes it: a pool to
    resume or a database to drop."""

    what: str
    database: str | None = None  # a database to drop
    pool: str | None = None  # a pool to resume

    def undone(self) -> str:
        """What undoing it did, in one line."""
        done = f"resumed pool {self.pool!r}" if self.pool is not None else f"dropped {self.database}"
        return f"{done} ({self.what})"


@dataclass(frozen=True)
class Leftovers:
    """The snapshot operations' leftovers of one database's cluster and pool."""

    admin_url: str
    database: str
    console: Console
    ledger: TaskLedger | None

    def find(self) -> tuple[list[Leftover], list[str]]:
        """(what a killed task left, to undo; what is in progress, to leave alone), each one line.

        The cluster is only looked at while a task record is there (a task running, or one that was
        killed): every task removes its own when it ends, however it fails.
        """
        found, busy = self._pause()
        if self.ledger is None or not self.ledger.tasks():
            return found, busy
        with self._admin() as conn:
            operations = self._operations(conn)
            return found + ([] if operations else self._databases(conn)), operations + busy

    def undo(self, progress: Progress) -> list[str]:
        """Undo what `find` says may be undone; the operations in progress, said and left alone."""
        leftovers, busy = self._pause()
        for leftover in leftovers:
            self._resume(leftover)
            progress(leftover.undone())
        ledger = self.ledger
        dead = [task for task in ledger.tasks() if not task.alive()] if ledger is not None else []
        if dead and ledger is not None:
            with self._admin() as conn:
                row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", LOCK).fetchone()
                if not (row and row[0]):
                    busy += self._operations(conn)  # a dead task's copy may still run: next time
                else:
                    try:
                        for leftover in self._databases(conn):
                            conn.execute(
                                sql.SQL("DROP DATABASE IF EXISTS {}").format(
                                    sql.Identifier(leftover.database or "")
                                )
                            )
                            progress(leftover.undone())
                            leftovers.append(leftover)
                        for task in dead:
                            ledger.task_ended(task.pid)
                    finally:
                        conn.execute("SELECT pg_advisory_unlock(%s, %s)", LOCK)
        for operation in busy:
            progress(f"left alone: {operation}")
        return [leftover.what for leftover in leftovers]

    # --- the pieces -----------------------------------------------------------------------
    @contextlib.contextmanager
    def _admin(self) -> Iterator[psycopg.Connection]:
        with psycopg.connect(
            libpq_dsn(self.admin_url),
            autocommit=True,
            connect_timeout=5,
            application_name="pgstack-leftovers",
        ) as conn:
            yield conn

    def _operations(self, conn: psycopg.Connection) -> list[str]:
        """The snapshot operations holding the lock now, each as one line."""
        lines = []
        for backend, name, query in conn.execute(_HOLDERS, LOCK).fetchall():
            match = _CLIENT_PID.search(str(name))
            client = int(match.group(1)) if match else None
            if client is not None and not pid_alive(client):
                lines.append(
                    f"a snapshot operation whose process (pid {client}) is gone is still running in "
                    f"Postgres (backend pid {backend}: {query}...): it ends by itself; "
                    "`invoke env.up` then undoes what it left"
                )
            else:
                lines.append(f"a snapshot operation is running (backend pid {backend}, {name}: {query}...)")
        return lines

    def _paused_pools(self) -> list[str]:
        console = self.console()
        if console is None:
            return []
        with console:
            cur = console.execute("SHOW DATABASES")
            names = [d.name for d in cur.description or []]
            rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        # Names PgBouncer's console takes as bare words only (it has no quoting).
        return [
            str(row["name"])
            for row in rows
            if row["name"] != "pgbouncer" and int(row.get("paused") or 0) and is_identifier(str(row["name"]))
        ]

    def _pause(self) -> tuple[list[Leftover], list[str]]:
        """(paused pools nobody alive holds: an orphan, whose record's process is gone, or one no
        pgstack task recorded (a task records its pause before making it); pauses in progress)."""
        found, pausing = [], []
        for pool in self._paused_pools():
            record = self.ledger.read(pool) if self.ledger is not None else None
            if record is not None and record.alive():
                pausing.append(
                    f"PgBouncer's pool {pool!r} is paused by {record.who()}: the app waits until it ends"
                )
                continue
            if record is not None:
                why = f"by {record.who()}, a process that is gone"
            else:
                why = "by no running pgstack task (PAUSE or KILL on its console)"
            found.append(
                Leftover(f"PgBouncer's pool {pool!r} is paused {why}: the app's queries wait", pool=pool)
            )
        return found, pausing

    def _databases(self, conn: psycopg.Connection) -> list[Leftover]:
        """The snapshot databases a killed task left (only read while no operation holds the lock)."""
        db = self.database
        rows = conn.execute(
            "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database "
            "WHERE starts_with(datname, %s) OR starts_with(datname, %s) OR datname = ANY(%s)",
            (f"{PREFIX}{db}__", f"{SPARE}{db}__", [f"{RESTORING}{db}", f"{REPLACED}{db}"]),
        ).fetchall()
        names = {str(name) for name, _ in rows}
        found = []
        for name, comment in rows:
            if name.startswith(PREFIX) and not comment:
                snapshot = name.removeprefix(f"{PREFIX}{db}__")
                what = f"snapshot {snapshot!r} was copied but never recorded (its task was killed)"
            elif name.startswith(SPARE) and f"{PREFIX}{name.removeprefix(SPARE)}" not in names:
                what = f"a spare copy ({name}) whose snapshot is gone"
            elif name == f"{RESTORING}{db}":
                what = f"the copy of an interrupted restore ({name})"
            elif name == f"{REPLACED}{db}":
                what = f"the database a restore replaced ({name}), never dropped"
            else:
                continue
            found.append(Leftover(what, database=str(name)))
        return found

    def _resume(self, leftover: Leftover) -> None:
        if leftover.pool is None:
            return
        console = self.console()
        if console is not None:
            with console:
                console.execute(f"RESUME {leftover.pool}")
        if self.ledger is not None:
            self.ledger.clear(leftover.pool)
