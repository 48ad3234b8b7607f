"""While a revision's concurrent DDL (CREATE INDEX CONCURRENTLY and friends) waits for other
sessions, say for whom every few seconds, and end the wait at MIGRATE_CONCURRENT_WAIT_S.

Such a build waits, without a lock timeout, for every transaction that could still see the table
without the index (Postgres's "waiting for writers" and "waiting for old snapshots" phases): one
session forgotten idle in transaction holds it for ever, in silence. A watcher on a second
connection reads the build's phase and `current_locker_pid` from pg_stat_progress_create_index
(or, for other statements, the first of pg_blocking_pids) with that session's state, age,
application and client, prints it, and past the bound cancels the build and names the session.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

POLL_S = 1.0  # how often the watcher looks: a cheap catalog read, in autocommit
REPORT_EVERY_S = 5.0  # how often it speaks while the wait goes on
# Prefixes the note that the block's error carries when the watcher cancelled it (failures.py).
WAITED_NOTE = "cancelled after waiting for "

# The watcher's own reads run in autocommit, each in a short transaction of its own: a snapshot
# held across polls would be one more old snapshot for the build to wait for.
_BLOCKER = text(
    """
    WITH me AS (
        SELECT p.phase, COALESCE(NULLIF(p.current_locker_pid, 0), (pg_blocking_pids(a.pid))[1]) AS locker
        FROM pg_stat_activity a
        LEFT JOIN pg_stat_progress_create_index p ON p.pid = a.pid
        WHERE a.pid = :pid
    )
    SELECT me.phase, me.locker, l.state, now() - COALESCE(l.xact_start, l.state_change) AS age,
           l.application_name, host(l.client_addr) AS client, l.usename
    FROM me LEFT JOIN pg_stat_activity l ON l.pid = me.locker
    """
)


@dataclass(frozen=True)
class Blocker:
    """The session a concurrent build waits for, as pg_stat_activity shows it to this role."""

    pid: int
    phase: str | None
    state: str | None
    age: timedelta | None
    application: str | None
    client: str | None
    user: str | None

    def describe(self) -> str:
        """`pid 4242 (idle in transaction for 53m10s, application 'psql', client 10.0.0.5, user app)`."""
        if self.state is None:  # another role's session: pg_read_all_stats would show it
            return f"pid {self.pid} (its state is not visible to this role)"
        age = f" for {_duration(self.age)}" if self.age is not None else ""
        client = self.client or "local socket"
        return (
            f"pid {self.pid} ({self.state}{age}, application {self.application or 'unnamed'!r}, "
            f"client {client}, user {self.user})"
        )


def _duration(age: timedelta) -> str:
    seconds = max(0, int(age.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def blocker_of(watcher: Connection, pid: int) -> Blocker | None:
    """Whom backend `pid` waits for now, or None when it waits for no one."""
    row = watcher.execute(_BLOCKER, {"pid": pid}).first()
    if row is None or row.locker is None:
        return None
    return Blocker(row.locker, row.phase, row.state, row.age, row.application_name, row.client, row.usename)


class WaitWatch:
    """A thread watching one backend (the migrator's, inside an autocommit block) on its own
    connection: reports whom it waits for, and cancels it once it has waited `bound_s` in all."""

    def __init__(
        self, watcher: Connection, pid: int, bound_s: float, progress: Callable[[str], None]
    ) -> None:
        self.watcher = watcher
        self.pid = pid
        self.bound_s = bound_s
        self.progress = progress
        self.cancelled_for: str | None = None  # set when the watch cancelled the build
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"wait-watch-{pid}", daemon=True)

    @classmethod
    def start(
        cls, connection: Connection, bound_s: float, progress: Callable[[str], None]
    ) -> WaitWatch | None:
        """Watch `connection`'s backend from a second connection of the same engine; None (and a
        line saying so) when that connection cannot be had: the build then runs unwatched."""
        pid = int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())
        try:
            watcher = connection.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except DBAPIError as exc:
            progress(f"cannot watch the concurrent build for waits ({exc.orig}): it runs unwatched")
            return None
        watch = cls(watcher, pid, bound_s, progress)
        watch._thread.start()
        return watch

    def stop(self) -> None:
        """End the watch and close its connection."""
        self._stop.set()
        self._thread.join()
        self.watcher.close()

    def _run(self) -> None:
        waited = 0.0
        last_report: float | None = None
        last_poll = time.monotonic()
        while not self._stop.wait(POLL_S):
            now = time.monotonic()
            try:
                blocker = blocker_of(self.watcher, self.pid)
            except DBAPIError:
                return  # the watcher lost its connection: the build's own error will say why
            if blocker is None:
                last_poll = now
                continue
            waited += now - last_poll
            last_poll = now
            phase = f" ({blocker.phase})" if blocker.phase else ""
            if waited >= self.bound_s:
                self.cancelled_for = blocker.describe()
                self.progress(
                    f"concurrent build{phase} waited {waited:.0f}s for {blocker.describe()}: cancelling it "
                    f"(MIGRATE_CONCURRENT_WAIT_S={self.bound_s:g})"
                )
                self.watcher.execute(text("SELECT pg_cancel_backend(:pid)"), {"pid": self.pid})
                return
            if last_report is None or now - last_report >= REPORT_EVERY_S:
                last_report = now
                self.progress(
                    f"concurrent build{phase} waiting {waited:.0f}s for {blocker.describe()}; "
                    f"it is cancelled at MIGRATE_CONCURRENT_WAIT_S={self.bound_s:g}"
                )
