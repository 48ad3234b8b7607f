"""The harness: the fixture plugins, the markers they imply, the order tests run in, and SIGTERM
handled like Ctrl-C.

Fixtures live in the tests/fix_*.py plugins (the databases, the clusters of a test's own); the
helpers are in tests.support. Each test is marked by what its fixtures start (see `COST_MARKERS`),
so `pytest -m quick` (`./dev test --quick`) runs the tests that need no database. The files run
heaviest first (tests.support.schedule): `./dev test` hands each test process whole files, in that
order, so the long ones start at once and the run ends on short ones.
"""

from __future__ import annotations

import gc
import signal
from collections.abc import Iterator
from types import FrameType

import pytest

from tests.support.interrupts import deliverable_sigint
from tests.support.isolation import revision_left_behind
from tests.support.schedule import file_seconds, heaviest_files_first

pytest_plugins = ("tests.fix_db", "tests.fix_cluster")
_FREEZE = gc.freeze

# What a test costs, read from the fixtures it uses (its whole closure): a test that takes
# `database` uses `local_env` too. A fixture that starts something new adds its name here.
COST_MARKERS = {
    # The session's Postgres + PgBouncer (one per test process).
    "db": frozenset({"local_env"}),
    # A Postgres + PgBouncer of the test's own (started, stopped, killed by the test), or the
    # rehearsal's Cloud SQL stand-in (a cluster too).
    "cluster": frozenset({"state_root", "own_env", "scratch_env", "stand_in"}),
    # No session database, but seconds of work: the image's virtualenv; db.compat's repository
    # (a past commit's virtualenv and the task's own database); the deploy's staged checkout;
    # Python processes started in the test's body (`subprocesses`: an interpreter's start-up is
    # seconds under load, so they stay out of `-m quick`).
    "slow": frozenset({"image_python", "repo", "stage", "subprocesses"}),
}


@pytest.fixture
def subprocesses() -> None:
    """Taken by a test that starts Python processes itself (a task, a fresh interpreter, a docs
    build): it provides nothing, it only marks the test `slow` (see `COST_MARKERS`)."""


_SESSION_ENV_FILES = pytest.StashKey[set[str]]()


@pytest.fixture(autouse=True, scope="module")
def _session_env_left_as_found(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test file whose tests used the session environment, its own database must still be
    unmigrated or at the shipped head; else this file's teardown fails, naming it (not the later
    file of the same test process whose migration the leftover revision breaks)."""
    if request.node.nodeid not in request.config.stash.get(_SESSION_ENV_FILES, set()):
        yield
        return
    from ops.migrate.revisions import head_revision  # Alembic: only where the session env is used

    env = request.getfixturevalue("local_env")
    head = head_revision()  # read before the file's tests (they may add revisions of their own)
    yield
    problem = revision_left_behind(env.direct_url(), env.config.schema, head)
    if problem is not None:
        # Reported once, by the file that did it; the files after it would only repeat it.
        request.config.stash[_SESSION_ENV_FILES] = set()
        pytest.fail(f"{request.node.nodeid} {problem}", pytrace=False)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # pytest then tears every fixture down, as on Ctrl-C


def pytest_configure(config: pytest.Config) -> None:
    """SIGTERM (a cancelled CI job, `kill`) stops the run like Ctrl-C: every environment is stopped.

    Installed for the whole run, not by one fixture: a test's own environment started before the
    session one (or without it) must be torn down too.
    """
    signal.signal(signal.SIGTERM, _interrupt)
    deliverable_sigint()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test `db`, `cluster` or `slow` by its fixtures, and `quick` when it is none of them;
    note the files whose tests use the session environment; then order the files heaviest first."""
    config.stash[_SESSION_ENV_FILES] = set()
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if "local_env" in used:
            config.stash[_SESSION_ENV_FILES].add(item.nodeid.split("::")[0])
        costs = [marker for marker, fixtures in COST_MARKERS.items() if used & fixtures]
        for marker in costs or ["quick"]:
            item.add_marker(marker)
    items[:] = heaviest_files_first(items, file_seconds())


def pytest_collection_finish(session: pytest.Session) -> None:
    """Freeze what collection loaded (every test module and what it imports: SQLAlchemy, FastAPI,
    Pulumi's SDK, a few hundred thousand objects alive until the process ends), so that the
    collector's full passes during the run walk only what the tests make (~0.1 s of CPU each,
    several per test process). Nothing a test opens exists yet: nothing is frozen that must be
    collected, or warned about when left unclosed.

    Then nothing else may freeze in this process: a planning task called here (in process, or its
    function directly) ends with gc.freeze() (ops.plan.planner.one_shot_gc, for a process about to
    exit), which would freeze the test's fixtures, connections and child processes for good."""
    gc.freeze()
    gc.freeze = _no_more_freezing


def _no_more_freezing() -> None:
    """gc.freeze in a test process once collection is frozen (see pytest_collection_finish)."""


def pytest_unconfigure(config: pytest.Config) -> None:
    gc.freeze = _FREEZE
