"""Who is in the way: the other sessions on a database, or holding locks in a schema, described in
one line each (pid, program, user, address, state and for how long), for messages that say what
blocks an operation and how to end it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Client backends only (not autovacuum or the checkpointer), never the asking session itself.
_COLUMNS = (
    "a.pid, a.usename, a.application_name, host(a.client_addr), a.state, "
    "extract(epoch FROM now() - coalesce(a.state_change, a.backend_start))::int"
)
ON_DATABASE = (
    f"SELECT {_COLUMNS} FROM pg_stat_activity a "  # noqa: S608 - constant text
    "WHERE a.datname = %(database)s AND a.pid <> pg_backend_pid() AND a.backend_type = 'client backend' "
    "ORDER BY a.pid"
)
LOCKING_SCHEMA = (
    f"SELECT DISTINCT {_COLUMNS} FROM pg_locks l "  # noqa: S608 - constant text
    "JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace "
    "JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE n.nspname = %(schema)s AND l.granted AND a.pid <> pg_backend_pid() ORDER BY a.pid"
)


@dataclass(frozen=True)
class Session:
    """One other session, as pg_stat_activity shows it."""

    pid: int
    user: str | None
    application: str | None
    client: str | None  # None: a Unix socket
    state: str | None
    seconds: int | None  # in that state for
    via_pgbouncer: bool = False

    @classmethod
    def from_row(cls, row: tuple[Any, ...], pgbouncer_pids: frozenset[int] = frozenset()) -> Session:
        pid, user, application, client, state, seconds = row
        return cls(int(pid), user, application or None, client, state, seconds, int(pid) in pgbouncer_pids)

    def __str__(self) -> str:
        name = self.application or "unnamed client"
        where = f"{self.user}@{self.client or 'local socket'}"
        if self.via_pgbouncer:
            where += " through PgBouncer"
        state = self.state or "state unknown"
        since = f" for {self.seconds} s" if self.seconds is not None else ""
        return f"pid {self.pid} {name} ({where}, {state}{since})"


def listed(sessions: list[Session], limit: int = 5) -> str:
    """`sessions` in one line, the first `limit` named and the rest counted."""
    shown = "; ".join(str(session) for session in sessions[:limit])
    more = len(sessions) - limit
    return shown + (f"; and {more} more" if more > 0 else "")
