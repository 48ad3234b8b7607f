"""Fixtures for tests whose subject is a cluster: they start, stop, kill or reconfigure a Postgres +
PgBouncer of their own, never the session's (tests/fix_db.py).

Taking one of these marks the test `cluster` (tests/conftest.py), so the quick loop leaves it out.

Their clusters are copies of one pristine cluster (ops/local/pristine.py): initdb runs once per test
run, in a directory the run's first process makes and its test processes (xdist workers) share,
not once per environment. A test whose subject is initdb starts its `LocalEnv` without `pristine`.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from ops.local.native import LocalEnv
from ops.local.throwaway import make_state_root, throwaway_env
from stacks.config import LocalConfig

OwnEnv = Callable[..., AbstractContextManager[LocalEnv]]
# Where the run's pristine clusters are: set by the first process (the xdist controller, or the one
# process without xdist) before it starts any worker, so every worker inherits it.
PRISTINE_VARIABLE = "PGSTACK_TEST_PRISTINE"


def _remove(path: Path) -> None:
    # rm, not shutil.rmtree: files the postgres user left behind read-only are removed all the same.
    subprocess.run(["rm", "-rf", str(path)], check=False)


def pytest_configure(config: pytest.Config) -> None:
    """The run's pristine cache, made by the process that starts the others (deleted at its end)."""
    if hasattr(config, "workerinput") or PRISTINE_VARIABLE in os.environ:
        return  # a worker (it inherited the variable), or a pytest inside a test of this run
    root = make_state_root("pgstack-pristine-")
    os.environ[PRISTINE_VARIABLE] = str(root)
    config.stash[_MADE] = root


def pytest_unconfigure(config: pytest.Config) -> None:
    root = config.stash.get(_MADE, None)
    if root is not None:
        _remove(root)
        os.environ.pop(PRISTINE_VARIABLE, None)


_MADE = pytest.StashKey[Path]()


@pytest.fixture(name="pristine", scope="session")
def _pristine() -> Path:
    """The run's cache of pristine clusters (ops/local/pristine.py): `LocalEnv(..., pristine=)`."""
    return Path(os.environ[PRISTINE_VARIABLE])


@pytest.fixture(name="state_root")
def _state_root() -> Iterator[Path]:
    """A private directory (the postgres user can reach it) for an environment of the test's own;
    the test stops what it starts there, the directory is deleted afterwards."""
    root = make_state_root("pgstack-own-")
    yield root
    _remove(root)


@pytest.fixture(name="own_env", scope="session")
def _own_env(pristine: Path) -> OwnEnv:
    """`own_env(prefix, config=None)`: a started environment of the test's own in a temp dir, a copy
    of the run's pristine cluster, as a context manager that stops and deletes it
    (ops.local.throwaway.throwaway_env). Not durable: `up` does not wait for its files to reach the
    disk (tests/ops/local/test_sync.py, whose subject that is, starts its own `LocalEnv`)."""

    def start(prefix: str, config: LocalConfig | None = None) -> AbstractContextManager[LocalEnv]:
        return throwaway_env(prefix, config, pristine, durable=False)

    return start
