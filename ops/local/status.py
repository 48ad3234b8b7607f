"""What `env.status` shows of a local environment, whichever runtime runs it."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ops.local.native import LocalEnv


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


def native_status(env: LocalEnv) -> EnvStatus:
    """What runs now in a native environment: pid, port, version, PgBouncer's pools, and what
    killed snapshot tasks left."""
    initialised = env.state.is_ours() and (env.pgdata / "PG_VERSION").exists()
    postgres, bouncer = env.postgres, env.bouncer
    pg_pid = postgres.pid() if initialised else None
    pg_version = postgres.version() if pg_pid is not None else None
    bouncer_pid = bouncer.pid() if initialised else None
    bouncer_version: str | None = None
    pools: list[dict[str, Any]] = []
    leftovers: list[str] = []
    in_progress: list[str] = []
    if bouncer_pid is not None:
        import psycopg

        with contextlib.suppress(psycopg.Error):
            bouncer_version, pools = bouncer.admin_info()
    if pg_version is not None:
        import psycopg

        with contextlib.suppress(psycopg.Error):
            found, in_progress = env.leftovers().find()
            leftovers = [leftover.what for leftover in found]
    cfg = env.config
    return EnvStatus(
        state_dir=env.state_dir,
        initialised=initialised,
        postgres=ProcessStatus("postgres", pg_version is not None, pg_pid, cfg.postgres_port, pg_version),
        pgbouncer=ProcessStatus(
            "pgbouncer", bouncer_version is not None, bouncer_pid, cfg.pgbouncer_port, bouncer_version
        ),
        pools=pools,
        leftovers=leftovers,
        in_progress=in_progress,
    )
