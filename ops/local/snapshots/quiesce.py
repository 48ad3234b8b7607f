"""No other session on a database while it is copied or swapped: PgBouncer's pool for it paused
(its idle server connections close; its clients wait, and carry on once it resumes), the other
sessions named, and with `force` ended (PgBouncer's KILL, pg_terminate_backend)."""

from __future__ import annotations

import contextlib
import select
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psycopg

from app.identifiers import IDENTIFIER_RULE, is_identifier
from ops.errors import UserError
from ops.local.snapshots.ledger import TaskLedger
from ops.migrate.sessions import ON_DATABASE, Session, listed

Progress = Callable[[str], None]
Console = Callable[[], psycopg.Connection | None]  # PgBouncer's admin console, None when not running

PAUSE_WAIT_S = 10.0  # how long PgBouncer may wait for transactions in flight before we say who


class BlockedError(UserError):
    """Other sessions hold the database; `.sessions` are they."""

    def __init__(self, message: str, sessions: list[Session]) -> None:
        super().__init__(message)
        self.sessions = sessions


@dataclass(frozen=True)
class Quiescer:
    """Quiets one database at a time for a snapshot operation.

    `console`: opens PgBouncer's admin console (None when PgBouncer is not running);
    `pause_wait_s`: how long a PAUSE may wait for transactions in flight.
    """

    console: Console
    progress: Progress
    pause_wait_s: float = PAUSE_WAIT_S
    ledger: TaskLedger | None = None  # where the pause is recorded while held (ops/local/snapshots/ledger.py)

    @contextlib.contextmanager
    def quiet(
        self, conn: psycopg.Connection, database: str, force: bool, doing: str = "a snapshot operation"
    ) -> Iterator[None]:
        """No other session on `database` while the block runs: PgBouncer's pool for it paused (with
        `force`: its clients disconnected), other sessions refused, or with `force` ended.

        The pause is recorded (`ledger`, as `doing`) before it is made and forgotten after the
        RESUME, so one this process cannot lift (SIGKILL) is known for an orphan.
        """
        # Idle PgBouncer server connections are not in the way: the pause closes them.
        in_the_way = [s for s in self.others(conn, database) if not (s.via_pgbouncer and s.state == "idle")]
        if in_the_way and not force:
            raise self.blocked(conn, database, in_the_way)  # before pausing anything
        console = self.console()
        try:
            if console is not None:
                if self.ledger is not None:
                    self.ledger.record(database, doing)  # KILL holds new clients until RESUME too
                if force:
                    console.execute(f"KILL {_console_name(database)}")
                else:
                    self._pause(console, database, conn)
            ended = {s.pid: s for s in [*in_the_way, *self.clear(conn, database, force)]}
            if ended:
                self.progress(f"  ended {len(ended)} session(s): {listed(list(ended.values()))}")
            if force and console is not None:
                self.progress(f"  PgBouncer's clients of {database!r} were disconnected: they reconnect")
            yield
        finally:
            if console is not None:
                with contextlib.suppress(psycopg.Error), console:
                    console.execute(f"RESUME {_console_name(database)}")
                # Resumed, or the RESUME failed because PgBouncer is gone (and its pause with it);
                # a pause that somehow outlives this shows as one nobody holds.
                if self.ledger is not None:
                    self.ledger.clear(database)

    def _pause(self, console: psycopg.Connection, database: str, conn: psycopg.Connection) -> None:
        """PAUSE the database's pool, waiting at most `pause_wait_s` for its transactions in flight."""
        pausing = self.console()
        if pausing is None:
            return
        command = f"PAUSE {_console_name(database)}".encode()
        try:
            paused = run_bounded(pausing, command, self.pause_wait_s)
        finally:
            pausing.close()
        if paused:
            return
        # PAUSE waits for every transaction in flight; a RESUME lifts it (the console said none).
        in_transaction = [s for s in self.others(conn, database) if s.via_pgbouncer and s.state != "idle"]
        console.execute(f"RESUME {_console_name(database)}")
        raise self.blocked(conn, database, in_transaction)

    def clear(self, conn: psycopg.Connection, database: str, force: bool) -> list[Session]:
        """Refuse, or with `force` end, every other session on `database`; the ones ended."""
        others = self.others(conn, database)
        if others and not force:
            raise self.blocked(conn, database, others)
        for session in others:
            # Waits (up to 5 s) for the backend to exit, so the copy does not race it.
            conn.execute("SELECT pg_terminate_backend(%s, 5000)", (session.pid,))
        return others

    def clear_latecomers(self, conn: psycopg.Connection, database: str, force: bool) -> None:
        """`clear` for sessions that connected after the database was quieted, saying who was ended."""
        if ended := self.clear(conn, database, force):
            self.progress(f"  ended {len(ended)} more session(s): {listed(ended)}")

    def others(self, conn: psycopg.Connection, database: str) -> list[Session]:
        """Every other session on `database`, those of PgBouncer's servers marked."""
        pgbouncer = frozenset(self._bouncer_server_pids())
        rows = conn.execute(ON_DATABASE, {"database": database}).fetchall()
        return [Session.from_row(row, pgbouncer) for row in rows]

    def _bouncer_server_pids(self) -> list[int]:
        console = self.console()
        if console is None:
            return []
        with console:
            cur = console.execute("SHOW SERVERS")
            names = [d.name for d in cur.description or []]
            return [
                int(row[names.index("remote_pid")])
                for row in cur.fetchall()
                if row[names.index("remote_pid")]
            ]

    def blocked(
        self, conn: psycopg.Connection, database: str, sessions: list[Session] | None = None
    ) -> BlockedError:
        """The error naming the sessions in the way (read now when not given)."""
        sessions = self.others(conn, database) if sessions is None else sessions
        who = listed(sessions) if sessions else "a session that has just gone (retry)"
        return BlockedError(
            f"database {database!r} is in use by {who}: close them (or let their transactions "
            "finish) and retry, or add --force to end them (nothing was changed)",
            sessions,
        )


def run_bounded(conn: psycopg.Connection, command: bytes, wait_s: float) -> bool:
    """Send `command` on `conn` and wait at most `wait_s` for it; True when it completed.

    Low-level on purpose: a PAUSE that waits for a long transaction would block psycopg's own
    execute for as long as that transaction lasts.
    """
    pgconn = conn.pgconn
    pgconn.send_query(command)
    deadline = time.monotonic() + wait_s
    while True:
        pgconn.consume_input()
        if not pgconn.is_busy():
            break
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([pgconn.socket], [], [], left)[0]:
            return False
    while (result := pgconn.get_result()) is not None:
        if result.status == psycopg.pq.ExecStatus.FATAL_ERROR:
            message = result.error_message.decode(errors="replace").strip()
            raise UserError(f"PgBouncer refused {command.decode()}: {message}")
    return True


def _console_name(database: str) -> str:
    """`database` as PgBouncer's admin console takes it: a bare word (it has no quoting)."""
    if not is_identifier(database):
        raise UserError(f"database name {database!r} must be {IDENTIFIER_RULE} to be paused in PgBouncer")
    return database
