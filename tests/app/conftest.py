"""Fixtures for the app's tests: the test script directory and a private environment of their own.

Fixtures only: the helpers (settings for a test database, the app served in-process) are in
tests.support.app.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.local.native import LocalEnv
from tests import support
from tests.fix_cluster import OwnEnv
from tests.support import app as app_support


@pytest.fixture(name="script_dir", scope="session")
def _script_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test migrations: head is b2second."""
    return app_support.write_script_directory(tmp_path_factory.mktemp("migrations"))


@pytest.fixture(name="private_env", scope="session")
def _private_env(own_env: OwnEnv) -> Iterator[LocalEnv]:
    """A Postgres + PgBouncer of our own, for tests that stop and restart them."""
    with own_env("pgstack-app-tests-") as env:
        yield env


@pytest.fixture(name="private_database")
def _private_database(private_env: LocalEnv) -> Iterator[support.TestDatabase]:
    """A fresh database in the private environment; the environment is running again afterwards."""
    private_env.up()
    db = support.create_database(private_env, "app_outage")
    try:
        yield db
    finally:
        private_env.up()  # a test may have stopped a process; up() is idempotent
        support.drop_database(private_env, db.name)
