"""The database fixtures: one Postgres + PgBouncer per test process, a fresh database per test.

Under pytest-xdist every worker is a test process of its own, so each gets its own cluster on free
ports in a temp dir and its own template: workers never share a database. A test's database is a
copy of the template (`CREATE DATABASE ... TEMPLATE`): the owner role's schema and the runtime role's
privileges are made once per process, not once per test. Started through ops.local.native itself,
from a copy of the run's pristine cluster (tests/fix_cluster.py: initdb once per run, not per
process), and always stopped, even when a test fails or the run is interrupted.

New tests take `database` (an empty schema, the roles in place) or `local_env` (the cluster itself);
a test that stops, kills or reconfigures a cluster starts one of its own (`own_cluster_root`, in
tests/fix_cluster.py) and leaves this one alone.
"""

from __future__ import annotations

import atexit
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from app.urls import libpq_dsn
from ops.local import throwaway
from ops.local.native import LocalEnv
from tests import support

# The session cluster is not what these tests are about, and it is thrown away afterwards: it need
# not survive a crash of the machine. Without the flushes a CREATE DATABASE or a commit costs
# memory copies instead of disk writes (the clusters the native runtime's tests start keep the
# shipped settings).
THROWAWAY_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
TEMPLATE = "pgstack_test_template"


def tune_for_tests(env: LocalEnv) -> None:
    """Turn off what only protects data against a crash of the machine (ALTER SYSTEM, reloaded)."""
    with psycopg.connect(libpq_dsn(env.admin_url()), autocommit=True) as conn:
        for name, value in THROWAWAY_SETTINGS.items():
            conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")  # constants above, not input
        conn.execute("SELECT pg_reload_conf()")


@pytest.fixture(name="local_env", scope="session")
def _local_env(pristine: Path, cluster_dir: Path | None) -> Iterator[LocalEnv]:
    """This test process's Postgres + PgBouncer, on free ports, torn down whatever happens: a copy
    of the run's pristine cluster (initdb is not what these tests are about), not an initdb of its own."""
    # In memory where there is room (tests/fix_cluster.py): each CREATE DATABASE, checkpoint and the
    # final delete of its files then waits for no disk.
    root = throwaway.make_state_root("pgstack-tests-", cluster_dir)
    config = throwaway.throwaway_config()
    stack_file = throwaway.write_stack_file(root / "Pulumi.local.yaml", config)
    # Not durable: `up` does not wait for the copy's files to reach the disk (nothing here must
    # survive a crash), and the teardown discards it (no shutdown checkpoint: it is deleted next).
    env = LocalEnv(config, root / "state", pristine, durable=False)
    saved = {key: os.environ.get(key) for key in ("PGSTACK_STACK_FILE", "PGSTACK_STATE_DIR")}
    os.environ["PGSTACK_STACK_FILE"] = str(stack_file)
    os.environ["PGSTACK_STATE_DIR"] = str(env.state_dir)
    atexit.register(env.discard)  # a crash outside pytest's teardown still stops the processes
    try:
        env.up()
        tune_for_tests(env)
        yield env
    finally:
        env.discard()
        shutil.rmtree(root, ignore_errors=True)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(name="database_template", scope="session")
def _database_template(local_env: LocalEnv) -> str:
    """The name of this process's template: an empty schema owned by the owner role, the runtime
    role's privileges and default privileges in it, and no connection left open (a template in use
    cannot be copied)."""
    support.create_database(local_env, TEMPLATE)
    return TEMPLATE


@pytest.fixture(name="database")
def _database(local_env: LocalEnv, database_template: str) -> Iterator[support.TestDatabase]:
    """A fresh database for one test: a copy of the template, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    db = support.clone_database(local_env, database_template, name)
    try:
        yield db
    finally:
        support.drop_database(local_env, name)
