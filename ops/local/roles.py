"""The local environment's two roles, its database and its schema, made by the superuser and the
owner; the same for both runtimes (native processes, the Docker stack's containers).

Idempotent, and the upgrade path of an environment from before the runtime role: the owner, the
database, the schema and the data stay; the runtime role is added. The runtime role's password is
set on every run from where the runtime keeps it (a file, the stack's output), so they never
disagree. Its privileges are the migrator's business (ops/migrate/grants.py), run right after
unless `grants_state` says nothing they depend on changed since their last run.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from psycopg import sql

from ops.local.scram import scram_verifier
from stacks.config import LocalConfig

Progress = Callable[[str], None]


def ensure_roles(
    admin: psycopg.Connection,
    config: LocalConfig,
    owner_password: str,
    runtime_password: str,
    progress: Progress,
) -> None:
    """As the superuser (autocommit, any database): the owner and the runtime role, the database."""
    owner, runtime = config.roles.owner, config.roles.runtime
    for role, password, why in (
        (owner, owner_password, "the owner: migrations, admin work"),
        (runtime, runtime_password, "the app's: DML only"),
    ):
        # A SCRAM verifier, not the plaintext: the password never reaches the server's logs.
        verifier = sql.Literal(scram_verifier(password))
        if admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
            progress(f"postgres: creating role {role} ({why})")
            admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), verifier))
        elif role == runtime:
            admin.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), verifier))
    if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (config.database,)).fetchone() is None:
        progress(f"postgres: creating database {config.database}")
        admin.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(config.database), sql.Identifier(owner)
            )
        )


def ensure_schema(owner: psycopg.Connection, config: LocalConfig) -> None:
    """As the owner, in the database: DB_SCHEMA, owned by the owner."""
    owner.execute(
        sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(
            sql.Identifier(config.schema), sql.Identifier(config.roles.owner)
        )
    )


# Everything ops/migrate/grants.py reads or changes, as text: the runtime role's attributes and
# memberships, the schema's owner and privileges, every relation's privileges in it, the default
# privileges there. Names and ACLs, never OIDs: a restored snapshot with the same grants matches.
_GRANTS_STATE = """
SELECT md5(concat_ws(' | ',
  (SELECT concat_ws(',', rolname, rolsuper, rolcreaterole, rolcreatedb) FROM pg_roles WHERE rolname = %(r)s),
  (SELECT string_agg(g.rolname, ',' ORDER BY g.rolname) FROM pg_auth_members m
     JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = %(r)s),
  (SELECT concat_ws(',', pg_get_userbyid(nspowner), nspacl::text) FROM pg_namespace WHERE nspname = %(s)s),
  (SELECT string_agg(concat_ws(',', c.relname, c.relkind, pg_get_userbyid(c.relowner), c.relacl::text),
                     ';' ORDER BY c.relname, c.relkind)
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = %(s)s AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')),
  (SELECT string_agg(concat_ws(',', pg_get_userbyid(d.defaclrole), d.defaclobjtype, d.defaclacl::text),
                     ';' ORDER BY 1)
     FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace WHERE n.nspname = %(s)s),
  current_user, %(r)s, %(s)s))
"""


def grants_state(owner: psycopg.Connection, config: LocalConfig) -> str:
    """A digest of what the runtime role's privileges depend on, read as the owner in the database.

    The same digest as after the last run of the grants means they are still in place, so a warm
    `env.up` need not load SQLAlchemy to run them again (~0.3 s); any change there runs them.
    """
    row = owner.execute(_GRANTS_STATE, {"r": config.roles.runtime, "s": config.schema}).fetchone()
    return str(row[0]) if row else ""
