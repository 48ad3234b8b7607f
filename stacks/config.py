"""Typed, validated stack config: bad values fail with one line naming the key and the stack file."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stacks.stackfile import PROJECT, REPO_ROOT, StackValues, read_stack

POOL_MODES = ("session", "transaction", "statement")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class ConfigError(ValueError):
    """A stack config value is missing or invalid; the message names the key and the file."""


class _Reader:
    """Typed getters over one stack's values, each error naming `<file>: pgstack:<key>`."""

    def __init__(self, values: StackValues) -> None:
        self._values = values

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self._values.source}: {PROJECT}:{key} {problem}")

    def raw(self, key: str) -> Any:
        value = self._values.get(key)
        if value is None:
            raise self.fail(key, f"is missing: set it in {self._values.source}")
        return value

    def integer(self, key: str, low: int, high: int) -> int:
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise self.fail(key, f"must be an integer (got {value!r})")
        try:
            number = int(value)
        except ValueError:
            raise self.fail(key, f"must be an integer (got {value!r})") from None
        if not low <= number <= high:
            raise self.fail(key, f"must be between {low} and {high} (got {number})")
        return number

    def port(self, key: str) -> int:
        return self.integer(key, 1, 65535)

    def identifier(self, key: str) -> str:
        value = self.raw(key)
        if not isinstance(value, str) or not _IDENTIFIER.match(value):
            raise self.fail(
                key,
                f"must be a lower-case SQL identifier: letters, digits, _ (got {value!r})",
            )
        return value

    def choice(self, key: str, choices: tuple[str, ...]) -> str:
        value = self.raw(key)
        if value not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)} (got {value!r})")
        return str(value)


@dataclass(frozen=True)
class PoolerConfig:
    """PgBouncer's settings, the same for every runtime that renders pgbouncer/pgbouncer.ini.tmpl."""

    pool_mode: str
    default_pool_size: int
    max_client_conn: int
    reserve_pool_size: int


@dataclass(frozen=True)
class LocalConfig:
    """The local environment, shared by the native runtime and the Docker stack."""

    stack: str
    source: str
    postgres_version: int
    postgres_port: int
    pgbouncer_port: int
    database: str
    user: str
    schema: str
    max_connections: int
    pooler: PoolerConfig


def _pooler(read: _Reader) -> PoolerConfig:
    return PoolerConfig(
        pool_mode=read.choice("poolMode", POOL_MODES),
        default_pool_size=read.integer("defaultPoolSize", 1, 10000),
        max_client_conn=read.integer("maxClientConn", 1, 100000),
        reserve_pool_size=read.integer("reservePoolSize", 0, 10000),
    )


def local_config(values: StackValues) -> LocalConfig:
    """Validate a local stack's values; raises ConfigError naming the first bad key."""
    read = _Reader(values)
    if read.raw("environment") != "local":
        raise read.fail("environment", "must be `local` for the local runtime")
    config = LocalConfig(
        stack=values.stack,
        source=values.source,
        postgres_version=read.integer("postgresVersion", 12, 99),
        postgres_port=read.port("postgresPort"),
        pgbouncer_port=read.port("pgbouncerPort"),
        database=read.identifier("database"),
        user=read.identifier("dbUser"),
        schema=read.identifier("dbSchema"),
        max_connections=read.integer("maxConnections", 5, 10000),
        pooler=_pooler(read),
    )
    if config.postgres_port == config.pgbouncer_port:
        raise read.fail("pgbouncerPort", f"must differ from {PROJECT}:postgresPort")
    if config.pooler.default_pool_size + config.pooler.reserve_pool_size >= config.max_connections:
        raise read.fail(
            "defaultPoolSize",
            f"+ reservePoolSize must stay below maxConnections ({config.max_connections}) "
            "so migrations and admin sessions can still connect",
        )
    return config


def load_local_config(stack: str = "local", root: Path = REPO_ROOT, path: Path | None = None) -> LocalConfig:
    """Read and validate Pulumi.<stack>.yaml (or the stack file at `path`) for the local runtimes."""
    return local_config(read_stack(stack, root, path))
