"""Snapshots of the local database in seconds: `CREATE DATABASE ... TEMPLATE`, a file-level copy
inside the same cluster (so they survive `env.down`/`env.up`, and `env.reset` deletes them with it).

A snapshot is a database of its own, `pgstack_snapshot__<db>__<name>`, that nobody can connect to
(ALLOW_CONNECTIONS false: it can never be in the way of a restore), owned by the superuser, its
metadata (name, source, revision, when) as JSON in its comment. Copying a database needs every other
session gone from the source: PgBouncer's pool for it is paused (its idle server connections close;
its clients wait, and carry on once it resumes), the other sessions are named, and `force` ends them
(PgBouncer's KILL, pg_terminate_backend). A restore copies the snapshot beside the live database
first, then swaps the two names in one transaction, so the app is held only for the swap.

The rooms: `store` (take, restore, delete, list: the one class callers use), `snapshot` (what a
snapshot is, the names of its databases), `quiesce` (pausing PgBouncer, naming and ending
sessions), `copying` (the copy and its progress), `swap` (a restore's renames, with the live
database's grants and settings), `lock` (one operation at a time) and `background` (the spare
copies and drops that run after a task returns).
"""

from ops.local.snapshots.quiesce import BlockedError
from ops.local.snapshots.snapshot import Snapshot, human_size
from ops.local.snapshots.store import SnapshotStore, store_for

__all__ = ["BlockedError", "Snapshot", "SnapshotStore", "human_size", "store_for"]
