"""The harness's fixtures: one throwaway Postgres + PgBouncer for the session, a fresh database per test.

Started through ops.local.native itself, on free ports in a temp dir, and always stopped, even when a
test fails or the run is interrupted. Fixtures only: the helpers are in tests.support.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import uuid
from collections.abc import Iterator
from types import FrameType

import pytest

# Modules, not names, so a test's `from tests.conftest import create_database` fails at once: the
# helpers live in tests.support (a test importing a conftest would load it a second time).
from ops.local import throwaway
from ops.local.native import LocalEnv
from tests import support


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # pytest then tears every fixture down, as on Ctrl-C


def pytest_configure(config: pytest.Config) -> None:
    """SIGTERM (a cancelled CI job, `kill`) stops the run like Ctrl-C: every environment is stopped.

    Installed for the whole run, not by one fixture: a test's own environment started before the
    session one (or without it) must be torn down too.
    """
    signal.signal(signal.SIGTERM, _interrupt)


@pytest.fixture(name="local_env", scope="session")
def _local_env() -> Iterator[LocalEnv]:
    """The session's Postgres + PgBouncer, on free ports, torn down whatever happens."""
    root = throwaway.make_state_root("pgstack-tests-")
    config = throwaway.throwaway_config()
    stack_file = throwaway.write_stack_file(root / "Pulumi.local.yaml", config)
    env = LocalEnv(config, root / "state")
    saved = {key: os.environ.get(key) for key in ("PGSTACK_STACK_FILE", "PGSTACK_STATE_DIR")}
    os.environ["PGSTACK_STACK_FILE"] = str(stack_file)
    os.environ["PGSTACK_STATE_DIR"] = str(env.state_dir)
    atexit.register(env.down)  # a crash outside pytest's teardown still stops the processes
    try:
        env.up()
        yield env
    finally:
        env.down()
        shutil.rmtree(root, ignore_errors=True)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(name="database")
def _database(local_env: LocalEnv) -> Iterator[support.TestDatabase]:
    """A fresh, empty database for one test."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    db = support.create_database(local_env, name)
    try:
        yield db
    finally:
        support.drop_database(local_env, name)
