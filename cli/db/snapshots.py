"""db's snapshots of the local database: snapshot (take or delete one), restore, snapshots (list)."""

from __future__ import annotations

import json as json_module
from typing import TYPE_CHECKING

from invoke.context import Context
from invoke.tasks import task

from cli import edge
from cli.errors import reported

if TYPE_CHECKING:
    from ops.local.snapshots import SnapshotStore


def _snapshot_store() -> SnapshotStore:
    from ops.local.snapshots import store_for

    return store_for(edge.runtime(), edge.say)


FORCE_HELP = (
    "end the sessions that hold the database (PgBouncer's clients are disconnected and reconnect, "
    "others are terminated) instead of refusing"
)


@task(
    help={
        "name": "the snapshot's name (lower-case letters, digits, - and _)",
        "force": FORCE_HELP,
        "delete": "delete the snapshot NAME instead of taking one",
    }
)
def snapshot(c: Context, name: str, force: bool = False, delete: bool = False) -> None:
    """Save the local database as snapshot NAME, in seconds (CREATE DATABASE ... TEMPLATE).

    Other sessions must be gone while it copies: PgBouncer's pool is paused (the app's queries wait,
    then carry on); any other session is named and the snapshot refused, unless --force ends them.
    Snapshots live in the cluster: they survive `env.down`/`env.up`, `env.reset` deletes them.
    `db.restore NAME` goes back to one, `db.snapshots` lists them.
    """
    with reported():
        store = _snapshot_store()
        if delete:
            store.delete(name)
        else:
            store.take(name, force=force)


@task(help={"name": "the snapshot to go back to (see `invoke db.snapshots`)", "force": FORCE_HELP})
def restore(c: Context, name: str, force: bool = False) -> None:
    """Replace the local database with snapshot NAME (the snapshot stays for another restore).

    With PgBouncer's pool paused, the snapshot's spare copy (made in the background after the
    snapshot) and the live database swap names in one transaction; without a spare, the snapshot
    is copied first. The replaced copy is dropped, and a new spare made, in the background.
    Sessions on the database are named and the restore refused, unless --force ends them.
    """
    with reported():
        _snapshot_store().restore(name, force=force)


@task(help={"json": "print the snapshots as JSON (for scripts)"})
def snapshots(c: Context, json: bool = False) -> None:
    """List the local database's snapshots: name, when, size, migration revision, spare copy."""
    from ops.local.snapshots import human_size

    with reported():
        found = _snapshot_store().snapshots()
        if json:
            print(json_module.dumps([s.as_dict() for s in found], indent=2))
            return
        if not found:
            print("no snapshots yet: `invoke db.snapshot NAME` takes one")
            return
        width = max(len(s.name) for s in found)
        for s in found:
            when = (s.created_at or "?").replace("T", " ")
            spare = "spare ready" if s.spare_ready else "no spare yet"
            print(f"{s.name:<{width}}  {when}  {human_size(s.size_bytes):>9}  {s.revision or '-'}  {spare}")
