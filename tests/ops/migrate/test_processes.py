"""The migrator as the Cloud Run job runs it, in processes of its own: many at once (forked from
one interpreter that imported the job), and `python -m ops.migrate` killed or cut off."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import psycopg
from psycopg import sql

from app.urls import libpq_dsn
from ops.local.native import LocalEnv
from ops.migrate.lock import LOCK_CLASS, lock_key
from ops.migrate.target import DatabaseTarget
from stacks.stackfile import REPO_ROOT
from tests.support import TestDatabase
from tests.support.migrate import SLOW_VERSIONS, history_rows, migrator_env, start_migrator, version
from tests.support.tasks import run_job

ALL = [
    "0001_baseline",
    "0002_events_user_start_index",
    "0003_users_last_login",
    "0004_usage_events_user_ts_index",
]


def test_eight_migrators_at_once_apply_each_revision_exactly_once(
    database: TestDatabase, target: DatabaseTarget, sql_conn: psycopg.Connection
) -> None:
    """Eight migrators started together on a fresh database all succeed; one does the work."""
    # Eight processes forked from one interpreter that imported the job, released at once
    # (tests/support/forked_jobs.py): the race for the lock is the subject, not eight imports.
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.forked_jobs", "8"],
        cwd=REPO_ROOT, env=migrator_env(database), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert 0 == done.returncode, done.stderr
    jobs = json.loads(done.stdout)
    outputs = [(job["stdout"], job["stderr"]) for job in jobs]
    assert [0] * 8 == [job["returncode"] for job in jobs], outputs
    assert any("waiting up to" in out for out, _ in outputs), "no migrator met another's lock"
    assert [ALL[-1]] == version(sql_conn, target.schema)
    applied = [(action, rev) for action, rev, ok in history_rows(sql_conn, target.schema) if ok]
    # 0004 builds its index concurrently (autocommit, outside the revision's transaction): once too.
    assert [("baseline", ALL[0])] + [("upgrade", revision) for revision in ALL[1:]] == applied
    nothing_to_do = [out for out, _ in outputs if "nothing to do" in out]
    assert 7 == len(nothing_to_do)


def _wait_for_sleep(conn: psycopg.Connection, deadline_s: float) -> bool:
    """True once the migrator's backend is inside the slow revision's pg_sleep."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE application_name LIKE 'pgstack-migrate%%' AND query LIKE '%%pg_sleep%%'"
        ).fetchone()
        if row and row[0]:
            return True
        time.sleep(0.05)
    return False


def test_sigkill_mid_revision_leaves_the_previous_revision_and_a_rerun_reaches_head(
    database: TestDatabase, target: DatabaseTarget, sql_conn: psycopg.Connection
) -> None:
    """A migrator killed inside a revision leaves the one before; the next run finishes the job."""
    slow = {"PGSTACK_EXTRA_VERSIONS": str(SLOW_VERSIONS)}
    proc = start_migrator(database, PGSTACK_TEST_SLOW_SECONDS="60", **slow)
    try:
        assert _wait_for_sleep(sql_conn, 30), "the migrator never reached the slow revision"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    assert -signal.SIGKILL == proc.returncode
    assert [ALL[-1]] == version(sql_conn, target.schema)
    column = sql_conn.execute(
        "SELECT count(*) FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = 'users' AND column_name = 'slow_marker'",
        (target.schema,),
    ).fetchone()
    assert (0,) == column

    # The rerun in this process: the killed process is the subject, not the one that finishes.
    rerun = run_job(environ={**database.environ(), "PGSTACK_TEST_SLOW_SECONDS": "0", **slow})
    assert 0 == rerun.returncode, rerun.stderr
    assert "applied 0005_slow_for_tests" in rerun.stdout
    assert ["0005_slow_for_tests"] == version(sql_conn, target.schema)


def test_a_migrator_losing_its_database_mid_revision_fails_in_one_line(
    database: TestDatabase, sql_conn: psycopg.Connection, local_env: LocalEnv
) -> None:
    """Cut off mid-revision with no way back in, the migrator reports one line, not a traceback."""
    slow = {"PGSTACK_EXTRA_VERSIONS": str(SLOW_VERSIONS)}
    proc = start_migrator(database, PGSTACK_TEST_SLOW_SECONDS="60", **slow)
    with psycopg.connect(libpq_dsn(local_env.admin_url()), autocommit=True) as admin:
        name = sql.Identifier(database.name)
        try:
            assert _wait_for_sleep(sql_conn, 30), "the migrator never reached the slow revision"
            admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(name))
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name LIKE 'pgstack-migrate%%' AND datname = %s",
                (database.name,),
            )
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
            admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(name))
    assert 1 == proc.returncode
    assert "Traceback" not in err, err
    assert 1 == len(err.strip().splitlines()), err
    assert err.startswith(
        "error: revision 0005_slow_for_tests failed and was rolled back: terminating connection"
    )


def test_a_migrator_cut_off_while_waiting_for_the_lock_fails_in_one_line(
    database: TestDatabase, target: DatabaseTarget, sql_conn: psycopg.Connection
) -> None:
    """A migrator whose session is terminated while it waits for the lock exits 1 with one line."""
    key = {"cls": LOCK_CLASS, "key": lock_key(target.schema)}
    with psycopg.connect(libpq_dsn(database.direct_url), autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%(cls)s, %(key)s)", key)
        proc = start_migrator(database)
        try:
            end = time.monotonic() + 30
            waiting = None
            while waiting is None and time.monotonic() < end:
                waiting = sql_conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'pgstack-migrate%%' "
                    "AND wait_event_type = 'Lock'"
                ).fetchone()
                time.sleep(0.05)
            assert waiting is not None, "the migrator never waited for the lock"
            sql_conn.execute("SELECT pg_terminate_backend(%s)", (waiting[0],))
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert 1 == proc.returncode
    assert 1 == len(err.strip().splitlines()), err
    assert err.startswith("error: the database failed: terminating connection due to administrator command")
