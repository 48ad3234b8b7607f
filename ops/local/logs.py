"""`env.logs`: the last lines of the local services' log files, and following them as they grow
(several files interleaved, each line prefixed by its service; a truncated or replaced file is
read again from its start, as `tail -F` does)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ops.errors import UserError

Write = Callable[[str], None]
POLL_S = 0.2  # how often a followed file is looked at: a log line shows up within this delay


def last_lines(path: Path, count: int) -> list[str]:
    """The last `count` lines of `path` (all of them when shorter; [] when it does not exist).

    Reads backwards in blocks, so a large log costs what its last lines cost.
    """
    if count <= 0:
        return []
    try:
        with path.open("rb") as handle:
            position = handle.seek(0, os.SEEK_END)
            chunk = b""
            while position > 0 and chunk.count(b"\n") <= count:
                step = min(64 * 1024, position)
                position -= step
                handle.seek(position)
                chunk = handle.read(step) + chunk
    except FileNotFoundError:
        return []
    lines = chunk.decode(errors="replace").splitlines()
    return lines[-count:]


@dataclass
class _Followed:
    service: str
    path: Path
    offset: int = 0
    inode: int | None = None
    pending: str = ""  # a line being written: printed once its newline arrives


def _check_services(files: Mapping[str, Path], services: list[str]) -> None:
    unknown = [name for name in services if name not in files]
    if unknown:
        raise UserError(
            f"no service {unknown[0]!r}: pick one of {', '.join(files)} (or leave --service out for all)"
        )


def show(files: Mapping[str, Path], services: list[str], lines: int, write: Write) -> None:
    """Print the last `lines` lines of each chosen service's log, prefixed when there are several."""
    _check_services(files, services)
    chosen = services or list(files)
    missing = [name for name in chosen if not files[name].exists()]
    if len(missing) == len(chosen):
        raise UserError(
            f"no log yet in {files[chosen[0]].parent}: the services never ran here (`invoke env.up`)"
        )
    for name in chosen:
        prefix = f"[{name}] " if len(chosen) > 1 else ""
        for line in last_lines(files[name], lines):
            write(prefix + line)


def follow(
    files: Mapping[str, Path],
    services: list[str],
    write: Write,
    *,
    stop: Callable[[], bool] = lambda: False,
    poll_s: float = POLL_S,
) -> None:
    """Print each new line of the chosen logs as it is written, until `stop()` (or Ctrl-C).

    Starts at each file's current end (`show` prints what came before).
    """
    _check_services(files, services)
    chosen = services or list(files)
    followed = [_Followed(name, files[name]) for name in chosen]
    for item in followed:
        try:
            stat = item.path.stat()
            item.offset, item.inode = stat.st_size, stat.st_ino
        except FileNotFoundError:
            pass  # not written yet: followed from its start once it appears
    prefixed = len(followed) > 1
    while not stop():
        for item in followed:
            for line in _new_lines(item):
                write(f"[{item.service}] {line}" if prefixed else line)
        time.sleep(poll_s)


def _new_lines(item: _Followed) -> list[str]:
    try:
        stat = item.path.stat()
    except FileNotFoundError:
        return []
    if stat.st_ino != item.inode or stat.st_size < item.offset:
        # Replaced (rotated) or truncated: what is there now is all new.
        item.inode, item.offset, item.pending = stat.st_ino, 0, ""
    if stat.st_size == item.offset:
        return []
    with item.path.open("rb") as handle:
        handle.seek(item.offset)
        data = handle.read(stat.st_size - item.offset)
    item.offset += len(data)
    text = item.pending + data.decode(errors="replace")
    *complete, item.pending = text.split("\n")
    return complete
