"""Fixtures for tests whose subject is a cluster: they start, stop, kill or reconfigure a Postgres +
PgBouncer of their own, never the session's (tests/fix_db.py).

Taking one of these marks the test `cluster` (tests/conftest.py), so the quick loop leaves it out.

Their clusters are copies of one pristine cluster (ops/local/pristine.py): initdb runs once per test
run, in a directory the run's first process makes and its test processes (xdist workers) share,
not once per environment. A test whose subject is initdb starts its `LocalEnv` without `pristine`.

They live in memory when the machine has a memory file system with room (`cluster_parent`): they
are deleted when the test ends, so their writes never need to reach a disk.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from ops.local.binaries import find_binaries
from ops.local.native import LocalEnv
from ops.local.pristine import pristine_cluster
from ops.local.throwaway import make_state_root, throwaway_env
from stacks.config import LocalConfig, load_local_config
from tests.support.leftovers import remove, sweep_leftovers

OwnEnv = Callable[..., AbstractContextManager[LocalEnv]]
# Where the run's pristine clusters are: set by the first process (the xdist controller, or the one
# process without xdist) before it starts any worker, so every worker inherits it.
PRISTINE_VARIABLE = "PGSTACK_TEST_PRISTINE"
# Where the tests' own clusters go instead (a directory; empty: the system's temp dir).
CLUSTER_DIR_VARIABLE = "PGSTACK_TEST_CLUSTER_DIR"
MEMORY_DIR = Path("/dev/shm")  # noqa: S108 - only mkdtemp makes directories there
MEMORY_NEEDED = 2 * 1024**3  # a few dozen clusters of ~50 MB at once, and room to spare


def cluster_parent() -> Path | None:
    """Where the tests' own clusters (and the pristine ones) are made: a memory file system when
    the machine has one with room, else the system's temp dir (None).

    Their files are deleted when the test ends, and nothing a test checks depends on where they
    are; on a disk, each CREATE DATABASE, checkpoint and shutdown of theirs waits for writes nobody
    reads back (on a busy disk, seconds a test: tests/ops/local/test_snapshots.py ran 84 s against
    20 s). `initdb --sync-only` and the sync tests still run, as on any disk.
    """
    if CLUSTER_DIR_VARIABLE in os.environ:
        return Path(os.environ[CLUSTER_DIR_VARIABLE]) if os.environ[CLUSTER_DIR_VARIABLE] else None
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
        room = os.statvfs(MEMORY_DIR)
    except OSError:
        return None
    in_memory = any(line.split()[1:3] == [str(MEMORY_DIR), "tmpfs"] for line in mounts)
    enough = room.f_bavail * room.f_frsize >= MEMORY_NEEDED and os.access(MEMORY_DIR, os.W_OK)
    return MEMORY_DIR if in_memory and enough else None


def pytest_configure(config: pytest.Config) -> None:
    """The run's pristine cache, made by the process that starts the others (deleted at its end)."""
    if hasattr(config, "workerinput") or PRISTINE_VARIABLE in os.environ:
        return  # a worker (it inherited the variable), or a pytest inside a test of this run
    parent = cluster_parent()
    if parent is not None:
        sweep_leftovers(parent)  # in memory, a killed run's directories would hold it for good
    root = make_state_root("pgstack-pristine-", parent)
    os.environ[PRISTINE_VARIABLE] = str(root)
    config.stash[_MADE] = root
    if config.getoption("markexpr", "") != "quick" and not config.getoption("collectonly", False):
        config.stash[_MAKING] = _make_in_background(root)


def _make_in_background(root: Path) -> threading.Thread:
    """Start making the pristine cluster in a thread, while the test processes start and collect
    (2-4 s): their first cluster then waits less, or not at all, for initdb. Whoever asks first
    makes it (ops/local/pristine.py holds a lock); a failure is left to the test that needs it."""

    def make() -> None:
        with contextlib.suppress(Exception):
            pristine_cluster(root, find_binaries(load_local_config().postgres_version))

    thread = threading.Thread(target=make, name="pgstack-pristine", daemon=True)
    thread.start()
    return thread


def pytest_unconfigure(config: pytest.Config) -> None:
    making = config.stash.get(_MAKING, None)
    if making is not None:
        making.join()  # its initdb writes under the root deleted next
    root = config.stash.get(_MADE, None)
    if root is not None:
        remove(root)
        os.environ.pop(PRISTINE_VARIABLE, None)


_MADE = pytest.StashKey[Path]()
_MAKING = pytest.StashKey[threading.Thread]()


@pytest.fixture(name="pristine", scope="session")
def _pristine() -> Path:
    """The run's cache of pristine clusters (ops/local/pristine.py): `LocalEnv(..., pristine=)`."""
    return Path(os.environ[PRISTINE_VARIABLE])


@pytest.fixture(name="cluster_dir", scope="session")
def _cluster_dir() -> Path | None:
    """Where the tests' clusters are made (`cluster_parent`; None: the system's temp dir), for the
    session's cluster (tests/fix_db.py, which cannot import this plugin before pytest loads it)."""
    return cluster_parent()


@pytest.fixture(name="state_root")
def _state_root() -> Iterator[Path]:
    """A private directory (the postgres user can reach it) for an environment of the test's own;
    the test stops what it starts there, the directory is deleted afterwards."""
    root = make_state_root("pgstack-own-", cluster_parent())
    yield root
    remove(root)


@pytest.fixture(name="own_env", scope="session")
def _own_env(pristine: Path) -> OwnEnv:
    """`own_env(prefix, config=None)`: a started environment of the test's own in a temp dir, a copy
    of the run's pristine cluster, as a context manager that stops and deletes it
    (ops.local.throwaway.throwaway_env). Not durable: `up` does not wait for its files to reach the
    disk (tests/ops/local/test_sync.py, whose subject that is, starts its own `LocalEnv`)."""

    def start(prefix: str, config: LocalConfig | None = None) -> AbstractContextManager[LocalEnv]:
        return throwaway_env(prefix, config, pristine, durable=False, parent=cluster_parent())

    return start
