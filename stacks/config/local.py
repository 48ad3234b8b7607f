"""The local stack: the environment the native runtime and the Docker stack share, and the Docker
runtime's container limits."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stacks.config.access import DbRoles, PoolerConfig, read_pooler, read_roles
from stacks.config.keys import Key
from stacks.config.reader import CPUS, IMAGE, ConfigSource, Reader
from stacks.stackfile import PROJECT, REPO_ROOT, read_stack


@dataclass(frozen=True)
class LocalConfig:
    """The local environment, shared by the native runtime and the Docker stack."""

    stack: str
    source: str
    postgres_version: int
    postgres_port: int
    pgbouncer_port: int
    database: str
    roles: DbRoles
    schema: str
    max_connections: int
    pooler: PoolerConfig
    seed: bool = False  # load migrations/seed.sql after migrating (`invoke up`, `db.reset`)

    @property
    def container_prefix(self) -> str:
        """The Docker runtime's name prefix for its network, volume and containers."""
        return f"pgstack-{self.stack}"


def local_config(values: ConfigSource) -> LocalConfig:
    """Validate a local stack's values; raises ConfigError naming the first bad key."""
    read = Reader(values)
    read.refuse_renamed()
    if read.raw(Key.ENVIRONMENT) != "local":
        raise read.fail(Key.ENVIRONMENT, "must be `local` for the local runtime")
    config = LocalConfig(
        stack=values.stack,
        source=values.source,
        postgres_version=read.integer(Key.POSTGRES_VERSION, 12, 99),
        postgres_port=read.port(Key.POSTGRES_PORT),
        pgbouncer_port=read.port(Key.PGBOUNCER_PORT),
        database=read.identifier(Key.DATABASE),
        roles=read_roles(read),
        schema=read.identifier(Key.DB_SCHEMA),
        max_connections=read.integer(Key.MAX_CONNECTIONS, 5, 10000),
        pooler=read_pooler(read),
        seed=read.boolean(Key.SEED),
    )
    if config.postgres_port == config.pgbouncer_port:
        raise read.fail(Key.PGBOUNCER_PORT, f"must differ from {PROJECT}:{Key.POSTGRES_PORT}")
    if config.pooler.default_pool_size + config.pooler.reserve_pool_size >= config.max_connections:
        raise read.fail(
            Key.DEFAULT_POOL_SIZE,
            f"+ {Key.RESERVE_POOL_SIZE} must stay below {Key.MAX_CONNECTIONS} ({config.max_connections}) "
            "so migrations and admin sessions can still connect",
        )
    return config


def local_stack_values(config: LocalConfig) -> dict[Key, Any]:
    """The stack-file values that `local_config` reads back as `config` (a throwaway stack file)."""
    pooler = config.pooler
    return {
        Key.ENVIRONMENT: "local",
        Key.POSTGRES_VERSION: config.postgres_version,
        Key.POSTGRES_PORT: config.postgres_port,
        Key.PGBOUNCER_PORT: config.pgbouncer_port,
        Key.DATABASE: config.database,
        Key.DB_OWNER: config.roles.owner,
        Key.DB_RUNTIME_USER: config.roles.runtime,
        Key.DB_SCHEMA: config.schema,
        Key.SEED: "true" if config.seed else "false",
        Key.MAX_CONNECTIONS: config.max_connections,
        Key.POOL_MODE: pooler.pool_mode,
        Key.DEFAULT_POOL_SIZE: pooler.default_pool_size,
        Key.MAX_CLIENT_CONN: pooler.max_client_conn,
        Key.RESERVE_POOL_SIZE: pooler.reserve_pool_size,
    }


def load_local_config(stack: str = "local", root: Path = REPO_ROOT, path: Path | None = None) -> LocalConfig:
    """Read and validate Pulumi.<stack>.yaml (or the stack file at `path`) for the local runtimes."""
    return local_config(read_stack(stack, root, path))


@dataclass(frozen=True)
class DockerLimits:
    """CPU and memory caps for the local containers, so a laptop feels a small server's limits."""

    postgres_cpus: str
    postgres_memory_mb: int
    pgbouncer_cpus: str
    pgbouncer_memory_mb: int
    postgres_image: str
    pgbouncer_image: str


def docker_limits(values: ConfigSource) -> DockerLimits:
    """The local stack's container settings; raises ConfigError naming the first bad key."""
    read = Reader(values)
    cpus = "a number of CPUs such as 1 or 0.5"
    return DockerLimits(
        postgres_cpus=read.text(Key.LOCAL_POSTGRES_CPUS, CPUS, cpus),
        postgres_memory_mb=read.integer(Key.LOCAL_POSTGRES_MEMORY_MB, 64, 262144),
        pgbouncer_cpus=read.text(Key.LOCAL_PGBOUNCER_CPUS, CPUS, cpus),
        pgbouncer_memory_mb=read.integer(Key.LOCAL_PGBOUNCER_MEMORY_MB, 16, 65536),
        postgres_image=f"postgres:{read.integer(Key.POSTGRES_VERSION, 12, 99)}",
        pgbouncer_image=read.text(Key.PGBOUNCER_IMAGE, IMAGE, "an image reference"),
    )
