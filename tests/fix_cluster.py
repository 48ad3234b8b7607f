"""Fixtures for tests whose subject is a cluster: they start, stop, kill or reconfigure a Postgres +
PgBouncer of their own, never the session's (tests/fix_db.py).

Taking one of these marks the test `cluster` (tests/conftest.py), so the quick loop leaves it out.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from ops.local.native import LocalEnv
from ops.local.throwaway import make_state_root, throwaway_env
from stacks.config import LocalConfig

OwnEnv = Callable[..., AbstractContextManager[LocalEnv]]


@pytest.fixture(name="state_root")
def _state_root() -> Iterator[Path]:
    """A private directory (the postgres user can reach it) for an environment of the test's own;
    the test stops what it starts there, the directory is deleted afterwards."""
    root = make_state_root("pgstack-own-")
    yield root
    # rm, not shutil.rmtree: files the postgres user left behind read-only are removed all the same.
    subprocess.run(["rm", "-rf", str(root)], check=False)


@pytest.fixture(name="own_env", scope="session")
def _own_env() -> OwnEnv:
    """`own_env(prefix, config=None)`: a started environment of the test's own in a temp dir, as a
    context manager that stops and deletes it (ops.local.throwaway.throwaway_env)."""

    def start(prefix: str, config: LocalConfig | None = None) -> AbstractContextManager[LocalEnv]:
        return throwaway_env(prefix, config)

    return start
