"""The Docker runtime of the local environment: the `local` Pulumi stack (stacks/local.py).

Chosen by `invoke up --runtime docker`, or by `auto` when both the Pulumi CLI and a Docker engine
answer; otherwise the native runtime (ops/local/native.py) runs the same Pulumi.local.yaml.
Down destroys the stack's containers and keeps its volume (the stack retains it on delete); reset
also removes the volume.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.dberrors import error_line
from app.urls import to_psycopg_url
from ops.cloud import pulumi_cli
from ops.errors import UserError
from ops.local.status import EnvStatus, ProcessStatus
from stacks.config import LocalConfig

if TYPE_CHECKING:
    import psycopg

    from ops.migrate.target import DatabaseTarget

Progress = Callable[[str], None]
LOCAL_STACK = "local"
DOCKER_TIMEOUT_S = 10


def docker_engine_answers(timeout: float = DOCKER_TIMEOUT_S) -> bool:
    """True when the docker CLI is installed and its engine answers `docker info`."""
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        result = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def docker_runtime_available(pulumi: str | None) -> bool:
    """Both the Pulumi CLI (`pulumi`: $PULUMI_CLI, None: looked for) and a Docker engine answer:
    `--runtime auto` may pick docker."""
    return pulumi_cli.cli_answers(pulumi) and docker_engine_answers()


@dataclass(frozen=True)
class DockerUrls:
    """The Docker runtime's URLs (passwords included: mask before printing)."""

    direct_url: str  # the owner
    pooled_url: str  # the runtime role
    admin_url: str  # the superuser


def docker_urls(pulumi: str | None) -> DockerUrls:
    """The local stack's URLs, from its outputs (its passwords are its own)."""
    outputs = pulumi_cli.stack_outputs(LOCAL_STACK, pulumi=pulumi)
    try:
        return DockerUrls(str(outputs["directUrl"]), str(outputs["pooledUrl"]), str(outputs["adminUrl"]))
    except KeyError:
        raise UserError(
            "the local stack has no URL outputs: run `invoke infra.up --stack local` again"
        ) from None


def up_docker(progress: Progress, pulumi: str | None) -> None:
    """`pulumi up --stack local --yes`: Postgres and PgBouncer containers on 127.0.0.1."""
    if not docker_engine_answers():
        raise UserError("no Docker engine answers `docker info`: start Docker, or use --runtime native")
    progress("docker: pulumi up --stack local (Postgres + PgBouncer containers)")
    pulumi_cli.run_stack("up", LOCAL_STACK, pulumi=pulumi, yes=True)
    progress("docker: up; the password is `pulumi stack output directUrl --show-secrets -s local`")


def ensure_roles_at(config: LocalConfig, urls: DockerUrls, progress: Progress) -> None:
    """The two roles, the database, the schema and the runtime role's privileges, through the
    stack's URLs (the same code as the native runtime's, ops/local/roles.py)."""
    import psycopg

    from app.urls import libpq_dsn
    from ops.local.roles import ensure_roles, ensure_schema
    from ops.migrate.grants import grant_runtime
    from ops.migrate.target import LOCAL, DatabaseTarget

    direct, pooled = to_psycopg_url(urls.direct_url), to_psycopg_url(urls.pooled_url)
    try:
        with psycopg.connect(libpq_dsn(urls.admin_url), autocommit=True, connect_timeout=10) as admin:
            ensure_roles(admin, config, direct.password or "", pooled.password or "", progress)
        with psycopg.connect(libpq_dsn(direct), autocommit=True, connect_timeout=10) as owner:
            ensure_schema(owner, config)
    except psycopg.OperationalError as exc:
        raise UserError(
            f"cannot reach the local stack's Postgres ({error_line(exc)}): "
            "see `invoke env.status --runtime docker`"
        ) from None
    target = DatabaseTarget.from_urls(LOCAL, direct, pooled, config.schema, runtime_role=config.roles.runtime)
    for action in grant_runtime(target).actions:
        progress(f"postgres: {action}")


