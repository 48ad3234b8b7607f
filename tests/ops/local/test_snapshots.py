"""Snapshots of the local database on real Postgres and PgBouncer: take, list, restore, delete;
the sessions in the way named (and ended with force); the app behind PgBouncer carrying on; what a
restore gives back; bad names; snapshots across env.down/up and gone after env.reset."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from app.urls import libpq_dsn
from ops.errors import UserError
from ops.local.native import LocalEnv
from ops.local.snapshots import BlockedError, SnapshotStore, store_for
from ops.local.snapshots.quiesce import run_bounded
from ops.local.throwaway import write_stack_file
from ops.migrate.migrator import head_revision, migrate
from ops.migrate.seed import seed
from tests.fix_cluster import OwnEnv
from tests.support.tasks import run_task


def _quiet(_: str) -> None:
    """Progress sink."""


@pytest.fixture(name="snap_env", scope="module")
def _snap_env(tmp_path_factory: pytest.TempPathFactory, own_env: OwnEnv) -> Iterator[LocalEnv]:
    """An environment of this module's own (snapshots pause and kill PgBouncer's pool for the
    database), migrated and seeded, with a stack file so `invoke` subprocesses reach it too."""
    with own_env("pgstack-snapshots-") as env:
        migrate(env.target(), progress=_quiet)
        seed(env.target(), progress=_quiet)
        stack_file = write_stack_file(tmp_path_factory.mktemp("stack") / "Pulumi.local.yaml", env.config)
        env.test_environ = {  # type: ignore[attr-defined]
            "PGSTACK_STACK_FILE": str(stack_file),
            "PGSTACK_STATE_DIR": str(env.state_dir),
        }
        yield env


@pytest.fixture(name="store")
def _store(snap_env: LocalEnv) -> Iterator[SnapshotStore]:
    """The module environment's snapshots, emptied after each test."""
    lines: list[str] = []
    store = store_for(snap_env, lines.append)
    store.lines = lines  # type: ignore[attr-defined]
    yield store
    for snapshot in store.snapshots():
        store.delete(snapshot.name)


def _direct(env: LocalEnv, name: str = "test-client", **kwargs: object) -> psycopg.Connection:
    return psycopg.connect(libpq_dsn(env.direct_url()), application_name=name, **kwargs)  # type: ignore[arg-type]


def _pooled(env: LocalEnv, name: str = "test-app", **kwargs: object) -> psycopg.Connection:
    return psycopg.connect(
        libpq_dsn(env.pooled_url()),
        application_name=name,
        prepare_threshold=None,
        **kwargs,  # type: ignore[arg-type]
    )


def _count(env: LocalEnv, table: str) -> int:
    with _direct(env, autocommit=True) as conn:
        row = conn.execute(f"SELECT count(*) FROM app.{table}").fetchone()  # noqa: S608 - fixed names
    assert row is not None
    return int(row[0])


def test_snapshot_and_restore_undo_changes_and_the_app_carries_on(
    snap_env: LocalEnv, store: SnapshotStore
) -> None:
    """A snapshot taken while the app sits idle behind PgBouncer needs no --force; after changes,
    a restore brings the data back, and the app's same pooled connection keeps working throughout;
    the replaced copy is dropped in the background, leaving only the snapshot."""
    app = _pooled(snap_env, autocommit=True)
    with app:
        assert [(3,)] == app.execute("SELECT count(*) FROM app.users").fetchall()
        taken = store.take("before-change")
        assert "before-change" == taken.name
        assert head_revision() == taken.revision
        assert taken.size_bytes > 1_000_000
        app.execute("DELETE FROM app.events")
        app.execute("INSERT INTO app.users (email) VALUES ('new@example.com')")
        store.restore("before-change")
        assert [(3,)] == app.execute("SELECT count(*) FROM app.users").fetchall()
        assert [(5,)] == app.execute("SELECT count(*) FROM app.events").fetchall()
    lines: list[str] = store.lines  # type: ignore[attr-defined]
    assert any("being dropped, and a new spare copy made, in the background" in line for line in lines)
    store.wait_for_background()
    (kept,) = store.snapshots()
    assert ("before-change", True) == (kept.name, kept.spare_ready)
    with psycopg.connect(libpq_dsn(snap_env.admin_url()), autocommit=True) as admin:
        rows = admin.execute(
            "SELECT datname, datallowconn FROM pg_database WHERE datname LIKE 'pgstack\\_%' ORDER BY 1"
        ).fetchall()
    # No leftovers; neither the snapshot nor its spare takes sessions.
    assert [
        ("pgstack_snapshot__app__before-change", False),
        ("pgstack_spare__app__before-change", False),
    ] == rows


