"""A snapshot as listed, the names of the databases behind one, and the listing itself."""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from app.urls import libpq_dsn
from ops.errors import UserError

PREFIX = "pgstack_snapshot__"
SPARE = "pgstack_spare__"  # a ready copy of a snapshot, which a restore swaps in without copying
RESTORING = "pgstack_restoring__"  # a restore's copy, before it takes the live name
REPLACED = "pgstack_replaced__"  # the live database a restore just replaced, until it is dropped
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


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


def snapshot_database(database: str, name: str) -> str:
    """The database holding snapshot `name` of `database`; a bad name is a UserError saying what is
    allowed."""
    longest = 63 - len(PREFIX) - len(database) - 2
    if not _NAME.match(name) or len(name) > longest:
        raise UserError(
            f"snapshot name {name!r} is not usable: lower-case letters, digits, - and _, starting "
            f"with a letter or digit, at most {longest} characters"
        )
    return f"{PREFIX}{database}__{name}"


def spare_database(database: str, name: str) -> str:
    """The ready copy of snapshot `name` (shorter prefix than the snapshot's: always fits)."""
    return f"{SPARE}{database}__{name}"


def human_size(size: float) -> str:
    """1536 -> '1.5 kB' (powers of 1024, as pg_size_pretty)."""
    for unit in ("bytes", "kB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"  # pragma: no cover - the loop returns at GB


def list_snapshots(conn: psycopg.Connection, database: str) -> list[Snapshot]:
    """The snapshots of `database` in the cluster `conn` is connected to, oldest first."""
    found = []
    rows = conn.execute(
        "SELECT datname, shobj_description(oid, 'pg_database'), pg_database_size(oid) "
        "FROM pg_database WHERE starts_with(datname, %s)",
        (f"{PREFIX}{database}__",),
    ).fetchall()
    spares = {
        str(row[0])
        for row in conn.execute(
            "SELECT datname FROM pg_database WHERE starts_with(datname, %s)",
            (f"{SPARE}{database}__",),
        )
    }
    for snapshot, comment, size in rows:
        try:
            meta = json.loads(comment or "{}")
        except json.JSONDecodeError:
            meta = {}
        name = str(snapshot).removeprefix(f"{PREFIX}{database}__")
        found.append(
            Snapshot(
                name=name,
                database=str(snapshot),
                source=str(meta.get("source", database)),
                created_at=meta.get("created_at"),
                revision=meta.get("revision"),
                size_bytes=int(size),
                spare_ready=spare_database(database, name) in spares,
            )
        )
    return sorted(found, key=lambda s: (s.created_at or "", s.name))


def schema_revision(admin_url: str, database: str, schema: str) -> str | None:
    """The migrations' revision of `database`'s schema, to label a snapshot (None: unversioned)."""
    from sqlalchemy.engine import make_url

    url = make_url(admin_url).set(database=database).render_as_string(hide_password=False)
    with contextlib.suppress(psycopg.Error), psycopg.connect(libpq_dsn(url), autocommit=True) as conn:
        row = conn.execute(
            sql.SQL("SELECT version_num FROM {}.alembic_version").format(sql.Identifier(schema))
        ).fetchone()
        return str(row[0]) if row else None
    return None


def require_database(conn: psycopg.Connection, database: str) -> None:
    """A UserError unless `database` exists in the cluster."""
    row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
    if row is None:
        raise UserError(f"database {database!r} does not exist: run `invoke up` to create it")


def database_size(conn: psycopg.Connection, database: str) -> int:
    row = conn.execute("SELECT pg_database_size(%s)", (database,)).fetchone()
    return int(row[0]) if row else 0


def unknown_revision_warning(snapshot: Snapshot) -> str | None:
    """What to say when a restored schema is at a revision this code's migrations do not have."""
    from ops.migrate.revisions import known_revision  # Alembic's script directory: only here

    if snapshot.revision is None or known_revision(snapshot.revision) is not None:
        return None
    return (
        f"warning: snapshot {snapshot.name!r} is at revision {snapshot.revision}, which this "
        "code's migrations do not have (taken on another branch?): `db.migrate` and the app "
        "may fail on it; check out the code it was taken with, or restore another snapshot"
    )
