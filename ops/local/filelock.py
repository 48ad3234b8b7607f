"""One lock file held while a cache entry is checked or built, so that processes side by side
(test processes, two runs of a task) wait for one builder instead of building the same thing."""

from __future__ import annotations

import contextlib
import fcntl
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
