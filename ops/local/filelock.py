"""One lock file held while a cache entry is checked or built, so that processes side by side
(test processes, two runs of a task) wait for one builder instead of building the same thing."""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import time
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def held(path: Path, *, wait: bool = True) -> Iterator[None]:
    """`path` (created, with its directory, if missing) flock'ed for the block: another holder is
    waited for as long as it takes, or (`wait=False`) BlockingIOError is raised at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def lock_of(entry: Path) -> Path:
    """The lock file of a cache entry: beside it, `<name>.lock`."""
    return entry.with_name(f"{entry.name}.lock")


def forget_stale(entries: Path, marker: str, stale_s: float) -> None:
    """Delete each cache entry (a directory) under `entries` whose `marker` file nobody touched for
    `stale_s`, under the entry's lock, taken only if free: one in use (being built, or being marked
    used under that lock) is left for a later run. One without its marker (cut short, and rebuilt
    when its lock comes back) is left too.

    The lock files stay (empty): deleting one while another process waits on it would let a third
    lock a new file of the same name and build the same entry beside the second."""
    for entry in entries.iterdir():
        with contextlib.suppress(OSError):  # a marker gone, or a lock taken: left
            if entry.is_dir() and _stale(entry / marker, stale_s):
                with held(lock_of(entry), wait=False):
                    if _stale(entry / marker, stale_s):  # not marked used meanwhile
                        shutil.rmtree(entry, ignore_errors=True)


def _stale(marker: Path, stale_s: float) -> bool:
    return time.time() - marker.stat().st_mtime > stale_s