def _docker(*args: str) -> subprocess.CompletedProcess[str]:
    docker = shutil.which("docker")
    if docker is None:
        raise UserError("the docker CLI is not installed: install Docker, or use --runtime native")
    return subprocess.run([docker, *args], capture_output=True, text=True, timeout=60, check=False)


class DockerRuntime:
    """The local environment as containers of the `local` Pulumi stack (stacks/local.py)."""

    name = "docker"
    reads_pools = False  # the container's admin console user is the stack's own, not the tasks'
    task_ledger = None  # no snapshots on this runtime (see `admin_url`)

    def __init__(self, config: LocalConfig, pulumi: str | None) -> None:
        self.config = config
        self.pulumi = pulumi  # $PULUMI_CLI as the edge read it (None: looked for on PATH)

    def up(self, progress: Progress) -> DatabaseTarget:
        """`pulumi up` the local stack, then the roles as the native runtime keeps them: the
        container's init script makes them on a new volume only, and a volume from before the
        runtime role needs it added."""
        up_docker(progress, self.pulumi)
        urls = docker_urls(self.pulumi)
        ensure_roles_at(self.config, urls, progress)
        return self.target(urls)

    def start(self, progress: Progress) -> tuple[str, str | None]:
        """`up`; the stack's URLs as text (see Runtime.start)."""
        target = self.up(progress)
        pooled = target.pooled_url.render_as_string(hide_password=False) if target.pooled_url else None
        return target.direct_url.render_as_string(hide_password=False), pooled

    def target(self, urls: DockerUrls | None = None) -> DatabaseTarget:
        """The stack's database (its own passwords, from its outputs)."""
        from ops.migrate.target import LOCAL, DatabaseTarget

        urls = urls or docker_urls(self.pulumi)
        return DatabaseTarget.from_urls(
            LOCAL,
            urls.direct_url,
            urls.pooled_url,
            self.config.schema,
            runtime_role=self.config.roles.runtime,
        )

    def down(self, progress: Progress) -> None:
        """Destroy the stack's containers; its volume is retained on delete, so the data stays."""
        progress("docker: pulumi destroy --stack local (the pgdata volume is kept)")
        pulumi_cli.run_stack("destroy", LOCAL_STACK, pulumi=self.pulumi, yes=True)

    def reset(self, progress: Progress) -> None:
        """Destroy the stack, then remove its retained volume: every database in it is gone."""
        self.down(progress)
        volume = f"{self.config.container_prefix}-pgdata"
        result = _docker("volume", "rm", "--force", volume)
        if result.returncode != 0:
            raise UserError(f"docker volume rm {volume} failed: {result.stderr.strip()[:200]}")
        progress(f"docker: removed volume {volume}")

    def status(self) -> EnvStatus:
        """Each container's state as `docker inspect` reports it."""
        processes = []
        for name, port in (
            ("postgres", self.config.postgres_port),
            ("pgbouncer", self.config.pgbouncer_port),
        ):
            inspect = _docker(
                "inspect",
                "--format",
                "{{.State.Running}} {{.State.Pid}}",
                f"{self.config.container_prefix}-{name}",
            )
            running, _, pid = inspect.stdout.strip().partition(" ")
            up = inspect.returncode == 0 and running == "true"
            processes.append(ProcessStatus(name, up, int(pid) if up and pid.isdigit() else None, port))
        return EnvStatus(None, True, processes[0], processes[1], runtime=self.name)

    def pools(self) -> list[dict[str, Any]] | None:
        """Not read (see `reads_pools`)."""
        return None

    def admin_url(self, database: str | None = None) -> str:
        """None to give: the stack's superuser password is its own (not an output)."""
        raise UserError(
            "snapshots need the native runtime (the Docker stack's superuser is not ours to use): "
            "unset PGSTACK_RUNTIME=docker, or use pg_dump against the container"
        )

    def bouncer_console(self) -> psycopg.Connection | None:
        """Not reachable (see `reads_pools`)."""
        return None

    def log_files(self) -> dict[str, Path]:
        """None: the containers log to Docker, not to files of ours."""
        prefix = self.config.container_prefix
        raise UserError(
            f"the Docker runtime's logs are the containers': run `docker logs --follow {prefix}-postgres` "
            f"(or {prefix}-pgbouncer)"
        )
