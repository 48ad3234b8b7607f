"""The snapshots of one database: take, restore, delete, list. The pieces each operation uses live
beside this module: listing and naming (`snapshot`), quieting the database (`quiesce`), copying it
(`copying`), a restore's swap (`swap`), the lock (`lock`) and the work left to the background
(`background`)."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql

from app.urls import libpq_dsn
from ops.errors import UserError
from ops.local.snapshots.background import run_in_background
from ops.local.snapshots.copying import PROGRESS_EVERY_S, copy_database, file_copy, spare_statement
from ops.local.snapshots.interrupts import stopped_cleanly
from ops.local.snapshots.ledger import TaskLedger
from ops.local.snapshots.lock import one_at_a_time, wait_for_unlock
from ops.local.snapshots.quiesce import PAUSE_WAIT_S, Console, Progress, Quiescer
from ops.local.snapshots.snapshot import (
    REPLACED,
    RESTORING,
    Snapshot,
    database_size,
    human_size,
    list_snapshots,
    require_database,
    schema_revision,
    snapshot_database,
    spare_database,
    unknown_revision_warning,
)
from ops.local.snapshots.swap import database_settings, swap

if TYPE_CHECKING:
    from ops.local.runtime import Runtime


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
        ledger: TaskLedger | None = None,
    ) -> None:
        self.admin_url = admin_url
        self.database = database
        self.schema = schema
        self.console = console
        self.progress = progress
        self.pause_wait_s = pause_wait_s
        self.progress_every_s = progress_every_s
        self.spares = spares  # keep a ready copy of each snapshot: a restore then copies nothing
        self.ledger = ledger  # where a pause is recorded while held (None: not recorded)

    # --- names ----------------------------------------------------------------------------
    def snapshot_database(self, name: str) -> str:
        """The database holding snapshot `name`; a bad name is a UserError saying what is allowed."""
        return snapshot_database(self.database, name)

    def spare_database(self, name: str) -> str:
        """The ready copy of snapshot `name`."""
        return spare_database(self.database, name)

    # --- listing --------------------------------------------------------------------------
    def snapshots(self) -> list[Snapshot]:
        """This database's snapshots, oldest first."""
        with self._admin() as conn:
            return self._list(conn)

    def _list(self, conn: psycopg.Connection) -> list[Snapshot]:
        return list_snapshots(conn, self.database)

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
        quiescer = self._quiescer()
        with (
            stopped_cleanly(),
            self._task(f"db.snapshot {name}"),
            self._admin() as conn,
            one_at_a_time(conn, self.progress),
        ):
            for snapshot in self._list(conn):
                if snapshot.name == name:
                    raise UserError(
                        f"snapshot {name!r} already exists (taken {snapshot.created_at}): pick another "
                        f"name, or `invoke db.snapshot --delete {name}` first"
                    )
            require_database(conn, self.database)
            revision = schema_revision(self.admin_url, self.database, self.schema)
            size = database_size(conn, self.database)
            self.progress(f"snapshot {name!r}: copying {self.database!r} ({human_size(size)})")
            started = time.monotonic()
            try:
                with quiescer.quiet(conn, self.database, force, doing=f"db.snapshot {name}"):
                    self._copy(
                        conn,
                        sql.SQL("CREATE DATABASE {} TEMPLATE {}{} ALLOW_CONNECTIONS false").format(
                            sql.Identifier(target), sql.Identifier(self.database), file_copy(conn)
                        ),
                        size,
                        force=force,
                        retry_busy=True,
                    )
                meta = {
                    "pgstack": "snapshot",
                    "name": name,
                    "source": self.database,
                    "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "revision": revision,
                }
                conn.execute(
                    sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                        sql.Identifier(target), sql.Literal(json.dumps(meta))
                    )
                )
            except BaseException:
                # Stopped between the copy and its record (the comment): a snapshot nobody can
                # tell the revision of is dropped, not left half-registered.
                with contextlib.suppress(psycopg.Error):
                    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(target)))
                raise
            taken = self._existing(conn, name)
            later = [spare_statement(conn, self.database, name)] if self.spares else []
        self.progress(f"snapshot {name!r} taken in {time.monotonic() - started:.1f} s")
        if later:
            run_in_background(self.admin_url, later, self.ledger, self.database)
            self.progress("  a spare copy for a fast restore is being made in the background")
        return taken

    def restore(self, name: str, force: bool = False) -> Snapshot:
        """Replace the database with snapshot `name` (the snapshot stays, for another restore).

        With the snapshot's spare copy ready, the spare is swapped in and a new spare made in the
        background; without one, the snapshot is copied first.
        """
        quiescer = self._quiescer()
        with (
            stopped_cleanly(),
            self._task(f"db.restore {name}"),
            self._admin() as conn,
            one_at_a_time(conn, self.progress),
        ):
            snapshot = self._existing(conn, name)
            require_database(conn, self.database)
            old = database_settings(conn, self.database)
            restoring, replaced = f"{RESTORING}{self.database}", f"{REPLACED}{self.database}"
            for leftover in (restoring, replaced):  # an interrupted restore's, never the live one
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(leftover)))
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
                        sql.Identifier(restoring), sql.Identifier(snapshot.database), file_copy(conn)
                    ),
                    snapshot.size_bytes,
                )
            try:
                with quiescer.quiet(conn, self.database, force, doing=f"db.restore {name}"):
                    swap(conn, self.database, source, replaced, old, quiescer=quiescer, force=force)
            except BaseException:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(restoring)))
                raise
            # The database is back: dropping the replaced copy (about as slow as copying) and
            # making the next spare happen in a process of their own.
            later = [sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(replaced)).as_string(conn)]
            if self.spares:
                later.append(spare_statement(conn, self.database, name))
        took = time.monotonic() - started
        self.progress(f"restored {self.database!r} from snapshot {name!r} in {took:.1f} s")
        run_in_background(self.admin_url, later, self.ledger, self.database)
        what = "dropped, and a new spare copy made," if self.spares else "dropped"
        self.progress(f"  the replaced copy of {self.database!r} is being {what} in the background")
        if warning := unknown_revision_warning(snapshot):
            self.progress(warning)
        return snapshot

    def delete(self, name: str) -> Snapshot:
        """Drop snapshot `name`."""
        with (
            stopped_cleanly(),
            self._task(f"db.snapshot --delete {name}"),
            self._admin() as conn,
            one_at_a_time(conn, self.progress),
        ):
            snapshot = self._existing(conn, name)
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(self.spare_database(name)))
            )
            conn.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(snapshot.database)))
        self.progress(f"snapshot {name!r} deleted ({human_size(snapshot.size_bytes)} freed, and its spare)")
        return snapshot

    def wait_for_background(self, timeout_s: float = 600) -> float:
        """Wait until no background copy or drop is running; the seconds it took."""
        started = time.monotonic()
        with self._admin() as conn:
            wait_for_unlock(conn, timeout_s)
        return time.monotonic() - started

    # --- the pieces -----------------------------------------------------------------------
    @contextlib.contextmanager
    def _admin(self) -> Iterator[psycopg.Connection]:
        try:
            conn = psycopg.connect(
                libpq_dsn(self.admin_url),
                autocommit=True,
                application_name=f"pgstack-snapshot pid={os.getpid()}",
            )
        except psycopg.OperationalError:
            raise UserError("Postgres does not answer: start it with `invoke env.up`") from None
        with conn:
            yield conn

    @contextlib.contextmanager
    def _task(self, doing: str) -> Iterator[None]:
        """Keep a record that this process works on the snapshots while the block runs: one a
        SIGKILL leaves tells `env.up` to look for what the task left half-done."""
        if self.ledger is None:
            yield
            return
        self.ledger.task_started(self.database, doing)
        try:
            yield
        finally:
            self.ledger.task_ended()

    def _quiescer(self) -> Quiescer:
        return Quiescer(self.console, self.progress, self.pause_wait_s, self.ledger)

    def _copy(
        self,
        conn: psycopg.Connection,
        statement: sql.Composed,
        size: int,
        *,
        force: bool = False,
        retry_busy: bool = False,
    ) -> None:
        copy_database(
            conn,
            statement,
            size,
            admin_url=self.admin_url,
            every_s=self.progress_every_s,
            quiescer=self._quiescer(),
            database=self.database,
            force=force,
            retry_busy=retry_busy,
        )


def store_for(runtime: Runtime, progress: Progress) -> SnapshotStore:
    """The snapshots of `runtime`'s database (the Docker runtime refuses: its superuser is its own)."""
    config = runtime.config
    return SnapshotStore(
        runtime.admin_url(),
        config.database,
        schema=config.schema,
        console=runtime.bouncer_console,
        progress=progress,
        ledger=runtime.task_ledger,
    )
