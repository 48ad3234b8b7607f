"""What killed test runs leave in the memory file system (tests/fix_cluster.py's cluster_parent):
a run ended by SIGKILL, or a task a test killed at its timeout, deletes nothing of its clusters,
repositories and worktrees, and under /dev/shm they hold memory, not disk, until deleted. The run's
first process sweeps them (pytest_configure): a `pgstack-*` directory nobody touched for
LEFTOVER_AGE_S, under which no Postgres is running."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

# Far longer than any run (a whole suite takes minutes): a directory of a run still going, on this
# checkout or another, is never that old.
LEFTOVER_AGE_S = 6 * 3600


def sweep_leftovers(parent: Path, now: float | None = None) -> list[Path]:
    """Delete the leftovers under `parent` (see the module); the deleted, by path."""
    now = time.time() if now is None else now
    gone = []
    for entry in sorted(parent.glob("pgstack-*")):
        try:
            old = entry.is_dir() and not entry.is_symlink() and now - entry.stat().st_mtime > LEFTOVER_AGE_S
        except OSError:
            continue
        if old and not _serving(entry):
            remove(entry)
            gone.append(entry)
    return gone


def remove(path: Path) -> None:
    """Delete a directory the tests made for clusters, whatever is left in it."""
    # rm, not shutil.rmtree: files the postgres user left read-only are removed all the same.
    subprocess.run(["rm", "-rf", str(path)], check=False)


def _serving(root: Path) -> bool:
    """Whether a Postgres whose data directory is under `root` is still running."""
    for pid_file in root.rglob("postmaster.pid"):
        try:
            pid = int(pid_file.read_text().split()[0])
            os.kill(pid, 0)
        except PermissionError:
            return True  # a process of another user: it exists
        except (OSError, ValueError, IndexError):
            continue  # gone, or not a pid file Postgres wrote
        return True
    return False
