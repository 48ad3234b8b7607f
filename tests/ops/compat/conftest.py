"""The compat tests' scratch directory: their repositories (a copy of this tree, ~1,000 files) and the
worktrees db.compat checks out of them live where the tests' clusters do (in memory where the
machine has room: tests/fix_cluster.py). On this machine's disk each file made or deleted costs
~0.5 ms of CPU: a copy and a worktree ~1 s of CPU and seconds of wall, nothing a test checks."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(name="scratch_dir", scope="module")
def _scratch_dir(cluster_dir: Path | None) -> Iterator[Path]:
    """A directory of the module's own, deleted afterwards."""
    path = Path(tempfile.mkdtemp(prefix="pgstack-compat-tests-", dir=cluster_dir))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