def test_restore_swaps_in_the_spare_or_copies_without_one(snap_env: LocalEnv, store: SnapshotStore) -> None:
    """With its spare ready, a restore copies nothing and swaps it in; with the spare gone (or
    never made), it copies the snapshot; both give the snapshot's data back, and a restore right
    after a snapshot waits for that snapshot's spare instead of racing it."""
    store.take("base")
    with _direct(snap_env, autocommit=True) as conn:
        conn.execute("DELETE FROM app.events")
    store.restore("base")  # straight after the snapshot: waits for the spare, then uses it
    lines: list[str] = store.lines  # type: ignore[attr-defined]
    assert any("its spare copy is ready, swapping it in" in line for line in lines), lines
    assert 5 == _count(snap_env, "events")
    store.wait_for_background()
    with psycopg.connect(libpq_dsn(snap_env.admin_url()), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{store.spare_database("base")}"')
    with _direct(snap_env, autocommit=True) as conn:
        conn.execute("DELETE FROM app.events")
    lines.clear()
    store.restore("base")
    assert any("copying the snapshot" in line for line in lines), lines
    assert 5 == _count(snap_env, "events")


def test_restore_keeps_the_database_owner_grants_and_settings(
    snap_env: LocalEnv, store: SnapshotStore
) -> None:
    """What CREATE DATABASE ... TEMPLATE does not copy (owner, grants, settings, comment) is given
    back to the restored database."""
    settings_query = (
        "SELECT pg_get_userbyid(d.datdba), d.datacl::text, shobj_description(d.oid, 'pg_database'), "
        "(SELECT array_agg(s.setrole::regrole::text || ':' || array_to_string(s.setconfig, ';') ORDER BY 1) "
        " FROM pg_db_role_setting s WHERE s.setdatabase = d.oid) FROM pg_database d WHERE d.datname = 'app'"
    )
    with psycopg.connect(libpq_dsn(snap_env.admin_url()), autocommit=True) as admin:
        admin.execute("REVOKE ALL ON DATABASE app FROM PUBLIC")
        admin.execute("GRANT CONNECT, TEMPORARY ON DATABASE app TO app")
        admin.execute("ALTER DATABASE app SET work_mem = '8MB'")
        admin.execute("ALTER ROLE app IN DATABASE app SET search_path = app, public")
        admin.execute("COMMENT ON DATABASE app IS 'the local app database'")
        try:
            before = admin.execute(settings_query).fetchone()
            store.take("settings")
            store.restore("settings")
            after = admin.execute(settings_query).fetchone()
        finally:
            admin.execute("GRANT ALL ON DATABASE app TO PUBLIC")
            admin.execute("REVOKE ALL ON DATABASE app FROM PUBLIC")
            admin.execute("GRANT CONNECT, TEMPORARY ON DATABASE app TO PUBLIC")
            admin.execute("ALTER DATABASE app RESET ALL")
            admin.execute("ALTER ROLE app IN DATABASE app RESET ALL")
    assert before == after
    assert before is not None and "app" == before[0]


def test_snapshot_names_the_sessions_in_the_way_and_force_ends_them(
    snap_env: LocalEnv, store: SnapshotStore
) -> None:
    """A direct session and an app transaction through PgBouncer block the copy: the snapshot is
    refused naming both, and nothing is created; --force ends them and the snapshot holds exactly
    the committed data."""
    psql = _direct(snap_env, "psql-like")
    app = _pooled(snap_env, "busy-app")
    try:
        psql.execute("SELECT 1")  # idle in transaction
        app.execute("INSERT INTO app.usage_events (route) VALUES ('uncommitted')")
        with pytest.raises(BlockedError) as caught:
            store.take("blocked")
        message = str(caught.value)
        assert "\n" not in message
        assert "psql-like (app@127.0.0.1, idle in transaction" in message
        runtime = snap_env.config.roles.runtime
        assert f"busy-app ({runtime}@127.0.0.1 through PgBouncer, idle in transaction" in message
        assert message.endswith("or add --force to end them (nothing was changed)")
        assert [] == store.snapshots()
        committed = _count(snap_env, "usage_events")
        store.take("forced", force=True)
        assert any("ended 2 session(s)" in line for line in store.lines)  # type: ignore[attr-defined]
        for conn in (psql, app):
            with pytest.raises(psycopg.OperationalError):
                conn.execute("SELECT 1")
    finally:
        psql.close()
        app.close()
    assert committed == _count(snap_env, "usage_events")  # the uncommitted row went with its session
    store.restore("forced")
    assert committed == _count(snap_env, "usage_events")


def test_restore_with_sessions_is_refused_then_forced(snap_env: LocalEnv, store: SnapshotStore) -> None:
    """A restore with a session on the database names it and changes nothing; --force restores."""
    store.take("base")
    with _direct(snap_env, autocommit=True) as conn:
        conn.execute("DELETE FROM app.sessions")
    holder = _direct(snap_env, "report-job")
    try:
        holder.execute("SELECT 1")
        with pytest.raises(BlockedError, match=r"pid \d+ report-job \(app@127.0.0.1, idle in transaction"):
            store.restore("base")
        assert 0 == _count(snap_env, "sessions")
        store.restore("base", force=True)
    finally:
        holder.close()
    assert 1 == _count(snap_env, "sessions")


def test_pause_waits_a_bounded_time_for_a_transaction_in_flight(snap_env: LocalEnv) -> None:
    """PgBouncer's PAUSE waits for transactions in flight; the bounded send returns False in time
    instead of hanging, and a RESUME lets the app carry on."""
    with _pooled(snap_env, "long-tx") as app, snap_env.bouncer.console() as console:
        app.execute("SELECT 1")  # a transaction open through PgBouncer
        pausing = snap_env.bouncer.console()
        try:
            assert run_bounded(pausing, b"PAUSE app", 0.3) is False
        finally:
            pausing.close()
        console.execute("RESUME app")
        app.commit()
        assert [(1,)] == app.execute("SELECT 1").fetchall()


def test_bad_names_and_unknown_snapshots(store: SnapshotStore) -> None:
    """An unknown snapshot lists the ones there are (or says how to take one), a malformed name says
    what is allowed, and an existing name is not overwritten."""
    with pytest.raises(
        UserError,
        match=r"^no snapshot 'nope' of database 'app': there are none yet: `invoke db.snapshot nope`",
    ):
        store.restore("nope")
    store.take("one")
    store.take("two")
    with pytest.raises(
        UserError, match=r"^no snapshot 'nope' of database 'app': the snapshots are one, two$"
    ):
        store.restore("nope")
    with pytest.raises(UserError, match=r"^no snapshot 'nope'"):
        store.delete("nope")
    with pytest.raises(UserError, match=r"lower-case letters, digits, - and _"):
        store.take("Bad Name")
    with pytest.raises(UserError, match=r"at most 40 characters"):
        store.take("x" * 41)
    with pytest.raises(
        UserError, match=r"snapshot 'one' already exists .*`invoke db.snapshot --delete one` first"
    ):
        store.take("one")


# The snapshot's copy, held by the test's lock on the database it copies (see `_copy_in_steps`).
COPY_WAITING = (
    "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND query LIKE 'CREATE DATABASE%%' "
    "AND wait_event_type = 'Lock'"
)


FIND_COPY_S = 60.0  # for the copy's backend to show up waiting on the test's lock


def _copy_in_steps(env: LocalEnv, copy: Callable[[], object], shown: Callable[[], bool]) -> None:
    """Run `copy` (a snapshot of this process's) in a thread, its backend let run 2 ms at a time
    (SIGCONT, SIGSTOP) until `shown()`: however fast the machine copies, the copy then lasts many of
    the progress's ticks. It starts held by a lock on the database it copies, until its backend is
    found and stopped."""
    mine = f"pgstack-snapshot pid={os.getpid()}"
    with ThreadPoolExecutor(1) as pool, psycopg.connect(libpq_dsn(env.admin_url())) as holder:
        holder.execute(f"COMMENT ON DATABASE {env.config.database} IS 'held by the test'")
        copying = pool.submit(copy)
        backend = None
        deadline = time.monotonic() + FIND_COPY_S
        with psycopg.connect(libpq_dsn(env.admin_url()), autocommit=True) as admin:
            while backend is None and not copying.done() and time.monotonic() < deadline:
                row = admin.execute(COPY_WAITING, (mine,)).fetchone()
                if row is None:
                    time.sleep(0.005)
                backend = int(row[0]) if row else None
        if backend is None:
            holder.rollback()  # the copy may end (or fail) now, not wait on the lock for ever
            copying.result(timeout=60)  # its error, if it had one
            raise AssertionError(
                f"the copy's backend ({mine!r}) was not found waiting for the test's lock"
                f" within {FIND_COPY_S:.0f} s"
            )
        _signal(backend, signal.SIGSTOP)
        try:
            holder.rollback()  # the copy may go on, a step at a time
            while not shown() and not copying.done():
                _signal(backend, signal.SIGCONT)
                time.sleep(0.002)
                _signal(backend, signal.SIGSTOP)
                time.sleep(0.03)
        finally:
            _signal(backend, signal.SIGCONT)
        copying.result(timeout=60)


def _signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # the backend ends with the snapshot's connection
        os.kill(pid, signum)


def test_a_large_copy_shows_progress(snap_env: LocalEnv, store: SnapshotStore) -> None:
    """A copy that takes longer than a tick prints how far it got, in bytes and percent."""
    with _direct(snap_env, autocommit=True) as conn:
        # ~30 MB in few wide rows (no index to update), dropped afterwards (no dead rows left
        # behind for the other tests' copies).
        conn.execute(
            "CREATE TABLE app.bulk AS SELECT repeat('x', 1000) AS filler FROM generate_series(1, 20000)"
        )
    store.progress_every_s = 0.02
    lines: list[str] = store.lines  # type: ignore[attr-defined]
    try:
        _copy_in_steps(snap_env, lambda: store.take("big"), lambda: any("copied:" in line for line in lines))
    finally:
        with _direct(snap_env, autocommit=True) as conn:
            conn.execute("DROP TABLE app.bulk")
    assert any(re.search(r"copied: [\d.]+ [kMG]?B of [\d.]+ MB \(\d+%\)", line) for line in lines), lines


def _invoke(env: LocalEnv, *args: str) -> subprocess.CompletedProcess[str]:
    return run_task(*args, environ=env.test_environ)  # type: ignore[attr-defined]


def test_the_tasks(snap_env: LocalEnv, store: SnapshotStore) -> None:
    """db.snapshot / db.snapshots --json / db.restore / db.snapshot --delete as a user runs them;
    a restore of an unknown name is one line listing the snapshots, exit 1."""
    taken = _invoke(snap_env, "db.snapshot", "from-cli")
    assert 0 == taken.returncode, taken.stderr
    assert "snapshot 'from-cli' taken in" in taken.stdout
    listed = _invoke(snap_env, "db.snapshots", "--json")
    assert ["from-cli"] == [s["name"] for s in json.loads(listed.stdout)]
    table = _invoke(snap_env, "db.snapshots")
    assert table.stdout.startswith("from-cli  ")
    missing = _invoke(snap_env, "db.restore", "nope")
    assert 1 == missing.returncode
    assert "error: no snapshot 'nope' of database 'app': the snapshots are from-cli\n" == missing.stderr
    restored = _invoke(snap_env, "db.restore", "from-cli")
    assert 0 == restored.returncode, restored.stderr
    deleted = _invoke(snap_env, "db.snapshot", "--delete", "from-cli")
    assert 0 == deleted.returncode, deleted.stderr
    assert [] == store.snapshots()


def test_snapshots_survive_down_and_up_and_go_with_reset(own_env: OwnEnv) -> None:
    """A snapshot is still there (and restorable) after env.down and env.up; env.reset deletes it
    with the cluster."""
    with own_env("pgstack-snapshot-life-") as env:
        migrate(env.target(), progress=_quiet)
        seed(env.target(), progress=_quiet)
        store_for(env, _quiet).take("kept")
        env.down()
        env.up()
        assert ["kept"] == [s.name for s in store_for(env, _quiet).snapshots()]
        store_for(env, _quiet).restore("kept")
        env.reset()
        env.up()
        assert [] == store_for(env, _quiet).snapshots()


def test_docker_runtime_says_snapshots_need_the_native_one() -> None:
    """The Docker runtime's superuser is the stack's own: snapshots are refused in one line."""
    from ops.local.docker import DockerRuntime
    from stacks.config import load_local_config

    with pytest.raises(UserError, match=r"^snapshots need the native runtime"):
        store_for(DockerRuntime(load_local_config(), None), _quiet)
