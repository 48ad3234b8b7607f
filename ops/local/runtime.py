"""The local environment's runtime, chosen once at the task edge: native processes or the Docker
stack, both behind one interface (up, down, reset, status, target, logs, the superuser and PgBouncer's
console for snapshots) and reading one stack file.
A runtime that cannot do something (Docker: its log files, its superuser) says so in one line."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ops.errors import UserError
from ops.local.status import EnvStatus
from stacks.stackfile import REPO_ROOT

if TYPE_CHECKING:
    import psycopg

    from ops.local.snapshots.ledger import TaskLedger
    from ops.migrate.target import DatabaseTarget
    from stacks.config import LocalConfig

Progress = Callable[[str], None]
RUNTIMES = ("auto", "native", "docker")
RUNTIME_VARIABLE = "PGSTACK_RUNTIME"  # which runtime tasks talk to when --runtime is not given
PULUMI_VARIABLE = "PULUMI_CLI"  # the Pulumi CLI to run (the Docker runtime's), else the one on PATH


class Runtime(Protocol):
    """What the tasks, the migrator and the smoke checks need of a local environment."""

    name: str
    config: LocalConfig  # the stack file it runs
    reads_pools: bool  # whether `pools()` can reach PgBouncer's admin console at all

    @property
    def task_ledger(self) -> TaskLedger | None:
        """Where snapshot tasks record that they run and the pause they hold (None: no snapshots)."""

    def up(self, progress: Progress) -> DatabaseTarget:
        """Start Postgres and PgBouncer (creating what is missing); the database they serve."""

    def start(self, progress: Progress) -> tuple[str, str | None]:
        """`up`, handing back the direct and pooled URLs as text (passwords in them) instead of a
        parsed target: `env.up` prints them, and a warm one need not load SQLAlchemy to parse them."""

    def down(self, progress: Progress) -> None:
        """Stop both; the data stays for the next `up`."""

    def reset(self, progress: Progress) -> None:
        """Stop both and delete the data."""

    def status(self) -> EnvStatus:
        """Each process: running or not, pid, port, version; PgBouncer's pools where readable."""

    def target(self) -> DatabaseTarget:
        """The database of a started environment (UserError when it never was)."""

    def pools(self) -> list[dict[str, Any]] | None:
        """PgBouncer's SHOW POOLS rows, or None when PgBouncer is not running."""

    def log_files(self) -> dict[str, Path]:
        """Each service's log file (`postgres`, `pgbouncer`), for `env.logs`."""

    def admin_url(self, database: str | None = None) -> str:
        """The superuser, straight to Postgres (snapshots create and drop databases). Has the password."""

    def bouncer_console(self) -> psycopg.Connection | None:
        """PgBouncer's admin console (PAUSE, RESUME, KILL around a snapshot), None when not running."""


def resolve(requested: str, pulumi: str | None = None) -> str:
    """`native` or `docker`; `auto` picks docker only when the Pulumi CLI (`pulumi`: $PULUMI_CLI,
    None: looked for) and a Docker engine answer."""
    if requested not in RUNTIMES:
        raise UserError(f"--runtime must be one of {', '.join(RUNTIMES)} (got {requested!r})")
    if requested != "auto":
        return requested
    from ops.local.docker import docker_runtime_available

    return "docker" if docker_runtime_available(pulumi) else "native"


def runtime_from_environ(requested: str | None, environ: Mapping[str, str]) -> Runtime:
    """The runtime the tasks work on; read at the edge, once.

    `requested` is a task's --runtime (None: PGSTACK_RUNTIME, default native, so `env.down` never
    probes Docker). PGSTACK_STACK_FILE and PGSTACK_STATE_DIR move the stack file and the state dir.
    """
    from stacks.config import load_local_config

    pulumi = environ.get(PULUMI_VARIABLE) or None
    chosen = resolve(requested or environ.get(RUNTIME_VARIABLE) or "native", pulumi)
    stack_file = environ.get("PGSTACK_STACK_FILE")
    config = load_local_config(path=Path(stack_file) if stack_file else None)
    if chosen == "docker":
        from ops.local.docker import DockerRuntime

        return DockerRuntime(config, pulumi)
    from ops.local.native import LocalEnv

    return LocalEnv(config, Path(environ.get("PGSTACK_STATE_DIR") or REPO_ROOT / ".local"))
