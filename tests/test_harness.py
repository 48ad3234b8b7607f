"""The harness itself: the session environment answers directly and through PgBouncer, is checked
after each file that used it, and is stopped however the run ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from app.urls import libpq_dsn
from ops.local.native import LocalEnv
from ops.local.processes import port_in_use
from ops.migrate.revisions import head_revision
from stacks.stackfile import REPO_ROOT
from tests.support import TestDatabase
from tests.support.app import stamp
from tests.support.isolation import revision_left_behind
from tests.support.leftovers import LEFTOVER_AGE_S, sweep_leftovers

# A test with an environment of its own, from the harness's own fixture (tests/fix_cluster.py: a copy
# of the outer run's pristine cluster, as tests/app's private environment), run in a pytest of its own.
_INNER_TEST = """
import time

import pytest


@pytest.fixture(name="env")
def _env(own_env):
    with own_env("pgstack-sigterm-") as env:
        yield env


def test_wait(env):
    print("READY", env.config.postgres_port, env.config.pgbouncer_port, flush=True)
    time.sleep(120)
"""


def test_fresh_database_is_reachable_directly_and_pooled(database: TestDatabase) -> None:
    """A per-test database answers on the direct URL and through PgBouncer, owned by the app role."""
    for url in (database.direct_url, database.pooled_url):
        with psycopg.connect(libpq_dsn(url), prepare_threshold=None) as conn:
            row = conn.execute(
                "SELECT current_database(), pg_get_userbyid(datdba) FROM pg_database "
                "WHERE datname = current_database()"
            ).fetchone()
            assert (database.name, "app") == row


def test_session_env_reports_both_processes(local_env: LocalEnv) -> None:
    """The session environment shows Postgres and PgBouncer running on their configured ports."""
    status = local_env.status()
    assert status.running
    assert local_env.config.postgres_port == status.postgres.port
    assert local_env.config.pgbouncer_port == status.pgbouncer.port


def test_a_revision_left_in_the_session_database_is_named(database: TestDatabase) -> None:
    """The check run after each file that used the session environment (tests/conftest.py): an
    unmigrated schema or one at the shipped head passes; one left at another revision is named."""
    head = head_revision()
    assert revision_left_behind(database.direct_url, database.schema, head) is None
    stamp(database, head)
    assert revision_left_behind(database.direct_url, database.schema, head) is None
    stamp(database, "0901_drop_picture")
    problem = revision_left_behind(database.direct_url, database.schema, head)
    assert problem is not None
    assert problem.startswith(
        f"left the session environment's schema {database.schema} at revision 0901_drop_picture "
        f"(the shipped head is {head}): "
    )


def test_sigterm_stops_the_environments_of_a_test_run(state_root: Path) -> None:
    """A test run killed with SIGTERM (a cancelled CI job) still stops the Postgres and PgBouncer it ran.

    The inner run's test file sits in `state_root`: the test starts a cluster of its own (inside
    the inner run), which is what that fixture marks."""
    inner = state_root / "test_inner.py"
    inner.write_text(_INNER_TEST)
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.conftest",
            "-p",
            "no:cacheprovider",
            # Plugins the inner test does not use (Alembic's alone imports Alembic: ~0.3 s).
            "-p",
            "no:pytest_alembic",
            "-p",
            "no:anyio",
            "-s",
            "-q",
            str(inner),
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert run.stdout is not None
        ports: list[int] = []
        for line in run.stdout:
            if line.startswith("READY"):
                ports = [int(word) for word in line.split()[1:]]
                break
        assert 2 == len(ports), "the inner test run never got its environment up"
        assert all(port_in_use(port) for port in ports)
        run.send_signal(signal.SIGTERM)
        run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    assert [False, False] == [port_in_use(port) for port in ports]


def test_a_run_started_with_ctrl_c_ignored_gives_its_children_ctrl_c_again(subprocesses: None) -> None:
    """Started in the background by a shell without job control (SIGINT ignored, inherited by every
    child), the test processes still start children that Ctrl-C stops (the Ctrl-C tests need it)."""
    probe = (
        "import runpy, signal, subprocess, sys\n"
        # The module alone, by its path: tests.support's package loads psycopg and the runtimes (~0.5 s).
        "runpy.run_path('tests/support/interrupts.py')['deliverable_sigint']()\n"
        "child = 'import signal; print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)'\n"
        "done = subprocess.run([sys.executable, '-c', child], capture_output=True, text=True)\n"
        "print(done.stdout.strip())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # as `cmd &` without job control
    )
    assert "False" == done.stdout.strip()


def test_a_killed_runs_leftovers_are_swept_but_not_a_running_cluster(tmp_path: Path) -> None:
    """A `pgstack-*` directory untouched for LEFTOVER_AGE_S goes, unless a Postgres still runs under
    it (its postmaster.pid names a live process); a recent one and another name stay."""
    old = time.time() - LEFTOVER_AGE_S - 60

    def made(name: str, pid: int | None, mtime: float) -> Path:
        root = tmp_path / name
        (root / "state" / "pgdata").mkdir(parents=True)
        if pid is not None:
            (root / "state" / "pgdata" / "postmaster.pid").write_text(f"{pid}\n/somewhere\n")
        os.utime(root, (mtime, mtime))
        return root

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], check=True, capture_output=True, text=True
    )
    killed = made("pgstack-own-killed", int(dead.stdout), old)
    bare = made("pgstack-base-bare", None, old)
    running = made("pgstack-own-running", os.getpid(), old)
    recent = made("pgstack-own-recent", None, time.time())
    other = made("somebody-else", None, old)
    assert [bare, killed] == sweep_leftovers(tmp_path)
    assert [False, False, True, True, True] == [p.exists() for p in (killed, bare, running, recent, other)]
