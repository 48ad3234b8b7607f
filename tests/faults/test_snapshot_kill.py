"""A killed `db.snapshot` leaves no paused pool and no half-made copy behind (issue item 1).

The snapshot's copy is held up, deterministically, by a transaction that keeps a lock on the source
database (COMMENT ON DATABASE, from another database), so the signal arrives while PgBouncer's pool
is paused and CREATE DATABASE runs, as in `kill -TERM` during a copy of a big database.
SIGTERM and SIGINT: the task resumes the pool before exiting. SIGKILL: `env.status` and the smoke
check say the pool is paused by a process that is gone, and `env.up` resumes it and drops the copy
the dead task never recorded.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from app.urls import libpq_dsn
from ops.local.native import LocalEnv
from ops.local.snapshots import store_for
from tests.faults.scratch import Scratch, wait_for

LOCK_HELD = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 28787 AND objid = 1"
COPY_WAITING = (
    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'CREATE DATABASE%' AND wait_event_type = 'Lock'"
)


@contextmanager
def source_locked(env: LocalEnv) -> Iterator[None]:
    """Hold a lock on the app's database (from the `postgres` database) that CREATE DATABASE waits on."""
    with psycopg.connect(libpq_dsn(env.admin_url())) as conn:
        conn.execute(f"COMMENT ON DATABASE {env.config.database} IS 'held by the test'")
        try:
            yield
        finally:
            conn.rollback()


def counted(env: LocalEnv, query: str) -> int:
    with psycopg.connect(libpq_dsn(env.admin_url()), autocommit=True) as conn:
        row = conn.execute(query).fetchone()
        return int(row[0]) if row else 0


def copy_waiting(env: LocalEnv) -> bool:
    return counted(env, COPY_WAITING) > 0


def paused(env: LocalEnv) -> bool:
    """PgBouncer's SHOW DATABASES says the app's pool is paused."""
    with env.bouncer.console() as console:
        cur = console.execute("SHOW DATABASES")
        names = [d.name for d in cur.description or []]
        rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    return any(row["name"] == env.config.database and int(row["paused"]) for row in rows)


def pooled_answers(env: LocalEnv, within_s: float = 5.0) -> bool:
    """A query through PgBouncer, as the app makes it, is answered within `within_s` seconds."""
    answered = threading.Event()

    def query() -> None:
        try:
            with psycopg.connect(libpq_dsn(env.pooled_url()), prepare_threshold=None) as conn:
                conn.execute("SELECT 1")
                answered.set()
        except psycopg.Error:
            pass  # not answered; the thread ends when PgBouncer gives up or is stopped

    threading.Thread(target=query, daemon=True).start()
    return answered.wait(within_s)


def snapshot_names(env: LocalEnv) -> list[str]:
    return [s.name for s in store_for(env, lambda _: None).snapshots()]


def kill_during_copy(made: Scratch, signum: signal.Signals) -> tuple[int, int, str]:
    """Start `db.snapshot big`, send `signum` to it while its copy waits, release the copy; the
    task's pid, exit code and output."""
    env = made.env
    with source_locked(env):
        task = made.start("db.snapshot", "big", output=subprocess.PIPE)
        wait_for(lambda: copy_waiting(env), what="the snapshot's copy starting")
        assert paused(env)  # the fault's precondition: the pool is paused while the copy runs
        os.kill(task.pid, signum)
        output, _ = task.communicate(timeout=30)
    return task.pid, task.returncode, output


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_a_terminated_snapshot_resumes_the_pool(copied_scratch_env: Scratch, signum: signal.Signals) -> None:
    """SIGTERM or SIGINT during the copy: the task resumes the pool, cancels the copy, exits non-zero."""
    copied_scratch_env.env.up()
    _, returncode, output = kill_during_copy(copied_scratch_env, signum)
    assert 0 != returncode
    assert "Traceback" not in output
    env = copied_scratch_env.env
    assert not paused(env)
    assert pooled_answers(env)
    wait_for(lambda: not copy_waiting(env), what="the copy ending")
    assert [] == snapshot_names(env)  # the copy was cancelled, not left half-recorded


