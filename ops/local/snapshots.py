"""Snapshots of the local database in seconds: `CREATE DATABASE ... TEMPLATE`, a file-level copy
inside the same cluster (so they survive `env.down`/`env.up`, and `env.reset` deletes them with it).

A snapshot is a database of its own, `pgstack_snapshot__<db>__<name>`, that nobody can connect to
(ALLOW_CONNECTIONS false: it can never be in the way of a restore), owned by the superuser, its
metadata (name, source, revision, when) as JSON in its comment. Copying a database needs every other
session gone from the source: PgBouncer's pool for it is paused (its idle server connections close;
its clients wait, and carry on once it resumes), the other sessions are named, and `force` ends them
(PgBouncer's KILL, pg_terminate_backend). A restore copies the snapshot beside the live database
first, then swaps the two names in one transaction, so the app is held only for the swap.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from app.identifiers import IDENTIFIER_RULE, is_identifier
from app.urls import libpq_dsn
from ops.errors import UserError
from ops.migrate.sessions import ON_DATABASE, Session, listed

if TYPE_CHECKING:
    from ops.local.runtime import Runtime

Progress = Callable[[str], None]
Console = Callable[[], psycopg.Connection | None]  # PgBouncer's admin console, None when not running

PREFIX = "pgstack_snapshot__"
SPARE = "pgstack_spare__"  # a ready copy of a snapshot, which a restore swaps in without copying
RESTORING = "pgstack_restoring__"  # a restore's copy, before it takes the live name
REPLACED = "pgstack_replaced__"  # the live database a restore just replaced, until it is dropped
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
PAUSE_WAIT_S = 10.0  # how long PgBouncer may wait for transactions in flight before we say who
LOCK_WAIT_MS = 600_000  # one snapshot operation at a time per cluster (a background copy included)
PROGRESS_EVERY_S = 1.0
BACKGROUND_START_S = 5.0  # how long a task waits for its background job to hold the lock
# The advisory lock key of snapshot operations: "ps" and a constant, beside the migrator's "pg".
_LOCK = (0x7073, 1)
# Settings whose value is a list (pg_dump quotes each element on its own for these).
_LIST_SETTINGS = frozenset(
    ("search_path", "temp_tablespaces", "session_preload_libraries", "local_preload_libraries")
)


@dataclass(frozen=True)
class Snapshot:
    """One saved copy of a database."""

    name: str
    database: str  # the snapshot's own database
    source: str
    created_at: str | None
    revision: str | None
    size_bytes: int
    spare_ready: bool = False  # a copy is ready: the next restore swaps it in without copying

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "created_at": self.created_at,
            "revision": self.revision,
            "size_bytes": self.size_bytes,
            "spare_ready": self.spare_ready,
            "database": self.database,
        }


class BlockedError(UserError):
    """Other sessions hold the database; `.sessions` are they."""

    def __init__(self, message: str, sessions: list[Session]) -> None:
        super().__init__(message)
        self.sessions = sessions


def human_size(size: float) -> str:
    """1536 -> '1.5 kB' (powers of 1024, as pg_size_pretty)."""
    for unit in ("bytes", "kB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"  # pragma: no cover - the loop returns at GB


def _ident(name: str) -> sql.Identifier:
    return sql.Identifier(name)


def _run_bounded(conn: psycopg.Connection, command: bytes, wait_s: float) -> bool:
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


class SnapshotStore:
    """The snapshots of one database of a running local cluster.

    `admin_url`: the superuser, straight to Postgres (CREATE/ALTER/DROP DATABASE need it);
    `schema`: where the migrations' version is read from, to label a snapshot;
    `console`: opens PgBouncer's admin console (None when PgBouncer is not running).
    """

    def __init__(
        self,
        admin_url: str,
        database: str,
        *,
        schema: str,
        console: Console,
        progress: Progress,
        pause_wait_s: float = PAUSE_WAIT_S,
        progress_every_s: float = PROGRESS_EVERY_S,
        spares: bool = True,
    ) -> None:
        self.admin_url = admin_url
        self.database = database
        self.schema = schema
        self.console = console
        self.progress = progress
        self.pause_wait_s = pause_wait_s
        self.progress_every_s = progress_every_s
        self.spares = spares  # keep a ready copy of each snapshot: a restore then copies nothing

    # --- names ----------------------------------------------------------------------------
    def snapshot_database(self, name: str) -> str:
        """The database holding snapshot `name`; a bad name is a UserError saying what is allowed."""
        longest = 63 - len(PREFIX) - len(self.database) - 2
        if not _NAME.match(name) or len(name) > longest:
            raise UserError(
                f"snapshot name {name!r} is not usable: lower-case letters, digits, - and _, starting "
                f"with a letter or digit, at most {longest} characters"
            )
        return f"{PREFIX}{self.database}__{name}"

    def spare_database(self, name: str) -> str:
        """The ready copy of snapshot `name` (shorter prefix than the snapshot's: always fits)."""
        return f"{SPARE}{self.database}__{name}"

    # --- connections ----------------------------------------------------------------------
    @contextlib.contextmanager
    def _admin(self) -> Iterator[psycopg.Connection]:
        try:
            conn = psycopg.connect(
                libpq_dsn(self.admin_url), autocommit=True, application_name="pgstack-snapshot"
            )
        except psycopg.OperationalError:
            raise UserError("Postgres does not answer: start it with `invoke env.up`") from None
        with conn:
            yield conn

    @contextlib.contextmanager
    def _one_at_a_time(self, conn: psycopg.Connection) -> Iterator[None]:
        row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", _LOCK).fetchone()
        if not (row and row[0]):
            self.progress("waiting for another snapshot operation (or a copy in the background) to finish")
            conn.execute(f"SET lock_timeout = {LOCK_WAIT_MS}")
            try:
                conn.execute("SELECT pg_advisory_lock(%s, %s)", _LOCK)
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
            conn.execute("SELECT pg_advisory_unlock(%s, %s)", _LOCK)

    # --- listing --------------------------------------------------------------------------
    def snapshots(self) -> list[Snapshot]:
        """This database's snapshots, oldest first."""
        with self._admin() as conn:
            return self._list(conn)

    def _list(self, conn: psycopg.Connection) -> list[Snapshot]:
        found = []
        rows = conn.execute(
            "SELECT datname, shobj_description(oid, 'pg_database'), pg_database_size(oid) "
            "FROM pg_database WHERE starts_with(datname, %s)",
            (f"{PREFIX}{self.database}__",),
        ).fetchall()
        spares = {
            str(row[0])
            for row in conn.execute(
                "SELECT datname FROM pg_database WHERE starts_with(datname, %s)",
                (f"{SPARE}{self.database}__",),
            )
        }
        for database, comment, size in rows:
            try:
                meta = json.loads(comment or "{}")
            except json.JSONDecodeError:
                meta = {}
            name = str(database).removeprefix(f"{PREFIX}{self.database}__")
            found.append(
                Snapshot(
                    name=name,
                    database=str(database),
                    source=str(meta.get("source", self.database)),
                    created_at=meta.get("created_at"),
                    revision=meta.get("revision"),
                    size_bytes=int(size),
                    spare_ready=self.spare_database(name) in spares,
                )
            )
        return sorted(found, key=lambda s: (s.created_at or "", s.name))

    def _existing(self, conn: psycopg.Connection, name: str) -> Snapshot:
        """Snapshot `name`, or a UserError listing the ones there are."""
        self.snapshot_database(name)  # a malformed name says so, rather than "not found"
        snapshots = self._list(conn)
        for snapshot in snapshots:
            if snapshot.name == name:
                return snapshot
        there = (
            f"the snapshots are {', '.join(s.name for s in snapshots)}"
            if snapshots
            else f"there are none yet: `invoke db.snapshot {name}` takes one"
        )
        raise UserError(f"no snapshot {name!r} of database {self.database!r}: {there}")

    # --- take, restore, delete ------------------------------------------------------------
    def take(self, name: str, force: bool = False) -> Snapshot:
        """Copy the database into snapshot `name` (which must not exist yet)."""
        target = self.snapshot_database(name)
        with self._admin() as conn, self._one_at_a_time(conn):
            for snapshot in self._list(conn):
                if snapshot.name == name:
                    raise UserError(
                        f"snapshot {name!r} already exists (taken {snapshot.created_at}): pick another "
                        f"name, or `invoke db.snapshot --delete {name}` first"
                    )
            self._require_source(conn)
            revision = self._revision()
            size = self._size(conn, self.database)
            self.progress(f"snapshot {name!r}: copying {self.database!r} ({human_size(size)})")
            started = time.monotonic()
            with self._quiet(conn, self.database, force):
                self._copy(
                    conn,
                    sql.SQL("CREATE DATABASE {} TEMPLATE {}{} ALLOW_CONNECTIONS false").format(
                        _ident(target), _ident(self.database), self._file_copy(conn)
                    ),
                    size,
                    retry_busy=(conn, self.database, force),
                )
            meta = {
                "pgstack": "snapshot",
                "name": name,
                "source": self.database,
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "revision": revision,
            }
            conn.execute(
                sql.SQL("COMMENT ON DATABASE {} IS {}").format(_ident(target), sql.Literal(json.dumps(meta)))
            )
            taken = self._existing(conn, name)
            later = [self._make_spare(conn, name)] if self.spares else []
        self.progress(f"snapshot {name!r} taken in {time.monotonic() - started:.1f} s")
        if later:
            self._background(later)
            self.progress("  a spare copy for a fast restore is being made in the background")
        return taken

    def restore(self, name: str, force: bool = False) -> Snapshot:
        """Replace the database with snapshot `name` (the snapshot stays, for another restore).

        With the snapshot's spare copy ready, the spare is swapped in and a new spare made in the
        background; without one, the snapshot is copied first.
        """
        with self._admin() as conn, self._one_at_a_time(conn):
            snapshot = self._existing(conn, name)
            self._require_source(conn)
            old = self._database_settings(conn, self.database)
            restoring, replaced = f"{RESTORING}{self.database}", f"{REPLACED}{self.database}"
            for leftover in (restoring, replaced):  # an interrupted restore's, never the live one
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(_ident(leftover)))
            started = time.monotonic()
            source = self.spare_database(name)
            if snapshot.spare_ready:
                self.progress(f"restore {name!r}: its spare copy is ready, swapping it in")
            else:
                source = restoring
                self.progress(f"restore {name!r}: copying the snapshot ({human_size(snapshot.size_bytes)})")
                self._copy(
                    conn,
                    sql.SQL("CREATE DATABASE {} TEMPLATE {}{}").format(
                        _ident(restoring), _ident(snapshot.database), self._file_copy(conn)
                    ),
                    snapshot.size_bytes,
                )
            try:
                with self._quiet(conn, self.database, force):
                    self._swap(conn, source, replaced, old, force)
            except BaseException:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(_ident(restoring)))
                raise
            # The database is back: dropping the replaced copy (about as slow as copying) and
            # making the next spare happen in a process of their own.
            later = [sql.SQL("DROP DATABASE IF EXISTS {}").format(_ident(replaced)).as_string(conn)]
            if self.spares:
                later.append(self._make_spare(conn, name))
        took = time.monotonic() - started
        self.progress(f"restored {self.database!r} from snapshot {name!r} in {took:.1f} s")
        self._background(later)
        what = "dropped, and a new spare copy made," if self.spares else "dropped"
        self.progress(f"  the replaced copy of {self.database!r} is being {what} in the background")
        return snapshot

    def delete(self, name: str) -> Snapshot:
        """Drop snapshot `name`."""
        with self._admin() as conn, self._one_at_a_time(conn):
            snapshot = self._existing(conn, name)
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(_ident(self.spare_database(name))))
            conn.execute(sql.SQL("DROP DATABASE {}").format(_ident(snapshot.database)))
        self.progress(f"snapshot {name!r} deleted ({human_size(snapshot.size_bytes)} freed, and its spare)")
        return snapshot

    def _make_spare(self, conn: psycopg.Connection, name: str) -> str:
        """The statement that makes snapshot `name`'s spare copy (run in the background)."""
        return (
            sql.SQL("CREATE DATABASE {} TEMPLATE {}{} ALLOW_CONNECTIONS false")
            .format(
                _ident(self.spare_database(name)), _ident(self.snapshot_database(name)), self._file_copy(conn)
            )
            .as_string(conn)
        )

    def _background(self, statements: list[str]) -> None:
        """Run `statements` in a detached process of their own, under the snapshots' lock.

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
                _run_locked(self.admin_url, statements, ready_write)
        finally:
            os._exit(0)  # never run the parent's cleanup (atexit, pytest's teardown) in a child

    def wait_for_background(self, timeout_s: float = 600) -> float:
        """Wait until no background copy or drop is running; the seconds it took."""
        started = time.monotonic()
        with self._admin() as conn:
            conn.execute(f"SET lock_timeout = {int(timeout_s * 1000)}")
            conn.execute("SELECT pg_advisory_lock(%s, %s)", _LOCK)
            conn.execute("SELECT pg_advisory_unlock(%s, %s)", _LOCK)
        return time.monotonic() - started

    # --- the pieces -----------------------------------------------------------------------
    def _require_source(self, conn: psycopg.Connection) -> None:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)).fetchone()
        if row is None:
            raise UserError(f"database {self.database!r} does not exist: run `invoke up` to create it")

    def _size(self, conn: psycopg.Connection, database: str) -> int:
        row = conn.execute("SELECT pg_database_size(%s)", (database,)).fetchone()
        return int(row[0]) if row else 0

    def _file_copy(self, conn: psycopg.Connection) -> sql.Composable:
        # Postgres 15's default strategy copies block by block through the WAL: for a database
        # of a gigabyte, far slower than copying its files (and a gigabyte of WAL).
        return sql.SQL(" STRATEGY FILE_COPY") if conn.info.server_version >= 150000 else sql.SQL("")

    def _revision(self) -> str | None:
        """The migrations' revision of the database's schema, to label a snapshot (None: unversioned)."""
        with (
            contextlib.suppress(psycopg.Error),
            psycopg.connect(libpq_dsn(self._url_of(self.database)), autocommit=True) as conn,
        ):
            row = conn.execute(
                sql.SQL("SELECT version_num FROM {}.alembic_version").format(_ident(self.schema))
            ).fetchone()
            return str(row[0]) if row else None
        return None

    def _url_of(self, database: str) -> str:
        from sqlalchemy.engine import make_url

        return make_url(self.admin_url).set(database=database).render_as_string(hide_password=False)

    def _copy(
        self,
        conn: psycopg.Connection,
        statement: sql.Composed,
        size: int,
        retry_busy: tuple[psycopg.Connection, str, bool] | None = None,
    ) -> None:
        """Run a CREATE DATABASE ... TEMPLATE, printing how far the copy got every second or so."""
        done = threading.Event()
        before = [row[0] for row in conn.execute("SELECT pg_ls_dir('base')")]  # the databases there now
        watcher = threading.Thread(target=self._watch, args=(size, set(before), done), daemon=True)
        watcher.start()
        try:
            for attempt in range(5):
                try:
                    conn.execute(statement)
                except psycopg.errors.ObjectInUse:
                    # A session connected between our check and the copy (55006).
                    if retry_busy is None or attempt == 4:
                        raise
                    if ended := self._clear(*retry_busy):
                        self.progress(f"  ended {len(ended)} more session(s): {listed(ended)}")
                else:
                    return
        except psycopg.errors.ObjectInUse:
            raise self._blocked(conn, self.database) from None
        finally:
            done.set()
            watcher.join(5)

    def _watch(self, size: int, before: set[str], done: threading.Event) -> None:
        """Report the bytes written under base/ by new databases until `done` (a second connection).

        Quiet for a copy that takes less than a tick; a line per tick while the figure moves.
        """
        if done.wait(self.progress_every_s) or size <= 0:
            return
        shown = -1
        try:
            with psycopg.connect(libpq_dsn(self.admin_url), autocommit=True) as probe:
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
                        self.progress(
                            f"  {what}: {human_size(copied)} of {human_size(size)} ({100 * copied // size}%)"
                        )
                        shown = copied
                    done.wait(self.progress_every_s)
        except psycopg.Error:
            return  # progress is a courtesy: never the reason an operation fails

    @contextlib.contextmanager
    def _quiet(self, conn: psycopg.Connection, database: str, force: bool) -> Iterator[None]:
        """No other session on `database` while the block runs: PgBouncer's pool for it paused (with
        `force`: its clients disconnected), other sessions refused, or with `force` ended."""
        # Idle PgBouncer server connections are not in the way: the pause closes them.
        in_the_way = [s for s in self._others(conn, database) if not (s.via_pgbouncer and s.state == "idle")]
        if in_the_way and not force:
            raise self._blocked(conn, database, in_the_way)  # before pausing anything
        console = self.console()
        try:
            if console is not None:
                if force:
                    console.execute(f"KILL {_console_name(database)}")
                else:
                    self._pause(console, database, conn)
            ended = {s.pid: s for s in [*in_the_way, *self._clear(conn, database, force)]}
            if ended:
                self.progress(f"  ended {len(ended)} session(s): {listed(list(ended.values()))}")
            if force and console is not None:
                self.progress(f"  PgBouncer's clients of {database!r} were disconnected: they reconnect")
            yield
        finally:
            if console is not None:
                with contextlib.suppress(psycopg.Error), console:
                    console.execute(f"RESUME {_console_name(database)}")

    def _pause(self, console: psycopg.Connection, database: str, conn: psycopg.Connection) -> None:
        """PAUSE the database's pool, waiting at most `pause_wait_s` for its transactions in flight."""
        pausing = self.console()
        if pausing is None:
            return
        command = f"PAUSE {_console_name(database)}".encode()
        try:
            paused = _run_bounded(pausing, command, self.pause_wait_s)
        finally:
            pausing.close()
        if paused:
            return
        # PAUSE waits for every transaction in flight; a RESUME lifts it (the console said none).
        in_transaction = [s for s in self._others(conn, database) if s.via_pgbouncer and s.state != "idle"]
        console.execute(f"RESUME {_console_name(database)}")
        raise self._blocked(conn, database, in_transaction)

    def _clear(self, conn: psycopg.Connection, database: str, force: bool) -> list[Session]:
        """Refuse, or with `force` end, every other session on `database`; the ones ended."""
        others = self._others(conn, database)
        if others and not force:
            raise self._blocked(conn, database, others)
        for session in others:
            # Waits (up to 5 s) for the backend to exit, so the copy does not race it.
            conn.execute("SELECT pg_terminate_backend(%s, 5000)", (session.pid,))
        return others

    def _others(self, conn: psycopg.Connection, database: str) -> list[Session]:
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

    def _blocked(
        self, conn: psycopg.Connection, database: str, sessions: list[Session] | None = None
    ) -> BlockedError:
        sessions = self._others(conn, database) if sessions is None else sessions
        who = listed(sessions) if sessions else "a session that has just gone (retry)"
        return BlockedError(
            f"database {database!r} is in use by {who}: close them (or let their transactions "
            "finish) and retry, or add --force to end them (nothing was changed)",
            sessions,
        )

    # --- a restore's swap -----------------------------------------------------------------
    def _database_settings(self, conn: psycopg.Connection, database: str) -> _DatabaseSettings:
        """What CREATE DATABASE ... TEMPLATE does not copy: the live database's grants, settings,
        connection limit and comment (its owner is given to the copy directly)."""
        row = conn.execute(
            "SELECT pg_get_userbyid(datdba), datconnlimit, shobj_description(oid, 'pg_database'), "
            "datacl IS NOT NULL FROM pg_database WHERE datname = %s",
            (database,),
        ).fetchone()
        if row is None:
            raise UserError(f"database {database!r} does not exist: run `invoke up` to create it")
        owner, limit, comment, explicit_acl = row
        names = {int(r[0]): str(r[1]) for r in conn.execute("SELECT oid, rolname FROM pg_roles")}

        def role(oid: int) -> sql.Composable:
            return sql.SQL("PUBLIC") if oid == 0 else _ident(names[oid])

        # An explicit ACL may have taken PUBLIC's default CONNECT and TEMP away: start from none.
        statements = [_Statement("REVOKE ALL ON DATABASE {db} FROM PUBLIC")] if explicit_acl else []
        for grantee, privilege, grantable in conn.execute(
            "SELECT a.grantee, a.privilege_type, a.is_grantable FROM pg_database d, aclexplode(d.datacl) a "
            "WHERE d.datname = %s AND a.grantee <> d.datdba",
            (database,),
        ):
            option = " WITH GRANT OPTION" if grantable else ""
            statements.append(
                _Statement(f"GRANT {privilege} ON DATABASE {{db}} TO {{who}}{option}", {"who": role(grantee)})
            )
        for setrole, setting in conn.execute(
            "SELECT s.setrole, unnest(s.setconfig) FROM pg_db_role_setting s JOIN pg_database d "
            "ON d.oid = s.setdatabase WHERE d.datname = %s",
            (database,),
        ):
            key, _, value = str(setting).partition("=")
            values: sql.Composable = (
                sql.SQL(", ").join(sql.Literal(v.strip().strip('"')) for v in value.split(","))
                if key in _LIST_SETTINGS
                else sql.Literal(value)
            )
            args = {"key": _ident(key), "value": values, "who": role(setrole)}
            if setrole == 0:
                statements.append(_Statement("ALTER DATABASE {db} SET {key} TO {value}", args))
            else:
                statements.append(_Statement("ALTER ROLE {who} IN DATABASE {db} SET {key} TO {value}", args))
        return _DatabaseSettings(str(owner), statements, int(limit), comment)

    def _swap(
        self,
        conn: psycopg.Connection,
        source: str,
        replaced: str,
        old: _DatabaseSettings,
        force: bool,
    ) -> None:
        """Give the live name to `source` (the spare, or the restored copy) in one transaction;
        renames need no session on either database."""
        live = _ident(self.database)
        for attempt in range(5):
            try:
                with conn.transaction():
                    conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(live, _ident(replaced)))
                    conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(_ident(source), live))
                    # A spare was made by the superuser and takes no connections: the live one does.
                    conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(live, _ident(old.owner)))
                    conn.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(live))
                    for statement in old.statements:
                        conn.execute(statement.on(live))
                    conn.execute(
                        sql.SQL("ALTER DATABASE {} CONNECTION LIMIT {}").format(
                            live, sql.Literal(old.connection_limit)
                        )
                    )
                    comment = sql.Literal(old.comment) if old.comment is not None else sql.SQL("NULL")
                    conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(live, comment))
            except psycopg.errors.ObjectInUse:
                # A session connected between the check and the swap (55006): end it, or say who.
                if attempt == 4:
                    raise self._blocked(conn, self.database) from None
                if ended := self._clear(conn, self.database, force):
                    self.progress(f"  ended {len(ended)} more session(s): {listed(ended)}")
            else:
                return


@dataclass(frozen=True)
class _Statement:
    """A statement about a database whose name is filled in later ({db})."""

    template: str
    args: dict[str, sql.Composable] = field(default_factory=dict)

    def on(self, database: sql.Identifier) -> sql.Composed:
        return sql.SQL(self.template).format(db=database, **self.args)


@dataclass(frozen=True)
class _DatabaseSettings:
    owner: str
    statements: list[_Statement]
    connection_limit: int
    comment: str | None


def store_for(runtime: Runtime, progress: Progress) -> SnapshotStore:
    """The snapshots of `runtime`'s database (the Docker runtime refuses: its superuser is its own)."""
    config = runtime.config
    return SnapshotStore(
        runtime.admin_url(),
        config.database,
        schema=config.schema,
        console=runtime.bouncer_console,
        progress=progress,
    )


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
        conn.execute("SELECT pg_advisory_lock(%s, %s)", _LOCK)
        os.write(ready, b"1")
        os.close(ready)
        for statement in statements:
            conn.execute(statement.encode())
