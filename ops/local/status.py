"""What `env.status` shows of a local environment, whichever runtime runs it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ProcessStatus:
    """One process of the environment as `env.status` shows it."""

    name: str
    running: bool
    pid: int | None
    port: int
    version: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EnvStatus:
    """The whole environment: initialised or not, and each process."""

    state_dir: Path | None  # None for the Docker runtime: its data is a Docker volume
    initialised: bool
    postgres: ProcessStatus
    pgbouncer: ProcessStatus
    pools: list[dict[str, Any]] = field(default_factory=list)
    runtime: str = "native"
    # What a killed task left (a paused pool, a half-made copy): `env.up` undoes each. One line each.
    leftovers: list[str] = field(default_factory=list)
    # Operations running now that hold something up (a snapshot's pause). One line each.
    in_progress: list[str] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return self.postgres.running and self.pgbouncer.running

    @property
    def serving(self) -> bool:
        """Running, and no pool paused: the app's queries are answered."""
        return self.running and not any(int(pool.get("paused") or 0) for pool in self.pools)