def test_a_killed_snapshot_is_reported_and_undone_by_env_up(copied_scratch_env: Scratch) -> None:
    """SIGKILL during the copy: env.status and smoke's pool check say the pool is paused by a process
    that is gone; env.up resumes it and drops the snapshot the task never recorded."""
    env = copied_scratch_env.env
    env.up()
    pid, returncode, _ = kill_during_copy(copied_scratch_env, signal.SIGKILL)
    assert -signal.SIGKILL == returncode
    # The dead task's backend finishes the copy, then finds its client gone and lets go of the lock.
    wait_for(lambda: counted(env, LOCK_HELD) == 0, what="the orphaned copy finishing")
    assert paused(env)
    assert not pooled_answers(env, 1.0)  # an unpaused pool answers in milliseconds, even on a busy machine

    status = copied_scratch_env.invoke("env.status")
    assert 0 != status.returncode
    said = status.stdout + status.stderr
    assert "paused" in said
    assert f"pid {pid}" in said
    assert "`invoke env.up`" in said
    assert "snapshot 'big' was copied but never recorded" in said
    smoke = json.loads(copied_scratch_env.invoke("smoke", "--json").stdout)
    outcomes = {check["name"]: check["outcome"] for check in smoke["checks"]}
    pools = next(check for check in smoke["checks"] if check["name"] == "pgbouncer pools")
    assert "FAIL" == pools["outcome"]
    assert "is paused" in pools["summary"]
    assert not smoke["ok"]
    # Not tried through the paused pool, where each would wait out PgBouncer's query_wait_timeout.
    assert "skip" == outcomes["pooled connection"] == outcomes["privileges"] == outcomes["app /healthz/db"]

    up = copied_scratch_env.invoke("env.up")
    assert 0 == up.returncode, up.stderr
    assert "resumed pool 'app'" in up.stdout
    assert "dropped pgstack_snapshot__app__big" in up.stdout
    assert not paused(env)
    assert pooled_answers(env)
    assert [] == snapshot_names(env)
    assert 0 == copied_scratch_env.invoke("env.status").returncode


def test_a_restore_killed_during_its_copy_leaves_a_copy_env_up_drops(copied_scratch_env: Scratch) -> None:
    """SIGKILL while a restore copies the snapshot (no spare ready): the copy finishes in Postgres
    under a name nobody will use; env.status names it, env.up drops it, the live data is untouched."""
    env = copied_scratch_env.env
    env.up()
    with psycopg.connect(libpq_dsn(env.direct_url()), autocommit=True) as conn:
        conn.execute("CREATE TABLE app.kept (v text)")
        conn.execute("INSERT INTO app.kept VALUES ('live')")
    store = store_for(env, lambda _: None)
    store.take("s")
    store.wait_for_background()
    with psycopg.connect(libpq_dsn(env.admin_url()), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {store.spare_database('s')}")  # the restore must copy
    snapshot_db = store.snapshot_database("s")
    with psycopg.connect(libpq_dsn(env.admin_url())) as holder:
        holder.execute(f"COMMENT ON DATABASE {snapshot_db} IS 'held by the test'")  # the copy waits on it
        task = copied_scratch_env.start("db.restore", "s")
        wait_for(lambda: copy_waiting(env), what="the restore's copy starting")
        os.kill(task.pid, signal.SIGKILL)
        task.wait(timeout=30)
        holder.rollback()
    wait_for(lambda: counted(env, LOCK_HELD) == 0, what="the orphaned copy finishing")

    status = copied_scratch_env.invoke("env.status")
    assert 4 == status.returncode
    assert "the copy of an interrupted restore (pgstack_restoring__app)" in status.stdout
    up = copied_scratch_env.invoke("env.up")
    assert 0 == up.returncode, up.stderr
    assert "dropped pgstack_restoring__app" in up.stdout
    assert 0 == copied_scratch_env.invoke("env.status").returncode
    with psycopg.connect(libpq_dsn(env.direct_url())) as conn:
        assert [("live",)] == conn.execute("SELECT v FROM app.kept").fetchall()
    assert ["s"] == snapshot_names(env)
