"""How the app and the migrations reach the database, the same locally and in the cloud: the two
roles and PgBouncer's settings."""

from __future__ import annotations

from dataclasses import dataclass

from stacks.config.keys import Key
from stacks.config.reader import Reader
from stacks.stackfile import PROJECT

POOL_MODES = ("session", "transaction", "statement")


@dataclass(frozen=True)
class DbRoles:
    """The two database roles of an environment.

    The owner owns the schema and runs every DDL: the migrations, `db.*`, the migration job, the
    direct URL. The runtime role is what the app logs in as, through the pooler: USAGE on the
    schema and DML on its tables and sequences (default privileges set by the owner), no CREATE,
    no ownership, so a compromised app cannot drop or alter a table.
    """

    owner: str
    runtime: str


# Postgres's (and Cloud SQL's) administrator: neither role may be it.
SUPERUSER_ROLE = "postgres"


def read_roles(read: Reader) -> DbRoles:
    owner = read.identifier(Key.DB_OWNER)
    runtime = read.identifier(Key.DB_RUNTIME_USER)
    for key, name in ((Key.DB_OWNER, owner), (Key.DB_RUNTIME_USER, runtime)):
        if name == SUPERUSER_ROLE:
            raise read.fail(key, f"must not be {SUPERUSER_ROLE}, the superuser: name a role of the app's own")
    if owner == runtime:
        raise read.fail(
            Key.DB_RUNTIME_USER,
            f"must differ from {PROJECT}:{Key.DB_OWNER} (both {owner!r}): the app's runtime role must not "
            "own the schema it uses; name another role",
        )
    return DbRoles(owner=owner, runtime=runtime)


@dataclass(frozen=True)
class PoolerConfig:
    """PgBouncer's settings, the same for every runtime that renders pgbouncer/pgbouncer.ini.tmpl."""

    pool_mode: str
    default_pool_size: int
    max_client_conn: int
    reserve_pool_size: int


def read_pooler(read: Reader) -> PoolerConfig:
    return PoolerConfig(
        pool_mode=read.choice(Key.POOL_MODE, POOL_MODES),
        default_pool_size=read.integer(Key.DEFAULT_POOL_SIZE, 1, 10000),
        max_client_conn=read.integer(Key.MAX_CLIENT_CONN, 1, 100000),
        reserve_pool_size=read.integer(Key.RESERVE_POOL_SIZE, 0, 10000),
    )
