"""The records snapshot tasks keep while they run: which process paused which PgBouncer pool, and
which processes are working on the snapshots at all. PgBouncer keeps a pause after the client that
asked for it is gone, and a task killed with SIGKILL leaves its half-done work in the cluster; these
records are how `env.status` tells work in progress from work whose process is dead, and how
`env.up` knows what it may undo (and that it need not look when no record is left).

Small JSON files in the environment's run/ directory: `paused-<db>` written before the PAUSE and
removed after the RESUME; `task-<pid>` for as long as a task (or its background job) runs.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ops.local.processes import pid_alive, started_ticks


@dataclass(frozen=True)
class TaskRecord:
    """A process (pid and start time: pids are reused) doing `doing`; for a pause, of `database`'s pool."""

    database: str
    pid: int
    started: int | None
    doing: str
    since: str

    def alive(self) -> bool:
        """True while the process that paused the pool still runs."""
        return pid_alive(self.pid) and (self.started is None or started_ticks(self.pid) == self.started)

    def who(self) -> str:
        return f"{self.doing} (pid {self.pid}, since {self.since})"


@dataclass(frozen=True)
class TaskLedger:
    """The records of one environment, in `directory` (its run/ directory)."""

    directory: Path

    def _path(self, key: str) -> Path:
        return self.directory / f"pgstack-{key}.json"

    def record(self, database: str, doing: str) -> None:
        """Say this process is about to pause `database`'s pool for `doing`."""
        self._write(f"paused-{database}", database, doing)

    def clear(self, database: str) -> None:
        """The pool is resumed: forget the record."""
        self._path(f"paused-{database}").unlink(missing_ok=True)

    def read(self, database: str) -> TaskRecord | None:
        """The pause record for `database`, or None (none, or unreadable: treated as no record)."""
        return self._read(self._path(f"paused-{database}"))

    def task_started(self, database: str, doing: str) -> None:
        """Say this process works on `database`'s snapshots (`doing`) until `task_ended`."""
        self._write(f"task-{os.getpid()}", database, doing)

    def task_ended(self, pid: int | None = None) -> None:
        """Forget the task record of `pid` (default: this process)."""
        self._path(f"task-{pid or os.getpid()}").unlink(missing_ok=True)

    def tasks(self) -> list[TaskRecord]:
        """Every task record: those of running tasks and those a killed one left."""
        found = [self._read(path) for path in sorted(self.directory.glob("pgstack-task-*.json"))]
        return [record for record in found if record is not None]

    def _write(self, key: str, database: str, doing: str) -> None:
        pid = os.getpid()
        since = datetime.now(UTC).isoformat(timespec="seconds")
        record = {
            "database": database,
            "pid": pid,
            "started": started_ticks(pid),
            "doing": doing,
            "since": since,
        }
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp")
        partial.write_text(json.dumps(record) + "\n")
        partial.replace(path)  # never a half-written record for a reader to trip on

    def _read(self, path: Path) -> TaskRecord | None:
        try:
            data = json.loads(path.read_text())
            return TaskRecord(
                database=str(data["database"]),
                pid=int(data["pid"]),
                started=int(data["started"]) if data.get("started") is not None else None,
                doing=str(data.get("doing", "a snapshot operation")),
                since=str(data.get("since", "?")),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None
